// Tests of RFC 8707 resource indicators (CONFORMANCE G2): validation, the aud they bind, narrowing on refresh.

package authz

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore/memory"
)

const (
	mcpA = "https://mcp.example/a"
	mcpB = "https://mcp.example/b"
	mcpC = "https://mcp.example/c"
)

func resourceFixture(t *testing.T, format TokenFormat) *fixture {
	t.Helper()
	return biFixture(t, func(c *Config) {
		c.Format = format
		c.Resources = NewResources(mcpA, mcpB, mcpC)
	})
}

// authorizeWith runs /oauth/authorize for app (alice signed in, consent
// given), extra replacing or adding parameters; it returns the query of
// the redirect back to the client.
func authorizeWith(t testing.TB, f *fixture, extra url.Values) url.Values {
	t.Helper()
	h, err := f.srv.AuthorizeHandler(AuthorizeOptions{Login: LoginIdentity, Identity: func(*http.Request) string { return "alice" }})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.PutConsent(context.Background(), "alice", "app", []string{"api_v3"}, f.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {"https://app.example/cb"}, "scope": {"api_v3"}}
	for k, v := range extra {
		q[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", PathAuthorize+"?"+q.Encode(), nil))
	loc, err := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), "https://app.example/cb?") {
		t.Fatalf("authorize: %d %q %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	return loc.Query()
}

func audOf(t *testing.T, f *fixture, tok string) []string {
	t.Helper()
	id, e := f.srv.Verifier().Authenticate(t.Context(), tok)
	if e != nil {
		t.Fatalf("token refused: %v", e)
	}
	return id.Audience
}

// CONFORMANCE G2
func TestResourceIndicators_G2(t *testing.T) {
	for _, format := range []TokenFormat{FormatJWT, FormatOpaque} {
		t.Run(string(format), func(t *testing.T) {
			f := resourceFixture(t, format)
			// Two resources at authorize: the code's tokens are for both, or
			// for fewer when the token request names them.
			q := authorizeWith(t, f, url.Values{"resource": {mcpA, mcpB}})
			rec := biRedeem(f, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
				"redirect_uri": {"https://app.example/cb"}, "resource": {mcpA}})
			if rec.Code != 200 {
				t.Fatalf("redeem: %d %s", rec.Code, rec.Body)
			}
			tok := decode(t, rec)
			if aud := audOf(t, f, tok["access_token"].(string)); !slices.Equal(aud, []string{mcpA}) {
				t.Fatalf("aud = %v, want [%s]", aud, mcpA)
			}
			rt := tok["refresh_token"].(string)
			// A refresh may name B (authorized) ...
			rec = biRedeem(f, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": {mcpB}})
			if rec.Code != 200 {
				t.Fatalf("refresh to B: %d %s", rec.Code, rec.Body)
			}
			tok = decode(t, rec)
			if aud := audOf(t, f, tok["access_token"].(string)); !slices.Equal(aud, []string{mcpB}) {
				t.Fatalf("aud after refresh = %v, want [%s]", aud, mcpB)
			}
			rt = tok["refresh_token"].(string)
			// ... never widen to C, and the refused refresh loses nothing.
			rec = biRedeem(f, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": {mcpA, mcpC}})
			wantError(t, rec, 400, "invalid_target")
			// Without resource, a refresh keeps every authorized resource.
			rec = biRedeem(f, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
			if rec.Code != 200 {
				t.Fatalf("refresh after a refused one: %d %s", rec.Code, rec.Body)
			}
			if aud := audOf(t, f, decode(t, rec)["access_token"].(string)); !slices.Equal(aud, []string{mcpA, mcpB}) {
				t.Fatalf("aud = %v, want both resources", aud)
			}

			// A resource not authorized at /oauth/authorize is refused at the
			// token endpoint, and the code stays redeemable.
			q = authorizeWith(t, f, url.Values{"resource": {mcpA}})
			redeem := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {"https://app.example/cb"}}
			wide := url.Values{"resource": {mcpB}}
			for k, v := range redeem {
				wide[k] = v
			}
			wantError(t, biRedeem(f, wide), 400, "invalid_target")
			if rec := biRedeem(f, redeem); rec.Code != 200 {
				t.Fatalf("code after a refused redemption: %d %s", rec.Code, rec.Body)
			}

			// Without resource: as before, aud is the default audience.
			q = authorizeWith(t, f, nil)
			rec = biRedeem(f, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {"https://app.example/cb"}})
			if aud := audOf(t, f, decode(t, rec)["access_token"].(string)); !slices.Equal(aud, []string{testIssuer}) {
				t.Fatalf("aud without resource = %v", aud)
			}

			// client_credentials binds as well; JSON bodies may send an array.
			req := httptest.NewRequest(http.MethodPost, PathToken, strings.NewReader(`{"grant_type":"client_credentials","resource":["`+mcpC+`"]}`))
			req.Header.Set("Content-Type", "application/json")
			req.SetBasicAuth("reporting", testSecret)
			rec = f.do(req)
			if rec.Code != 200 {
				t.Fatalf("client_credentials with resource: %d %s", rec.Code, rec.Body)
			}
			if aud := audOf(t, f, decode(t, rec)["access_token"].(string)); !slices.Equal(aud, []string{mcpC}) {
				t.Fatalf("client_credentials aud = %v", aud)
			}
		})
	}
}

// CONFORMANCE G2
func TestResourceIndicatorsBadInput_G2(t *testing.T) {
	f := resourceFixture(t, FormatJWT)
	authorizeWith(t, f, nil) // the consent is stored once, before counting
	for name, vals := range map[string][]string{
		"relative":      {"/a"},
		"fragment":      {mcpA + "#x"},
		"unknown":       {"https://mcp.example/other"},
		"empty":         {""},
		"one unknown":   {mcpA, "https://elsewhere.example/"},
		"control chars": {mcpA + "\x00" + mcpB},
		"too many":      slices.Repeat([]string{mcpA}, MaxResources+1),
	} {
		t.Run("authorize "+name, func(t *testing.T) {
			mem := f.store.Store.(*memory.Store)
			before := mem.Len()
			q := authorizeWith(t, f, url.Values{"resource": vals})
			if q.Get("error") != "invalid_target" || q.Get("error_description") == "" || q.Get("code") != "" {
				t.Fatalf("redirect query = %v, want invalid_target", q)
			}
			if mem.Len() != before {
				t.Fatal("a code was stored for a refused request")
			}
		})
		t.Run("token "+name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}, "resource": vals}
			rec := f.post(PathToken, "reporting", testSecret, form)
			wantError(t, rec, 400, "invalid_target")
		})
	}
}

// CONFORMANCE G2
// CONFORMANCE R4
func TestResourceBoundTokenOnlyWhereBound_G2(t *testing.T) {
	f := resourceFixture(t, FormatJWT)
	v := f.srv.Verifier()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {mcpA}}
	rec := f.post(PathToken, "reporting", testSecret, form)
	if rec.Code != 200 {
		t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	bound := decode(t, rec)["access_token"].(string)
	unbound := f.issue(t, "api_v3")
	known := f.srv.cfg.Resources
	for _, tc := range []struct {
		name   string
		policy Policy
		tok    string
		ok     bool
	}{
		{"bound token on its route", Policy{Resource: mcpA, Bound: known}, bound, true},
		{"bound token on another resource's route", Policy{Resource: mcpB, Bound: known}, bound, false},
		{"bound token on a route without resource", Policy{Bound: known}, bound, false},
		{"bound token where only audience matches", Policy{Audience: []string{mcpA}, Bound: known}, bound, true},
		{"unbound token on a resource route", Policy{Resource: mcpB, Bound: known}, unbound, true},
		// A client given the audience "backend" may ask for any resource;
		// naming a route's resource never gets it past the route's audience.
		{"bound token where the route's audience differs", Policy{Audience: []string{"frontend"}, Resource: mcpA, Bound: known}, bound, false},
		{"the client's own audience on a route with audience and resource", Policy{Audience: []string{"backend"}, Resource: mcpA, Bound: known}, unbound, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, e := v.AuthenticateRoute(t.Context(), tc.tok, testAddr, &tc.policy)
			if (e == nil) != tc.ok {
				t.Fatalf("accepted = %v, want %v (%v)", e == nil, tc.ok, e)
			}
			if !tc.ok && e.Code != "invalid_token" {
				t.Fatalf("error = %s, want invalid_token", e.Code)
			}
		})
	}
}

// CONFORMANCE G2
// CONFORMANCE I3
// A token bound to a resource is for that resource only: the resource
// server it was given to cannot replay it at /oauth/userinfo.
func TestUserInfoRefusesResourceBoundTokens_G2(t *testing.T) {
	o := oidcFixture(t, func(c *Config) { c.Resources = NewResources(mcpA) })
	f := o.fixture
	h, err := f.srv.AuthorizeHandler(AuthorizeOptions{Login: LoginIdentity, Identity: func(*http.Request) string { return "alice" }})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.PutConsent(t.Context(), "alice", "rp", []string{"openid", "api_v3"}, f.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	token := func(resource ...string) string {
		q := url.Values{"response_type": {"code"}, "client_id": {"rp"}, "redirect_uri": {"https://rp.example/cb"},
			"scope": {"openid api_v3"}, "nonce": {fmt.Sprint("n", len(resource))}, "resource": resource}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", PathAuthorize+"?"+q.Encode(), nil))
		loc, _ := url.Parse(rec.Header().Get("Location"))
		if loc == nil || loc.Query().Get("code") == "" {
			t.Fatalf("no code: %d %q", rec.Code, rec.Header().Get("Location"))
		}
		res := f.post(PathToken, "rp", rpSecret, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {"https://rp.example/cb"}})
		if res.Code != 200 {
			t.Fatalf("token: %d %s", res.Code, res.Body)
		}
		return decode(t, res)["access_token"].(string)
	}
	userinfo := func(tok string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", PathUserInfo, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return f.do(req)
	}
	if rec := userinfo(token()); rec.Code != 200 {
		t.Fatalf("userinfo with an unbound token: %d %s", rec.Code, rec.Body)
	}
	rec := userinfo(token(mcpA))
	if rec.Code != 401 || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("userinfo with a token for %s: %d %q %s", mcpA, rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body)
	}
}

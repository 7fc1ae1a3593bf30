// Tests of the token endpoint: request shapes, client authentication, grants, responses and errors.

package authz

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// CONFORMANCE T1: POST only, form or JSON bodies, grant_type from the query
// string, 64 KiB bound, duplicates refused.
func TestTokenRequestShapes_T1(t *testing.T) {
	f := newFixture(t)
	basic := func(r *http.Request) *http.Request {
		r.SetBasicAuth("reporting", url.QueryEscape(testSecret))
		return r
	}
	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		code   string
	}{
		{"GET is 405", func() *http.Request { return basic(httptest.NewRequest("GET", PathToken, nil)) }, 405, "invalid_request"},
		{"PUT is 405", func() *http.Request { return basic(httptest.NewRequest("PUT", PathToken, nil)) }, 405, "invalid_request"},
		{"form body", func() *http.Request {
			return basic(formReq(PathToken, url.Values{"grant_type": {"client_credentials"}}))
		}, 200, ""},
		{"form body with charset", func() *http.Request {
			r := basic(formReq(PathToken, url.Values{"grant_type": {"client_credentials"}}))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
			return r
		}, 200, ""},
		{"JSON body", func() *http.Request {
			r := basic(httptest.NewRequest("POST", PathToken, strings.NewReader(`{"grant_type":"client_credentials"}`)))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, 200, ""},
		{"grant_type in the query, empty body", func() *http.Request {
			return basic(httptest.NewRequest("POST", PathToken+"?grant_type=client_credentials", nil))
		}, 200, ""},
		{"body grant_type wins over the query", func() *http.Request {
			return basic(formReq(PathToken+"?grant_type=password", url.Values{"grant_type": {"client_credentials"}}))
		}, 200, ""},
		{"secret in the query refused", func() *http.Request {
			return formReq(PathToken+"?client_secret=x", url.Values{"grant_type": {"client_credentials"}, "client_id": {"reporting"}})
		}, 400, "invalid_request"},
		{"duplicate form parameter", func() *http.Request {
			r := basic(httptest.NewRequest("POST", PathToken, strings.NewReader("grant_type=client_credentials&grant_type=client_credentials")))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 400, "invalid_request"},
		{"duplicate JSON key", func() *http.Request {
			r := basic(httptest.NewRequest("POST", PathToken, strings.NewReader(`{"grant_type":"client_credentials","grant_type":"x"}`)))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, 400, "invalid_request"},
		{"JSON non-string value", func() *http.Request {
			r := basic(httptest.NewRequest("POST", PathToken, strings.NewReader(`{"grant_type":["client_credentials"]}`)))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, 400, "invalid_request"},
		{"JSON trailing garbage", func() *http.Request {
			r := basic(httptest.NewRequest("POST", PathToken, strings.NewReader(`{"grant_type":"client_credentials"} {}`)))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, 400, "invalid_request"},
		{"text/plain body", func() *http.Request {
			r := basic(httptest.NewRequest("POST", PathToken, strings.NewReader("grant_type=client_credentials")))
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, 400, "invalid_request"},
		{"invalid UTF-8", func() *http.Request {
			return basic(formReq(PathToken, url.Values{"grant_type": {"client_credentials"}, "scope": {"\xff\xfe"}}))
		}, 400, "invalid_request"},
		{"body over 64 KiB", func() *http.Request {
			return basic(formReq(PathToken, url.Values{"grant_type": {"client_credentials"}, "pad": {strings.Repeat("a", 64<<10)}}))
		}, 413, "invalid_request"},
		{"missing grant_type", func() *http.Request { return basic(formReq(PathToken, url.Values{})) }, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.do(tt.req())
			if tt.code == "" {
				if rec.Code != tt.status {
					t.Fatalf("status = %d, want %d: %s", rec.Code, tt.status, rec.Body)
				}
				return
			}
			wantError(t, rec, tt.status, tt.code)
			if tt.status == 405 && rec.Header().Get("Allow") != "POST" {
				t.Fatalf("405 without Allow: POST")
			}
		})
	}
}

// CONFORMANCE T2: client_secret_basic (form-url-decoded), client_secret_post,
// both at once refused, failures 401 invalid_client with Basic challenge
// only when Basic was used.
func TestClientAuthentication_T2(t *testing.T) {
	f := newFixture(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	with := func(extra url.Values) url.Values {
		v := url.Values{}
		for k, x := range cc {
			v[k] = x
		}
		for k, x := range extra {
			v[k] = x
		}
		return v
	}
	tests := []struct {
		name      string
		form      url.Values
		basic     string // raw Authorization header
		status    int
		code      string
		challenge bool
	}{
		{"basic, url-encoded secret", cc, "Basic " + b64std("reporting:"+url.QueryEscape(testSecret)), 200, "", false},
		{"basic, lowercase scheme", cc, "basic " + b64std("reporting:"+url.QueryEscape(testSecret)), 200, "", false},
		{"post", with(url.Values{"client_id": {"reporting"}, "client_secret": {testSecret}}), "", 200, "", false},
		{"basic with matching client_id in body", with(url.Values{"client_id": {"reporting"}}), "Basic " + b64std("reporting:"+url.QueryEscape(testSecret)), 200, "", false},
		{"basic, secret sent raw as curl -u does (issue 16)", cc, "Basic " + b64std("reporting:"+testSecret), 200, "", false},
		{"basic, raw secret one byte off", cc, "Basic " + b64std("reporting:"+testSecret+"x"), 401, "invalid_client", true},
		{"basic wrong secret", cc, "Basic " + b64std("reporting:nope"), 401, "invalid_client", true},
		{"basic unknown client", cc, "Basic " + b64std("ghost:"+url.QueryEscape(testSecret)), 401, "invalid_client", true},
		{"basic not base64", cc, "Basic !!!", 401, "invalid_client", true},
		{"basic without colon", cc, "Basic " + b64std("reporting"), 401, "invalid_client", true},
		{"post wrong secret", with(url.Values{"client_id": {"reporting"}, "client_secret": {"nope"}}), "", 401, "invalid_client", false},
		{"post unknown client", with(url.Values{"client_id": {"ghost"}, "client_secret": {"x"}}), "", 401, "invalid_client", false},
		{"no credentials", cc, "", 401, "invalid_client", false},
		{"client_id only, confidential client", with(url.Values{"client_id": {"reporting"}}), "", 401, "invalid_client", false},
		{"both basic and post", with(url.Values{"client_secret": {testSecret}}), "Basic " + b64std("reporting:"+url.QueryEscape(testSecret)), 400, "invalid_request", false},
		{"basic and different body client_id", with(url.Values{"client_id": {"oro"}}), "Basic " + b64std("reporting:"+url.QueryEscape(testSecret)), 400, "invalid_request", false},
		{"bearer scheme at the token endpoint", cc, "Bearer abc", 401, "invalid_client", true},
		{"disabled client (M3)", with(url.Values{"client_id": {"off"}, "client_secret": {"off-secret-0123456789"}}), "", 401, "invalid_client", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := formReq(PathToken, tt.form)
			if tt.basic != "" {
				req.Header.Set("Authorization", tt.basic)
			}
			rec := f.do(req)
			if tt.code == "" {
				if rec.Code != tt.status {
					t.Fatalf("status = %d, want %d: %s", rec.Code, tt.status, rec.Body)
				}
				return
			}
			wantError(t, rec, tt.status, tt.code)
			got := rec.Header().Get("WWW-Authenticate")
			if tt.challenge && !strings.HasPrefix(got, "Basic ") {
				t.Fatalf("Basic auth failure without WWW-Authenticate: Basic (got %q)", got)
			}
			if !tt.challenge && got != "" {
				t.Fatalf("unexpected WWW-Authenticate %q", got)
			}
		})
	}
}

// CONFORMANCE T5: client_credentials: scopes within the client's, no refresh
// token, subject is the client credentials user or else the client id.
func TestClientCredentials_T5(t *testing.T) {
	f := newFixture(t)
	post := func(id, secret string, extra url.Values) (int, map[string]any) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
		for k, v := range extra {
			form[k] = v
		}
		rec := f.do(formReq(PathToken, form))
		return rec.Code, decode(t, rec)
	}
	// Subject = configured user.
	code, body := post("reporting", testSecret, nil)
	if code != 200 {
		t.Fatalf("%d %v", code, body)
	}
	if _, ok := body["refresh_token"]; ok {
		t.Fatal("client_credentials must not issue a refresh token")
	}
	id, verr := f.srv.Verifier().Verify(t.Context(), body["access_token"].(string))
	if verr != nil {
		t.Fatal(verr)
	}
	if id.Subject != "svc-reporting" || id.ClientID != "reporting" {
		t.Fatalf("identity = %+v, want subject svc-reporting, client reporting", id)
	}
	if strings.Join(id.Audience, ",") != "backend" {
		t.Fatalf("audience = %v, want the client's [backend]", id.Audience)
	}
	// Subject = client id when no user is configured; default audience = issuer.
	code, body = post("oro", "oro-secret-0123456789", nil)
	if code != 200 {
		t.Fatalf("%d %v", code, body)
	}
	id, _ = f.srv.Verifier().Verify(t.Context(), body["access_token"].(string))
	if id.Subject != "oro" || strings.Join(id.Audience, ",") != testIssuer {
		t.Fatalf("identity = %+v", id)
	}
	// Omitted scope → server defaults the client may have.
	if body["scope"] != "api_v3" {
		t.Fatalf("default scope = %v, want api_v3", body["scope"])
	}
	// Space- and comma-separated scopes; Oro's `scopes` parameter (seed 002).
	for _, extra := range []url.Values{{"scope": {"api_v3 bcf_v2_1"}}, {"scope": {"api_v3,bcf_v2_1"}}, {"scopes": {"api_v3 bcf_v2_1"}}} {
		code, body = post("reporting", testSecret, extra)
		if code != 200 || body["scope"] != "api_v3 bcf_v2_1" {
			t.Fatalf("%v: %d %v", extra, code, body)
		}
	}
	// A scope not in the catalog, or not allowed for the client.
	for _, sc := range []string{"nope", "admin", "api_v3 admin"} {
		code, body = post("reporting", testSecret, url.Values{"scope": {sc}})
		if code != 400 || body["error"] != "invalid_scope" {
			t.Fatalf("scope %q: %d %v, want invalid_scope", sc, code, body)
		}
	}
	code, body = post("reporting", testSecret, url.Values{"scope": {"api_v3"}, "scopes": {"api_v3"}})
	if code != 400 || body["error"] != "invalid_request" {
		t.Fatalf("scope and scopes together: %d %v", code, body)
	}
}

// CONFORMANCE T6: unknown grant → unsupported_grant_type; a grant the client
// does not have → unauthorized_client.
func TestGrantSelection_T6(t *testing.T) {
	f := newFixture(t)
	for _, g := range []string{"password", "implicit", "urn:ietf:params:oauth:grant-type:device_code", "CLIENT_CREDENTIALS"} {
		rec := f.do(formReq(PathToken, url.Values{"grant_type": {g}, "client_id": {"reporting"}, "client_secret": {testSecret}}))
		wantError(t, rec, 400, "unsupported_grant_type")
	}
	rec := f.do(formReq(PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {"web"}, "client_secret": {"web-secret-0123456789"}}))
	wantError(t, rec, 400, "unauthorized_client")
}

// CONFORMANCE T7: success body fields and no-store headers.
func TestTokenResponse_T7(t *testing.T) {
	for _, format := range []TokenFormat{FormatJWT, FormatOpaque} {
		t.Run(string(format), func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.Format = format })
			req := formReq(PathToken, url.Values{"grant_type": {"client_credentials"}, "scope": {"api_v3"}})
			req.SetBasicAuth("reporting", url.QueryEscape(testSecret))
			rec := f.do(req)
			if rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Pragma") != "no-cache" {
				t.Fatalf("headers: %v", rec.Header())
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Fatalf("Content-Type %q", rec.Header().Get("Content-Type"))
			}
			m := decode(t, rec)
			if m["token_type"] != "Bearer" || m["scope"] != "api_v3" || m["expires_in"] != float64(7200) {
				t.Fatalf("body %v", m)
			}
			if m["created_at"] != float64(f.clock.Now().Unix()) {
				t.Fatalf("created_at = %v, want %d", m["created_at"], f.clock.Now().Unix())
			}
			if tok, _ := m["access_token"].(string); tok == "" {
				t.Fatal("no access_token")
			}
		})
	}
}

// CONFORMANCE T8: errors are RFC 6749 §5.2 JSON, 400 (401 for invalid_client).
func TestTokenErrors_T8(t *testing.T) {
	f := newFixture(t)
	rec := f.do(formReq(PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {"reporting"}, "client_secret": {"bad"}}))
	m := wantError(t, rec, 401, "invalid_client")
	for k := range m {
		if k != "error" && k != "error_description" {
			t.Fatalf("unexpected member %q in error body", k)
		}
	}
	if strings.Contains(rec.Body.String(), "bad") {
		t.Fatal("the presented secret is echoed in the error")
	}
	rec = f.do(formReq(PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {"reporting"}, "client_secret": {testSecret}, "scope": {"admin"}}))
	wantError(t, rec, 400, "invalid_scope")
}

// Per-client access_token_ttl (seed 002: expires_in 3600 for a 1h client).
func TestClientTTL(t *testing.T) {
	f := newFixture(t)
	rec := f.do(formReq(PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {"oro"}, "client_secret": {"oro-secret-0123456789"}}))
	if m := decode(t, rec); m["expires_in"] != float64(3600) {
		t.Fatalf("expires_in = %v, want 3600", m["expires_in"])
	}
}

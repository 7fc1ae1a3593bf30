// Tests through Caddy of client credentials, the seeds' requests, refusals, scopes and identity headers.

package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const (
	reportingSecret = "reporting-secret-0123456789"
	oroSecret       = "oro-secret-0123456789abcdef"
)

// baseApp is an oauthgate global block in the shape of the seeds.
func baseApp(issuer, extra string) string {
	return fmt.Sprintf(`	oauthgate {
		issuer %s
		%s
		scope api_v3 "Access the API v3" default
		scope bcf_v2_1 "BCF 2.1 API"
		scope api_write "Write access"
		client reporting {
			name "Reporting"
			secret {env.OAUTHGATE_TEST_REPORTING_SECRET}
			grants client_credentials
			scopes api_v3 bcf_v2_1 api_write
			user svc-reporting
			audience backend
		}
		client oro {
			secret {env.OAUTHGATE_TEST_ORO_SECRET}
			grants client_credentials
			scopes api_v3
			access_token_ttl 1h
			audience frontend
		}
		client sleeper {
			secret {env.OAUTHGATE_TEST_ORO_SECRET}
			grants client_credentials
			scopes api_v3
			disabled
		}
	}`, issuer, extra)
}

func setSecrets(t *testing.T) {
	t.Setenv("OAUTHGATE_TEST_REPORTING_SECRET", reportingSecret)
	t.Setenv("OAUTHGATE_TEST_ORO_SECRET", oroSecret)
}

func ccConfig(g *gateway, id, secret string, style oauth2.AuthStyle, scopes ...string) *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: g.base + "/oauth/token",
		Scopes: scopes, AuthStyle: style}
}

// CONFORMANCE T2
// CONFORMANCE T5
// CONFORMANCE T7
// CONFORMANCE R5: a real OAuth client (x/oauth2 clientcredentials)
// gets tokens with both auth styles, in both formats, and calls an API
// through reverse_proxy; the upstream sees the identity and no token.
func TestClientCredentialsThroughReverseProxy(t *testing.T) {
	setSecrets(t)
	for _, format := range []string{"jwt", "opaque"} {
		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
			t.Run(fmt.Sprintf("%s/style%d", format, style), func(t *testing.T) {
				g := newGateway(t)
				up := newUpstream(t)
				g.load(baseApp(g.base, "token_format "+format), fmt.Sprintf(`
	oauthgate_server
	route /api/* {
		oauthgate_protect api_v3
		reverse_proxy %s
	}`, up.addr()))
				cfg := ccConfig(g, "reporting", reportingSecret, style, "api_v3", "bcf_v2_1")
				tok, err := cfg.Token(context.Background())
				if err != nil {
					t.Fatalf("x/oauth2 client_credentials: %v", err)
				}
				if tok.TokenType != "Bearer" || tok.RefreshToken != "" || tok.Expiry.IsZero() {
					t.Fatalf("token %+v", tok)
				}
				if format == "opaque" && !strings.HasPrefix(tok.AccessToken, "oga_") {
					t.Fatalf("opaque token without prefix")
				}
				// The client as applications use it: an http.Client that adds the token.
				req, _ := http.NewRequest("GET", g.base+"/api/v3/projects", nil)
				req.Header.Set("X-OAuth-Subject", "admin")    // forged
				req.Header.Set("X-Oauth-Client-Id", "forged") // forged, other case
				req.Header.Set("X-OAuth-Role", "root")        // any header with the prefix goes
				resp, err := cfg.Client(context.Background()).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("protected call: %d", resp.StatusCode)
				}
				got := up.last(t)
				want := map[string]string{"X-Oauth-Subject": "svc-reporting", "X-Oauth-Client-Id": "reporting",
					"X-Oauth-Scope": "api_v3 bcf_v2_1", "X-Oauth-Audience": "backend", "Authorization": "", "X-Oauth-Role": ""}
				for h, v := range want {
					if vals := got.Header.Values(h); strings.Join(vals, ",") != v {
						t.Errorf("upstream header %s = %q, want %q", h, vals, v)
					}
				}
			})
		}
	}
}

// Seed 002 (Oro): form body with client_id/client_secret and `scopes`;
// expires_in 3600 for a client whose ttl is 1h; front-end tokens refused on
// back-end routes.
// CONFORMANCE R4
func TestSeed002OroClientCredentials(t *testing.T) {
	g, _ := protectedGateway(t, "", `
	oauthgate_server
	route /admin/api/* {
		oauthgate_protect {
			audience backend
		}
		reverse_proxy {upstream}
	}
	route /api/* {
		oauthgate_protect {
			audience frontend
		}
		reverse_proxy {upstream}
	}`)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"oro"}, "client_secret": {oroSecret}, "scopes": {"api_v3"}}
	resp, body := call(t, "POST", g.base+"/oauth/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, form.Encode())
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	if resp.StatusCode != 200 || m["token_type"] != "Bearer" || m["expires_in"] != float64(3600) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	tok := m["access_token"].(string)
	if strings.Count(tok, ".") != 2 {
		t.Fatal("seed 002 expects a JWT")
	}
	auth := map[string]string{"Authorization": "Bearer " + tok}
	if resp, _ := call(t, "GET", g.base+"/api/orders", auth, ""); resp.StatusCode != 200 {
		t.Fatalf("front-end token on the front-end API: %d", resp.StatusCode)
	}
	resp, _ = call(t, "GET", g.base+"/admin/api/users", auth, "")
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("front-end token on the back-end API: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// Seed 003: POST /oauth/token?grant_type=client_credentials with the
// credentials in the form body.
func TestSeed003GrantTypeInQuery(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	g.load(baseApp(g.base, ""), "\toauthgate_server")
	form := url.Values{"client_id": {"reporting"}, "client_secret": {reportingSecret}}
	resp, body := call(t, "POST", g.base+"/oauth/token?grant_type=client_credentials",
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Cache-Control": "no-cache"}, form.Encode())
	if resp.StatusCode != 200 || !strings.Contains(body, `"access_token"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

// Seed 001 (Workfront): JSON body with HTTP Basic, and the token sent to the
// API in a `sessionID` header.
func TestSeed001JSONBodyAndSessionIDHeader(t *testing.T) {
	g, up := protectedGateway(t, "", `
	oauthgate_server
	route /attask/api/* {
		oauthgate_protect api_v3 {
			token_header sessionID
		}
		reverse_proxy {upstream}
	}`)
	req, _ := http.NewRequest("POST", g.base+"/oauth/token", strings.NewReader(`{"grant_type": "client_credentials"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("reporting", reportingSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, m)
	}
	tok := m["access_token"].(string)
	resp, _ = call(t, "GET", g.base+"/attask/api/v14.0/proj/search", map[string]string{"sessionID": tok}, "")
	if resp.StatusCode != 200 {
		t.Fatalf("sessionID header: %d", resp.StatusCode)
	}
	if got := up.last(t); got.Header.Get("sessionID") != "" || got.Header.Get("X-OAuth-Subject") != "svc-reporting" {
		t.Fatalf("upstream got sessionID %q, subject %q", got.Header.Get("sessionID"), got.Header.Get("X-OAuth-Subject"))
	}
}

func getToken(t *testing.T, g *gateway, id, secret, scope string) string {
	t.Helper()
	cfg := ccConfig(g, id, secret, oauth2.AuthStyleInHeader)
	if scope != "" {
		cfg.Scopes = strings.Fields(scope)
	}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		t.Fatalf("token for %s: %v", id, err)
	}
	return tok.AccessToken
}

// CONFORMANCE R2: 401 without a token (realm only), 401 invalid_token,
// 403 insufficient_scope with the scope, 400 invalid_request; the upstream
// is never reached.
func TestProtectRefusals_R2(t *testing.T) {
	g, up := protectedGateway(t, "", `
	oauthgate_server
	route /api/* {
		oauthgate_protect api_v3 bcf_v2_1 {
			realm "example api"
		}
		reverse_proxy {upstream}
	}`)
	narrow := getToken(t, g, "reporting", reportingSecret, "api_v3")
	tests := []struct {
		name      string
		headers   map[string]string
		status    int
		challenge string
	}{
		{"no token", nil, 401, `Bearer realm="example api"`},
		{"basic credentials are no token", map[string]string{"Authorization": "Basic YTpi"}, 401, `Bearer realm="example api"`},
		{"garbage token", map[string]string{"Authorization": "Bearer abc.def.ghi"}, 401, `Bearer realm="example api", error="invalid_token"`},
		{"opaque-looking garbage", map[string]string{"Authorization": "Bearer oga_xyz"}, 401, `Bearer realm="example api", error="invalid_token"`},
		{"missing scope", map[string]string{"Authorization": "Bearer " + narrow}, 403, `Bearer realm="example api", error="insufficient_scope"`},
		{"malformed header", map[string]string{"Authorization": "Bearer a b"}, 400, `Bearer realm="example api", error="invalid_request"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := call(t, "GET", g.base+"/api/x", tt.headers, "")
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, tt.challenge) {
				t.Fatalf("WWW-Authenticate %q, want prefix %q", got, tt.challenge)
			}
			if tt.status == 403 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="api_v3 bcf_v2_1"`) {
				t.Fatalf("403 without the required scope: %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if up.count() != 0 {
		t.Fatalf("%d refused requests reached the upstream", up.count())
	}
}

// CONFORMANCE R3: different scopes per method via an ordinary Caddy
// matcher, and any-of.
func TestScopesPerMethodAndAnyOf_R3(t *testing.T) {
	g, _ := protectedGateway(t, "", `
	oauthgate_server
	route /api/* {
		@writes method POST PUT DELETE
		oauthgate_protect @writes api_write
		oauthgate_protect api_v3
		reverse_proxy {upstream}
	}
	route /bcf/* {
		oauthgate_protect bcf_v2_1 api_write {
			any
		}
		reverse_proxy {upstream}
	}`)
	reader := getToken(t, g, "reporting", reportingSecret, "api_v3")
	writer := getToken(t, g, "reporting", reportingSecret, "api_v3 api_write")
	cases := []struct {
		method, path, tok string
		status            int
	}{
		{"GET", "/api/p", reader, 200},
		{"POST", "/api/p", reader, 403},
		{"POST", "/api/p", writer, 200},
		{"DELETE", "/api/p", writer, 200},
		{"GET", "/bcf/p", reader, 403},
		{"GET", "/bcf/p", writer, 200},
	}
	for _, c := range cases {
		resp, _ := call(t, c.method, g.base+c.path, map[string]string{"Authorization": "Bearer " + c.tok}, "")
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.status)
		}
	}
}

// CONFORMANCE R5: pass_authorization, a custom header prefix, and the
// placeholders later handlers and the access log read.
func TestIdentityHeadersAndPlaceholders_R5(t *testing.T) {
	g, up := protectedGateway(t, "", `
	oauthgate_server
	route /pass/* {
		oauthgate_protect {
			pass_authorization
			header_prefix X-User-
		}
		reverse_proxy {upstream}
	}
	route /who {
		oauthgate_protect
		respond "{http.auth.user.id}|{oauth.client_id}|{oauth.scope}"
	}`)
	tok := getToken(t, g, "reporting", reportingSecret, "api_v3 bcf_v2_1")
	call(t, "GET", g.base+"/pass/x", map[string]string{"Authorization": "Bearer " + tok, "X-User-Subject": "forged"}, "")
	got := up.last(t)
	if got.Header.Get("Authorization") != "Bearer "+tok {
		t.Fatal("pass_authorization did not pass the Authorization header")
	}
	if got.Header.Get("X-User-Subject") != "svc-reporting" || got.Header.Get("X-User-Client-Id") != "reporting" || got.Header.Get("X-OAuth-Subject") != "" {
		t.Fatalf("identity headers with prefix X-User-: %v", got.Header)
	}
	_, body := call(t, "GET", g.base+"/who", map[string]string{"Authorization": "Bearer " + tok}, "")
	if body != "svc-reporting|reporting|api_v3 bcf_v2_1" {
		t.Fatalf("placeholders: %q", body)
	}
}

// CONFORMANCE M3: a disabled client gets invalid_client at the token endpoint.
func TestDisabledClientRefused_M3(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	g.load(baseApp(g.base, ""), "\toauthgate_server")
	_, err := ccConfig(g, "sleeper", oroSecret, oauth2.AuthStyleInParams).Token(context.Background())
	var re *oauth2.RetrieveError
	if err == nil || !asRetrieve(err, &re) || re.ErrorCode != "invalid_client" || re.Response.StatusCode != 401 {
		t.Fatalf("disabled client: %v", err)
	}
}

func asRetrieve(err error, re **oauth2.RetrieveError) bool {
	r, ok := err.(*oauth2.RetrieveError)
	*re = r
	return ok
}

// Every path that is not an oauthgate endpoint goes to the next handler.
func TestServerPassesOtherPaths(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	g.load(baseApp(g.base, ""), "\toauthgate_server\n\trespond \"next handler\" 200")
	for _, p := range []string{"/", "/oauth", "/oauth/token/x", "/oauth/unknown", "/.well-known/other"} {
		if resp, body := call(t, "GET", g.base+p, nil, ""); resp.StatusCode != 200 || body != "next handler" {
			t.Fatalf("%s: %d %q", p, resp.StatusCode, body)
		}
	}
	resp, body := call(t, "GET", g.base+"/.well-known/oauth-authorization-server", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"issuer":"`+g.base+`"`) {
		t.Fatalf("metadata: %d %s", resp.StatusCode, body)
	}
}

// A handler after oauthgate_protect that edits an identity header in place
// changes that request only — not the next request with the same token,
// whose identity comes from the verified-token cache.
func TestIdentityHeaderEditsStayInTheirRequest(t *testing.T) {
	g, up := protectedGateway(t, "verify_cache 100", `
	oauthgate_server
	route /api/* {
		oauthgate_protect
		request_header /api/rewrite X-OAuth-Scope api_v3 REWRITTEN
		reverse_proxy {upstream}
	}`)
	tok := getToken(t, g, "reporting", reportingSecret, "api_v3 bcf_v2_1")
	for _, path := range []string{"/api/rewrite", "/api/other", "/api/rewrite", "/api/other"} {
		call(t, "GET", g.base+path, map[string]string{"Authorization": "Bearer " + tok}, "")
		want := "api_v3 bcf_v2_1"
		if path == "/api/rewrite" {
			want = "REWRITTEN bcf_v2_1"
		}
		if got := up.last(t).Header.Get("X-OAuth-Scope"); got != want {
			t.Fatalf("%s: X-OAuth-Scope %q, want %q", path, got, want)
		}
	}
}

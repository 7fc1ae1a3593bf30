// Tests of CORS on protected routes and server endpoints, and of unsafe CORS settings refused at start.

package caddymodule

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func preflight(t *testing.T, target, origin, method, headers string) *http.Response {
	t.Helper()
	h := map[string]string{"Origin": origin, "Access-Control-Request-Method": method}
	if headers != "" {
		h["Access-Control-Request-Headers"] = headers
	}
	resp, _ := call(t, "OPTIONS", target, h, "")
	return resp
}

// CONFORMANCE C1: off by default; when configured, exact and wildcard
// origins, credentials, max-age, exposed headers, Vary: Origin always, and
// no CORS headers for other origins.
// CONFORMANCE R8: preflights are answered before any token check, without
// reaching the upstream; CORS headers are on 401 and 403 answers too.
func TestCORSOnProtectedRoutes_C1(t *testing.T) {
	g, up := protectedGateway(t, "", `
	oauthgate_server
	route /api/* {
		oauthgate_protect api_v3 {
			token_header sessionID
			cors {
				origins https://app.example.com https://*.example.org
				credentials
				max_age 10m
				expose X-Request-Id
			}
		}
		reverse_proxy {upstream}
	}
	route /plain/* {
		oauthgate_protect api_v3
		reverse_proxy {upstream}
	}`)
	tok := getToken(t, g, "reporting", reportingSecret, "api_v3")

	// Off by default: no CORS headers at all, and a preflight is just a request.
	resp := preflight(t, g.base+"/plain/x", "https://app.example.com", "GET", "authorization")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.StatusCode != 401 {
		t.Fatalf("route without cors: %d %v", resp.StatusCode, resp.Header)
	}

	for _, origin := range []string{"https://app.example.com", "https://tenant.example.org"} {
		resp = preflight(t, g.base+"/api/x", origin, "DELETE", "authorization,content-type,sessionid") // as browsers send it: lowercase, sorted
		h := resp.Header
		if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != origin || h.Get("Access-Control-Allow-Credentials") != "true" ||
			h.Get("Access-Control-Max-Age") != "600" || !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "sessionid") ||
			h.Get("Access-Control-Allow-Methods") != "DELETE" || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Fatalf("preflight from %s: %d %v", origin, resp.StatusCode, h)
		}
	}
	// Other origins and lookalikes get no CORS headers.
	for _, origin := range []string{"https://evil.example", "https://app.example.com.evil.example", "http://app.example.com", "https://example.org"} {
		resp = preflight(t, g.base+"/api/x", origin, "GET", "authorization")
		if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.StatusCode != 204 {
			t.Fatalf("preflight from %s: %d %v", origin, resp.StatusCode, resp.Header)
		}
	}
	if up.count() != 0 {
		t.Fatalf("%d preflights reached the upstream", up.count())
	}
	// Actual requests: CORS headers on 401, 403 and 200; Vary: Origin always.
	cases := []struct {
		origin, auth string
		status       int
		allowed      bool
	}{
		{"https://app.example.com", "", 401, true},
		{"https://app.example.com", "Bearer " + tok, 200, true},
		{"https://evil.example", "Bearer " + tok, 200, false},
		{"", "Bearer " + tok, 200, false},
	}
	for _, c := range cases {
		h := map[string]string{"Authorization": c.auth}
		if c.origin != "" {
			h["Origin"] = c.origin
		}
		resp, _ := call(t, "GET", g.base+"/api/x", h, "")
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if resp.StatusCode != c.status || c.allowed != (got != "" && got == c.origin) ||
			!strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
			t.Fatalf("%+v: %d ACAO %q Vary %q", c, resp.StatusCode, got, resp.Header.Values("Vary"))
		}
		// WWW-Authenticate is exposed by default, next to what the block adds.
		if expose := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers")); c.allowed &&
			(!strings.Contains(expose, "x-request-id") || !strings.Contains(expose, "www-authenticate")) {
			t.Fatalf("expose: %v", resp.Header)
		}
	}
	// 403 carries them too.
	resp, _ = call(t, "GET", g.base+"/api/x", map[string]string{"Origin": "https://app.example.com", "Authorization": "Bearer " + getToken(t, g, "reporting", reportingSecret, "bcf_v2_1")}, "")
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("403: %d %v", resp.StatusCode, resp.Header)
	}
}

// CONFORMANCE C2: the token, revocation and discovery endpoints can be
// opened to browser clients; the authorization endpoint never is.
func TestCORSOnServerEndpoints_C2(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	g.load(baseApp(g.base, ""), `
	oauthgate_server {
		cors {
			origins https://spa.example.com
		}
	}`)
	for _, path := range []string{"/oauth/token", "/oauth/revoke", "/oauth/introspect", "/.well-known/oauth-authorization-server", "/oauth/jwks"} {
		resp := preflight(t, g.base+path, "https://spa.example.com", "POST", "content-type")
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://spa.example.com" {
			t.Fatalf("preflight %s: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"reporting"}, "client_secret": {reportingSecret}}
	resp, body := call(t, "POST", g.base+"/oauth/token", map[string]string{"Origin": "https://spa.example.com",
		"Content-Type": "application/x-www-form-urlencoded"}, form.Encode())
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://spa.example.com" {
		t.Fatalf("token from the SPA: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, _ = call(t, "GET", g.base+"/.well-known/openid-configuration", map[string]string{"Origin": "https://other.example"}, "")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("discovery from another origin: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = call(t, "GET", g.base+"/oauth/authorize?client_id=x", map[string]string{"Origin": "https://spa.example.com"}, "")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("the authorization endpoint must not be CORS-enabled")
	}
}

// CORS settings that would be unsafe or wrong fail at start.
func TestCORSValidation(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	for block, want := range map[string]string{
		"cors {\n\t\t\torigins *\n\t\t\tcredentials\n\t\t}": "credentials",
		"cors {\n\t\t\tcredentials\n\t\t}":                  "origins",
		"cors {\n\t\t\torigins app.example.com\n\t\t}":      "must look like",
	} {
		err := g.loadErr(baseApp(g.base, ""), "\toauthgate_protect {\n\t\t"+block+"\n\t}")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", block, err, want)
		}
	}
}

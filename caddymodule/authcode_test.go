// Tests of the authorization code flow through Caddy: redirects, PKCE, consent, prompt, reuse, refresh.

package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

func apiCall(t *testing.T, g *gateway, tok string) (int, string) {
	t.Helper()
	resp, body := call(t, "GET", g.base+"/api/x", map[string]string{"Authorization": "Bearer " + tok}, "")
	return resp.StatusCode, body
}

// The whole flow with golang.org/x/oauth2, for a confidential and a public
// client: AuthCodeURL with S256, login, consent, Exchange with the
// verifier, an API call, and TokenSource refreshes with rotation.
// CONFORMANCE A7
// CONFORMANCE A8
// CONFORMANCE T3
// CONFORMANCE T4
func TestAuthorizationCodeFlowWithXOAuth2(t *testing.T) {
	g := startAuthcode(t, "", "")
	loopback := fmt.Sprintf("http://127.0.0.1:%d/callback", testutil.FreePort(t))
	for _, tc := range []struct {
		name, id, secret, redirect string
	}{
		{"confidential", "postman", postmanSecret, clientCallback},
		{"public native app on a loopback port", "cli", "", loopback},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := oauthConfig(g, tc.id, tc.secret, tc.redirect, testScopeAPI, testScopeBCF)
			verifier := oauth2.GenerateVerifier()
			code := codeFor(t, g, testutil.NewBrowser(t), conf, verifier)
			tok, err := exchange(conf, code, verifier)
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if tok.RefreshToken == "" || tok.Extra("scope") != "api_v3 bcf_v2_1" || tok.Extra("created_at") == nil {
				t.Fatalf("token response: refresh %q scope %v created_at %v", tok.RefreshToken, tok.Extra("scope"), tok.Extra("created_at"))
			}
			if status, body := apiCall(t, g, tok.AccessToken); status != 200 || body != "alice "+tc.id+" api_v3 bcf_v2_1" {
				t.Fatalf("API with the user's token: %d %q", status, body)
			}
			// Refresh through the TokenSource: an expired token is renewed and the refresh token rotates.
			expired := *tok
			expired.Expiry = time.Now().Add(-time.Minute)
			fresh, err := conf.TokenSource(context.Background(), &expired).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken || fresh.RefreshToken == "" {
				t.Fatal("refresh did not rotate the tokens")
			}
			if fresh.Extra("scope") != "api_v3 bcf_v2_1" {
				t.Fatalf("refreshed scope %v", fresh.Extra("scope"))
			}
			if status, _ := apiCall(t, g, fresh.AccessToken); status != 200 {
				t.Fatalf("API with the refreshed token: %d", status)
			}
		})
	}
}

// CONFORMANCE A1: unknown client or unregistered redirect URI: an HTML
// error page, status 400, never a redirect.
// CONFORMANCE A2
func TestAuthorizeClientAndRedirectChecks_A1(t *testing.T) {
	g := startAuthcode(t, "", "")
	b := testutil.NewBrowser(t)
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	base := func(kv ...string) string {
		v := url.Values{"response_type": {"code"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return g.base + "/oauth/authorize?" + v.Encode()
	}
	refused := map[string]string{
		"no client_id":                     base(),
		"unknown client":                   base("client_id", "nobody", "redirect_uri", clientCallback),
		"unregistered redirect":            base("client_id", "postman", "redirect_uri", "https://evil.example/cb"),
		"redirect differs by a slash":      base("client_id", "postman", "redirect_uri", clientCallback+"/"),
		"redirect with extra query":        base("client_id", "postman", "redirect_uri", clientCallback+"?x=1"),
		"redirect differs in case":         base("client_id", "postman", "redirect_uri", strings.ToUpper(clientCallback)),
		"https loopback is not native":     base("client_id", "cli", "redirect_uri", "https://127.0.0.1:8443/callback"),
		"loopback other path":              base("client_id", "cli", "redirect_uri", "http://127.0.0.1:5000/other"),
		"loopback with userinfo":           base("client_id", "cli", "redirect_uri", "http://evil@127.0.0.1:5000/callback"),
		"localhost is not a loopback IP":   base("client_id", "cli", "redirect_uri", "http://localhost:5000/callback"),
		"omitted with two registered":      base("client_id", "multi"),
		"two redirect_uri parameters":      base("client_id", "postman", "redirect_uri", clientCallback) + "&redirect_uri=" + url.QueryEscape(clientCallback),
		"unknown client, error-looking ru": base("client_id", "nobody", "redirect_uri", "https://evil.example/cb", "response_type", "token"),
	}
	for name, u := range refused {
		t.Run(name, func(t *testing.T) {
			p := b.Get(u)
			if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("status %d, Location %q, type %q", p.Status, p.Header.Get("Location"), p.Header.Get("Content-Type"))
			}
		})
	}
	// Omitted redirect_uri with exactly one registered (seed 004), and a
	// loopback on any port for a portless registration (RFC 8252 §7.3).
	for _, u := range []string{
		base("client_id", "cli", "scope", "api_v3"),
		base("client_id", "cli", "redirect_uri", "http://127.0.0.1:49152/callback"),
		base("client_id", "cli", "redirect_uri", nativeLoopback),
	} {
		if p := b.Get(u); p.Status != http.StatusOK || !p.Form.Has("oauthgate_password") {
			t.Fatalf("%s: status %d, want the login page", u, p.Status)
		}
	}
}

// CONFORMANCE A3: the out-of-band redirect shows the code on a page.
func TestOutOfBandCode_A3(t *testing.T) {
	g := startAuthcode(t, "", "")
	conf := oauthConfig(g, "postman", postmanSecret, "urn:ietf:wg:oauth:2.0:oob", testScopeAPI)
	p := loginAndAllow(testutil.NewBrowser(t), conf.AuthCodeURL("x", oauth2.SetAuthURLParam("prompt", "consent")))
	if p.Status != 200 || p.Header.Get("Location") != "" || p.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("oob: status %d Location %q", p.Status, p.Header.Get("Location"))
	}
	i := strings.Index(p.Body, `id="code">`)
	if i < 0 {
		t.Fatalf("no code on the page: %s", p.Body)
	}
	code := p.Body[i+len(`id="code">`):]
	code = code[:strings.Index(code, "<")]
	tok, err := exchange(conf, code, "")
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("exchange of the copied code: %v", err)
	}
}

// authorizeURL is a valid request for postman with overrides.
func authorizeURL(g *gateway, kv ...string) string {
	v := url.Values{"response_type": {"code"}, "client_id": {"postman"}, "redirect_uri": {clientCallback}, "state": {"xyz 1/2"}}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	return g.base + "/oauth/authorize?" + v.Encode()
}

// CONFORMANCE A4: other response types are refused by redirect.
// CONFORMANCE A5
// CONFORMANCE A6: state comes back verbatim and iss is on every redirect.
// CONFORMANCE A7
func TestAuthorizeErrorRedirects_A4(t *testing.T) {
	g := startAuthcode(t, "", "")
	b := testutil.NewBrowser(t)
	verifier := oauth2.GenerateVerifier()
	s256 := oauth2.S256ChallengeFromVerifier(verifier)
	tests := []struct {
		name     string
		url      string
		redirect string
		code     string
	}{
		{"implicit grant", authorizeURL(g, "response_type", "token"), clientCallback, "unsupported_response_type"},
		{"hybrid", authorizeURL(g, "response_type", "code token"), clientCallback, "unsupported_response_type"},
		{"no response_type", authorizeURL(g, "response_type", ""), clientCallback, "invalid_request"},
		{"unknown scope", authorizeURL(g, "scope", "api_v3 admin"), clientCallback, "invalid_scope"},
		{"public client without PKCE", authorizeURL(g, "client_id", "cli", "redirect_uri", nativeLoopback), nativeLoopback, "invalid_request"},
		{"plain PKCE refused", authorizeURL(g, "client_id", "cli", "redirect_uri", nativeLoopback, "code_challenge", verifier, "code_challenge_method", "plain"), nativeLoopback, "invalid_request"},
		{"challenge without method means plain", authorizeURL(g, "client_id", "cli", "redirect_uri", nativeLoopback, "code_challenge", s256), nativeLoopback, "invalid_request"},
		{"malformed challenge", authorizeURL(g, "code_challenge", "short", "code_challenge_method", "S256"), clientCallback, "invalid_request"},
		{"two scopes parameters", authorizeURL(g) + "&scope=a&scope=b", clientCallback, "invalid_request"},
		{"prompt none with login", authorizeURL(g, "prompt", "none login"), clientCallback, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := location(t, b.Get(tt.url), tt.redirect)
			if q.Get("error") != tt.code || q.Get("iss") != g.base || q.Get("code") != "" {
				t.Fatalf("redirect %v, want error=%s with iss", q, tt.code)
			}
			if q.Get("state") != "xyz 1/2" {
				t.Fatalf("state %q did not come back verbatim", q.Get("state"))
			}
		})
	}
	// Comma-separated scopes (seed 004) and the default scope when omitted (seed 000).
	for scope, want := range map[string]string{"api_v3,bcf_v2_1": "api_v3 bcf_v2_1", "": "api_v3"} {
		conf := oauthConfig(g, "postman", postmanSecret, clientCallback)
		if scope != "" {
			conf.Scopes = []string{scope}
		}
		tok, err := exchange(conf, codeFor(t, g, testutil.NewBrowser(t), conf, ""), "")
		if err != nil || tok.Extra("scope") != want {
			t.Fatalf("scope %q: got %v, %v; want %q", scope, tok.Extra("scope"), err, want)
		}
	}
}

// CONFORMANCE A7: `pkce all_clients` requires PKCE of confidential clients too.
func TestPKCEAllClients_A7(t *testing.T) {
	g := startAuthcode(t, "pkce all_clients", "")
	q := location(t, testutil.NewBrowser(t).Get(authorizeURL(g)), clientCallback)
	if q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "code_challenge") {
		t.Fatalf("confidential client without PKCE under all_clients: %v", q)
	}
	_, body := call(t, "GET", g.base+"/.well-known/oauth-authorization-server", nil, "")
	if !strings.Contains(body, `"code_challenge_methods_supported":["S256"]`) || !strings.Contains(body, `"authorization_endpoint":"`+g.base+`/oauth/authorize"`) {
		t.Fatalf("metadata: %s", body)
	}
}

// CONFORMANCE A9: consent page content and headers; Deny; CSRF.
func TestConsentPage_A9(t *testing.T) {
	g := startAuthcode(t, "", "")
	b := testutil.NewBrowser(t)
	p := b.Get(authorizeURL(g, "scope", "api_v3 bcf_v2_1"))
	p = b.Submit(p, map[string]string{"oauthgate_username": "alice", "oauthgate_password": alicePassword, "oauthgate_action": "login"})
	if p.Status != 200 {
		t.Fatalf("consent page: %d", p.Status)
	}
	for _, want := range []string{"Postman", "Access the API v3", "BCF 2.1 API", `value="allow"`, `value="deny"`} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if p.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(p.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("framing headers: %v", p.Header)
	}
	if p.Form.Get("oauthgate_csrf") == "" {
		t.Fatal("consent form without CSRF token")
	}
	// Missing or foreign CSRF tokens: no code.
	for name, csrf := range map[string]string{"missing": "", "forged": "AAAA", "from the login form": ""} {
		form := url.Values{}
		for k, v := range p.Form {
			form[k] = v
		}
		form.Set("oauthgate_action", "allow")
		form.Set("oauthgate_csrf", csrf)
		if r := b.Post(p.Action, form); r.Status == http.StatusFound {
			t.Fatalf("CSRF %s: the consent was accepted", name)
		}
	}
	// Another browser (no session, other csrf cookie) replaying the form.
	other := testutil.NewBrowser(t)
	if r := other.Submit(p, map[string]string{"oauthgate_action": "allow"}); r.Status == http.StatusFound {
		t.Fatal("a consent form replayed from another browser was accepted")
	}
	q := location(t, b.Submit(p, map[string]string{"oauthgate_action": "deny"}), clientCallback)
	if q.Get("error") != "access_denied" || q.Get("iss") != g.base || q.Get("state") != "xyz 1/2" {
		t.Fatalf("deny: %v", q)
	}
}

// CONFORMANCE A10: remembered consent, prompt=consent, prompt=none.
func TestPromptAndRememberedConsent_A10(t *testing.T) {
	g := startAuthcode(t, "", "")
	b := testutil.NewBrowser(t)
	// prompt=none without a session: login_required.
	if q := location(t, b.Get(authorizeURL(g, "prompt", "none")), clientCallback); q.Get("error") != "login_required" {
		t.Fatalf("prompt=none without session: %v", q)
	}
	// Sign in, but consent not given yet: consent_required.
	p := b.Get(authorizeURL(g, "scope", "api_v3"))
	p = b.Submit(p, map[string]string{"oauthgate_username": "alice", "oauthgate_password": alicePassword, "oauthgate_action": "login"})
	if q := location(t, b.Get(authorizeURL(g, "prompt", "none", "scope", "api_v3")), clientCallback); q.Get("error") != "consent_required" {
		t.Fatalf("prompt=none without consent: %v", q)
	}
	location(t, b.Submit(p, map[string]string{"oauthgate_action": "allow"}), clientCallback)
	// Remembered for the same or fewer scopes; asked again for more.
	if q := location(t, b.Get(authorizeURL(g, "scope", "api_v3")), clientCallback); q.Get("code") == "" {
		t.Fatalf("remembered consent not used: %v", q)
	}
	if q := location(t, b.Get(authorizeURL(g, "scope", "api_v3", "prompt", "none")), clientCallback); q.Get("code") == "" {
		t.Fatalf("prompt=none with consent and session: %v", q)
	}
	if p := b.Get(authorizeURL(g, "scope", "api_v3 bcf_v2_1")); p.Status != 200 || !strings.Contains(p.Body, `value="allow"`) {
		t.Fatalf("wider scope must ask again: %d", p.Status)
	}
	if p := b.Get(authorizeURL(g, "scope", "api_v3", "prompt", "consent")); p.Status != 200 || !strings.Contains(p.Body, `value="allow"`) {
		t.Fatalf("prompt=consent must always ask: %d", p.Status)
	}
	if p := b.Get(authorizeURL(g, "scope", "api_v3", "prompt", "login")); !p.Form.Has("oauthgate_password") {
		t.Fatalf("prompt=login must show the login form: %d", p.Status)
	}
}

// CONFORMANCE A11: codes are long, random and single use.
// CONFORMANCE T3
func TestCodesAndReuse_T3(t *testing.T) {
	g := startAuthcode(t, "", "")
	conf := oauthConfig(g, "postman", postmanSecret, clientCallback, testScopeAPI)
	b := testutil.NewBrowser(t)
	verifier := oauth2.GenerateVerifier()
	code := codeFor(t, g, b, conf, verifier)
	if len(code) < 4+43 {
		t.Fatalf("code %d characters: fewer than 256 bits", len(code))
	}
	if other := codeFor(t, g, b, conf, verifier); other == code {
		t.Fatal("two codes are equal")
	}
	tok, err := exchange(conf, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := apiCall(t, g, tok.AccessToken); s != 200 {
		t.Fatalf("first token: %d", s)
	}
	// A second use fails and revokes what the first issued.
	if _, err := exchange(conf, code, verifier); !isOAuthErr(err, "invalid_grant") {
		t.Fatalf("second redemption: %v", err)
	}
	if s, _ := apiCall(t, g, tok.AccessToken); s != 401 {
		t.Fatalf("access token from a reused code still works: %d", s)
	}
	if _, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isOAuthErr(err, "invalid_grant") {
		t.Fatalf("refresh token from a reused code still works: %v", err)
	}

	// Token-request mismatches each fail with invalid_grant (or invalid_request when missing).
	mismatch := []struct {
		name string
		form url.Values
		want string
	}{
		{"wrong verifier", url.Values{"code_verifier": {oauth2.GenerateVerifier()}}, "invalid_grant"},
		{"no verifier", url.Values{}, "invalid_grant"},
		{"other redirect_uri", url.Values{"code_verifier": {verifier}, "redirect_uri": {"urn:ietf:wg:oauth:2.0:oob"}}, "invalid_grant"},
		{"missing redirect_uri", url.Values{"code_verifier": {verifier}, "redirect_uri": nil}, "invalid_request"},
		{"garbage code", url.Values{"code": {"ogc_garbage"}, "code_verifier": {verifier}}, "invalid_grant"},
	}
	for _, m := range mismatch {
		t.Run(m.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"authorization_code"}, "code": {codeFor(t, g, b, conf, verifier)}, "redirect_uri": {clientCallback}}
			for k, v := range m.form {
				if v == nil {
					form.Del(k)
				} else {
					form[k] = v
				}
			}
			status, body := tokenPost(t, g, "postman", postmanSecret, form)
			if status != 400 || !strings.Contains(body, `"error":"`+m.want+`"`) {
				t.Fatalf("%d %s", status, body)
			}
		})
	}
	// A code issued to postman is useless to another client.
	status, body := tokenPost(t, g, "multi", postmanSecret, url.Values{"grant_type": {"authorization_code"},
		"code": {codeFor(t, g, b, conf, verifier)}, "redirect_uri": {clientCallback}, "code_verifier": {verifier}})
	if status != 400 || !strings.Contains(body, "invalid_grant") {
		t.Fatalf("code of another client: %d %s", status, body)
	}
}

func isOAuthErr(err error, code string) bool {
	re, ok := err.(*oauth2.RetrieveError)
	return ok && re.ErrorCode == code
}

func tokenPost(t *testing.T, g *gateway, id, secret string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", g.base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = fmt.Fprint(&sb, readAll(resp))
	return resp.StatusCode, sb.String()
}

// CONFORMANCE T4: rotation, replay revokes the family, scope may narrow but
// not widen, a refresh token works only for its client.
func TestRefreshRotation_T4(t *testing.T) {
	g := startAuthcode(t, "", "")
	conf := oauthConfig(g, "postman", postmanSecret, clientCallback, testScopeAPI, testScopeBCF)
	b := testutil.NewBrowser(t)
	first, err := exchange(conf, codeFor(t, g, b, conf, ""), "")
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(rt string, extra url.Values) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		for k, v := range extra {
			form[k] = v
		}
		status, body := tokenPost(t, g, "postman", postmanSecret, form)
		return status, decodeJSON(t, body)
	}
	status, narrowed := refresh(first.RefreshToken, url.Values{"scope": {"api_v3"}})
	if status != 200 || narrowed["scope"] != "api_v3" {
		t.Fatalf("narrowing refresh: %d %v", status, narrowed)
	}
	second := narrowed["refresh_token"].(string)
	// The new refresh token still carries the full grant: it may ask for both again.
	status, wide := refresh(second, nil)
	if status != 200 || wide["scope"] != "api_v3 bcf_v2_1" {
		t.Fatalf("refresh after narrowing: %d %v", status, wide)
	}
	third := wide["refresh_token"].(string)
	if status, body := refresh(third, url.Values{"scope": {"api_v3 admin"}}); status != 400 || body["error"] != "invalid_scope" {
		t.Fatalf("widening: %d %v", status, body)
	}
	// Neither the failed widening nor another client's attempt burns the token.
	if s, body := tokenPost(t, g, "multi", postmanSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {third}}); s != 400 || !strings.Contains(body, "invalid_grant") {
		t.Fatalf("other client's refresh: %d %s", s, body)
	}
	status, fourthResp := refresh(third, nil)
	if status != 200 {
		t.Fatalf("owner's refresh after another client tried: %d %v", status, fourthResp)
	}
	live := fourthResp["access_token"].(string)
	if s, _ := apiCall(t, g, live); s != 200 {
		t.Fatalf("fresh access token: %d", s)
	}
	// Replay of an already rotated refresh token: refused, and the family ends.
	if status, body := refresh(first.RefreshToken, nil); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("replay: %d %v", status, body)
	}
	if s, _ := apiCall(t, g, live); s != 401 {
		t.Fatalf("access token of a revoked family still works: %d", s)
	}
	if status, body := refresh(fourthResp["refresh_token"].(string), nil); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("newest refresh token of a revoked family: %d %v", status, body)
	}
}

// CONFORMANCE T9: of 50 concurrent redemptions of one code, and of one
// refresh token, exactly one succeeds (memory store).
func TestConcurrentRedemption_T9(t *testing.T) {
	g := startAuthcode(t, "", "")
	conf := oauthConfig(g, "postman", postmanSecret, clientCallback, testScopeAPI)
	b := testutil.NewBrowser(t)
	race := func(form url.Values) int32 {
		var wins atomic.Int32
		var wg, start sync.WaitGroup
		start.Add(1)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				req, _ := http.NewRequest("POST", g.base+"/oauth/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("postman", postmanSecret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					wins.Add(1)
				}
			}()
		}
		start.Done()
		wg.Wait()
		return wins.Load()
	}
	code := codeFor(t, g, b, conf, "")
	if n := race(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {clientCallback}}); n != 1 {
		t.Fatalf("50 concurrent code redemptions: %d succeeded", n)
	}
	tok, err := exchange(conf, codeFor(t, g, b, conf, ""), "")
	if err != nil {
		t.Fatal(err)
	}
	if n := race(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); n != 1 {
		t.Fatalf("50 concurrent refreshes: %d succeeded", n)
	}
}

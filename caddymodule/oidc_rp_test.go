package caddymodule

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

const grafanaSecret = "grafana-secret-0123456789"

// oidcApp is an oauthgate block with alice (with claims, the users
// block's nested form) and the OpenID Connect client "grafana".
func oidcApp(t *testing.T, issuer, callback, afterLogout, extra string) string {
	t.Helper()
	t.Setenv("OAUTHGATE_TEST_GRAFANA_SECRET", grafanaSecret)
	hash, err := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`	oauthgate {
		issuer %s
		%s
		scope api_v3 "Access the API v3" default
		users {
			alice %s {
				name "Alice Example"
				email alice@example.com
				email_verified
			}
		}
		client grafana {
			name "Grafana"
			secret {env.OAUTHGATE_TEST_GRAFANA_SECRET}
			redirect_uri %s
			post_logout_redirect_uri %s
			grants authorization_code refresh_token
			scopes openid profile email api_v3
		}
	}`, issuer, extra, hash, callback, afterLogout)
}

// signIn drives Chromium from an authorization URL through the login form
// (when shown) and the consent page (when shown) to the client's callback.
func signIn(t *testing.T, ctx context.Context, authURL string, hits <-chan callbackHit) callbackHit {
	t.Helper()
	start := time.Now()
	defer func() { t.Logf("sign-in took %v", time.Since(start)) }()
	if err := chromedp.Do(ctx, chromedp.Navigate(authURL)); err != nil {
		t.Fatalf("navigating: %v", err)
	}
	deadline := time.After(20 * time.Second)
	for {
		select {
		case hit := <-hits:
			if hit.code != "" || hit.state != "" { // not the browser's favicon request
				return hit
			}
		case <-deadline:
			t.Fatal("the browser never reached the client's callback")
		case <-time.After(300 * time.Millisecond):
		}
		login, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector('#username')`))
		allow, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector('button[value="allow"]')`))
		switch {
		case login:
			_ = chromedp.Do(ctx, chromedp.SendKeys(`#username`, "alice"), chromedp.SendKeys(`#password`, alicePassword),
				chromedp.Click(`button[value="login"]`))
		case allow:
			_ = chromedp.Do(ctx, chromedp.Click(`button[value="allow"]`))
		}
	}
}

// Real relying parties sign alice in through headless Chromium: go-oidc
// (Provider from discovery, Verifier with the server's RS256 key, nonce,
// at_hash, UserInfo) and zitadel/oidc's relying party (code exchange with
// PKCE, its ID token checks, userinfo, end-session back to the registered
// URI with state, after which the gateway asks for the password again).
// CONFORMANCE I1
// CONFORMANCE I2
// CONFORMANCE I3
// CONFORMANCE I4
// CONFORMANCE I5
func TestOIDCRelyingParties(t *testing.T) {
	chromium := testutil.Need(t, "chromium", "chromium")
	callback, codes := rpCatcher(t)
	afterLogout, logouts := rpCatcher(t)
	g := newGateway(t)
	g.load(oidcApp(t, g.base, callback, afterLogout, ""), fmt.Sprintf(authcodeSiteFmt, ""))
	ctx := chromiumContext(t, chromium)
	bg := context.Background()

	// go-oidc
	provider, err := gooidc.NewProvider(bg, g.base)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	conf := oauth2.Config{ClientID: "grafana", ClientSecret: grafanaSecret, RedirectURL: callback, Endpoint: provider.Endpoint(),
		Scopes: []string{gooidc.ScopeOpenID, "profile", "email"}}
	hit := signIn(t, ctx, conf.AuthCodeURL("go-oidc-state", gooidc.Nonce("go-oidc-nonce")), codes)
	if hit.state != "go-oidc-state" || hit.iss != g.base {
		t.Fatalf("callback %+v", hit)
	}
	tok, err := conf.Exchange(bg, hit.code)
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	verifier := provider.Verifier(&gooidc.Config{ClientID: "grafana"}) // RS256 only, as go-oidc defaults
	idt, err := verifier.Verify(bg, raw)
	if err != nil {
		t.Fatalf("go-oidc Verify: %v", err)
	}
	if idt.Nonce != "go-oidc-nonce" || idt.Subject != "alice" {
		t.Fatalf("ID token nonce %q sub %q", idt.Nonce, idt.Subject)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		Name          string `json:"name"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Email != "alice@example.com" || !claims.EmailVerified || claims.Name != "Alice Example" {
		t.Fatalf("ID token claims %+v %v", claims, err)
	}
	ui, err := provider.UserInfo(bg, oauth2.StaticTokenSource(tok))
	if err != nil || ui.Subject != "alice" || ui.Email != "alice@example.com" || !ui.EmailVerified {
		t.Fatalf("go-oidc UserInfo %+v %v", ui, err)
	}
	// A refresh through x/oauth2 returns a new ID token that still verifies.
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Hour)
	fresh, err := conf.TokenSource(bg, &expired).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	again, err := verifier.Verify(bg, fresh.Extra("id_token").(string))
	if err != nil || again.Subject != "alice" {
		t.Fatalf("refreshed ID token: %v", err)
	}

	// zitadel/oidc
	nonce := "zitadel-nonce"
	party, err := rp.NewRelyingPartyOIDC(bg, g.base, "grafana", grafanaSecret, callback, []string{"openid", "profile", "email"},
		rp.WithVerifierOpts(rp.WithNonce(func(context.Context) string { return nonce })))
	if err != nil {
		t.Fatalf("zitadel discovery: %v", err)
	}
	verifierPKCE := oauth2.GenerateVerifier()
	withNonce := func() []oauth2.AuthCodeOption { return []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("nonce", nonce)} }
	authURL := rp.AuthURL("zitadel-state", party, rp.WithCodeChallenge(oauth2.S256ChallengeFromVerifier(verifierPKCE)), withNonce)
	hit = signIn(t, ctx, authURL, codes) // signed in and consented: straight back
	tokens, err := rp.CodeExchange[*zoidc.IDTokenClaims](bg, hit.code, party, rp.WithCodeVerifier(verifierPKCE))
	if err != nil {
		t.Fatalf("zitadel CodeExchange: %v", err)
	}
	if tokens.IDTokenClaims.Subject != "alice" || tokens.IDTokenClaims.Email != "alice@example.com" {
		t.Fatalf("zitadel ID token claims %+v", tokens.IDTokenClaims)
	}
	info, err := rp.Userinfo[*zoidc.UserInfo](bg, tokens.AccessToken, "Bearer", tokens.IDTokenClaims.Subject, party)
	if err != nil || info.Email != "alice@example.com" || info.PreferredUsername != "alice" {
		t.Fatalf("zitadel Userinfo %+v %v", info, err)
	}
	// zitadel calls the end_session_endpoint itself (a form POST, without
	// the browser's cookies) and returns where the browser is to be sent:
	// the same request as a GET, whose visit with the session cookie is
	// what ends the gateway's sign-in session, without confirmation: the
	// ID token was the signed-in user's.
	var doc struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := provider.Claims(&doc); err != nil || doc.EndSession != g.base+"/oauth/logout" {
		t.Fatalf("end_session_endpoint %q %v", doc.EndSession, err)
	}
	end, err := rp.EndSession(bg, party, tokens.IDToken, afterLogout, "bye-state", "", nil)
	// The ID token stays out of that URL: what it said goes sealed.
	if err != nil || end == nil || end.Path != "/oauth/logout" || end.Query().Has("id_token_hint") || end.Query().Get("oauthgate_logout_hint") == "" ||
		end.Query().Get("post_logout_redirect_uri") != afterLogout || end.Query().Get("state") != "bye-state" {
		t.Fatalf("zitadel EndSession: %v %v", end, err)
	}
	logoutURL := g.base + end.String()
	if end.IsAbs() {
		logoutURL = end.String()
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(logoutURL)); err != nil {
		t.Fatalf("navigating to the end-session URL: %v", err)
	}
	for back := false; !back; {
		select {
		case h := <-logouts:
			if h.state == "" {
				continue // the browser's favicon request
			}
			if h.state != "bye-state" {
				t.Fatalf("post-logout redirect state %q", h.state)
			}
			back = true
		case <-time.After(15 * time.Second):
			t.Fatal("the browser never came back to the post_logout_redirect_uri")
		}
	}
	// Signed out: the gateway asks for the password again.
	t.Log("signed out")
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.Navigate(conf.AuthCodeURL("after", gooidc.Nonce("after-logout"))), chromedp.WaitVisible(`#password`)); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("after logout, no login form at %s: %v", loc, err)
	}

	// A logout link without an ID token (Grafana's signout_redirect_url):
	// the gateway asks, and only the user's click signs out.
	signIn(t, ctx, conf.AuthCodeURL("again", gooidc.Nonce("again")), codes)
	bare := doc.EndSession + "?" + url.Values{"client_id": {"grafana"}, "post_logout_redirect_uri": {afterLogout}, "state": {"asked"}}.Encode()
	actx, cancelAsk := context.WithTimeout(ctx, 15*time.Second)
	defer cancelAsk()
	// The callback page of the sign-in may still be loading: a navigation
	// it aborts is made again.
	err = chromedp.Do(actx, chromedp.Navigate(bare))
	for try := 0; err != nil && strings.Contains(err.Error(), "ERR_ABORTED") && try < 3; try++ {
		time.Sleep(200 * time.Millisecond)
		err = chromedp.Do(actx, chromedp.Navigate(bare))
	}
	if err == nil {
		err = chromedp.Do(actx, chromedp.WaitVisible(`button[value="logout"]`))
	}
	if err != nil {
		t.Fatalf("a logout link without id_token_hint: no confirmation page: %v", err)
	}
	select {
	case h := <-logouts:
		if h.state != "" {
			t.Fatalf("sent back (state %q) before the user confirmed", h.state)
		}
	default:
	}
	if err := chromedp.Do(actx, chromedp.Click(`button[value="logout"]`)); err != nil {
		t.Fatal(err)
	}
	for back := false; !back; {
		select {
		case h := <-logouts:
			if h.state == "asked" {
				back = true
			}
		case <-time.After(15 * time.Second):
			t.Fatal("after confirming, the browser never came back to the post_logout_redirect_uri")
		}
	}
	if err := chromedp.Do(actx, chromedp.Navigate(conf.AuthCodeURL("after2", gooidc.Nonce("after-logout-2"))), chromedp.WaitVisible(`#password`)); err != nil {
		t.Fatalf("after the confirmed logout, no login form: %v", err)
	}
}

// With `login identity`, the claims come from the placeholders the
// handler in front set (here request headers, as forward_auth copies them),
// and are answered later by userinfo and refresh without the browser.
// CONFORMANCE I2
// CONFORMANCE I3
func TestLoginIdentityClaims_I2(t *testing.T) {
	g := newGateway(t)
	app := oidcApp(t, g.base, clientCallback, "https://client.example/bye", "")
	g.load(app, fmt.Sprintf(authcodeSiteFmt, `{
		login identity {http.request.header.Remote-User} {
			claim email {http.request.header.Remote-Email}
			claim name {http.request.header.Remote-Name}
			claim email_verified {http.request.header.Remote-Email-Verified}
		}
	}`))
	b := testutil.NewBrowser(t)
	b.C.Transport = headers{"Remote-User": "bob", "Remote-Email": "bob@example.com", "Remote-Name": "Bob Builder", "Remote-Email-Verified": "true"}
	conf := oauthConfig(g, "grafana", grafanaSecret, clientCallback, "openid", "email", "profile")
	code := codeFor(t, g, b, conf, "", oauth2.SetAuthURLParam("nonce", "n-identity"))
	tok, err := exchange(conf, code, "")
	if err != nil {
		t.Fatal(err)
	}
	provider, err := gooidc.NewProvider(context.Background(), g.base)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&gooidc.Config{ClientID: "grafana"}).Verify(context.Background(), tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	_ = idt.Claims(&c)
	if c["sub"] != "bob" || c["email"] != "bob@example.com" || c["name"] != "Bob Builder" || c["email_verified"] != true || c["nonce"] != "n-identity" {
		t.Fatalf("ID token claims %v", c)
	}
	resp, body := call(t, "GET", g.base+"/oauth/userinfo", map[string]string{"Authorization": "Bearer " + tok.AccessToken}, "")
	if m := decodeJSON(t, body); resp.StatusCode != 200 || m["email"] != "bob@example.com" || m["name"] != "Bob Builder" {
		t.Fatalf("userinfo %d %s", resp.StatusCode, body)
	}
	// Without openid userinfo refuses the token.
	plain := oauthConfig(g, "grafana", grafanaSecret, clientCallback, "api_v3")
	ptok, err := exchange(plain, codeFor(t, g, b, plain, ""), "")
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := call(t, "GET", g.base+"/oauth/userinfo", map[string]string{"Authorization": "Bearer " + ptok.AccessToken}, ""); resp.StatusCode != 403 ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Fatalf("userinfo without openid: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// headers is a transport adding fixed request headers (the identity the
// handler in front of the gateway would set).
type headers map[string]string

func (h headers) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// rpCatcher is a relying party's callback (or post-logout page) on a local
// port: it reports the visits to /cb that carry a code or a state, so the
// browser's favicon requests never take a real visit's place.
func rpCatcher(t *testing.T) (string, <-chan callbackHit) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hits := make(chan callbackHit, 8)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path == "/cb" && (q.Get("code") != "" || q.Get("state") != "") {
			select {
			case hits <- callbackHit{q.Get("code"), q.Get("state"), q.Get("iss")}:
			default:
			}
		}
		_, _ = w.Write([]byte("<!doctype html><title>Done</title><p>You can close this window.</p>"))
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return fmt.Sprintf("http://%s/cb", l.Addr()), hits
}

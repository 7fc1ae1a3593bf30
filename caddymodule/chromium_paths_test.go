// Tests in headless Chromium of sign-in and consent with the authorization endpoint under other paths.

package caddymodule

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// Sign-in, consent and the code redirect in headless Chromium when the
// authorization endpoint is reached under another path: through rewrite
// (seed 001's /integrations/oauth2/authorize), through handle_path, and
// under an issuer with a path. The sign-in cookies are scoped to the path
// the browser used, so they come back with the login and consent forms.
// CONFORMANCE A8
// CONFORMANCE A9
func TestChromiumSignInUnderOtherPaths(t *testing.T) {
	chromium := testutil.Need(t, "chromium", "chromium")
	const protected = `
	route /api/* {
		oauthgate_protect api_v3
		respond "{http.auth.user.id} {oauth.client_id} {oauth.scope}"
	}`
	for _, c := range []struct {
		name, issuerPath, site string
		authorize, token       string // paths the client uses
		cookiePath             string
	}{
		{"rewrite (seed 001)", "", `
	rewrite /integrations/oauth2/authorize /oauth/authorize
	rewrite /integrations/oauth2/api/v1/token /oauth/token
	oauthgate_server` + protected,
			"/integrations/oauth2/authorize", "/integrations/oauth2/api/v1/token", "/integrations/oauth2/"},
		{"handle_path", "", `
	handle_path /sso/* {
		oauthgate_server
	}` + protected,
			"/sso/oauth/authorize", "/sso/oauth/token", "/sso/oauth/"},
		{"issuer with a path", "/tenant", `
	oauthgate_server` + protected,
			"/tenant/oauth/authorize", "/tenant/oauth/token", "/tenant/oauth/"},
	} {
		t.Run(c.name, func(t *testing.T) {
			callback, codes := codeCatcher(t)
			g := newGateway(t)
			issuer := g.base + c.issuerPath
			app := replaceOnce(authcodeApp(t, issuer, ""), "redirect_uri "+clientCallback+" ", "redirect_uri "+callback+" ")
			g.load(app, c.site)
			conf := &oauth2.Config{ClientID: "postman", ClientSecret: postmanSecret, RedirectURL: callback,
				Scopes: []string{testScopeAPI}, Endpoint: oauth2.Endpoint{AuthURL: g.base + c.authorize,
					TokenURL: g.base + c.token, AuthStyle: oauth2.AuthStyleInHeader}}
			verifier := oauth2.GenerateVerifier()
			start := conf.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier))

			ctx := chromiumContext(t, chromium)
			if err := chromedp.Do(ctx,
				chromedp.Navigate(start),
				chromedp.WaitVisible(`#username`),
				chromedp.SendKeys(`#username`, "alice"),
				chromedp.SendKeys(`#password`, alicePassword),
				chromedp.Click(`button[value="login"]`),
				chromedp.WaitVisible(`button[value="allow"]`),
			); err != nil {
				body, _ := chromedp.Run(ctx, chromedp.Text("body"))
				t.Fatalf("signing in at %s: %v; the page says %q", c.authorize, err, body)
			}
			res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{g.base + c.authorize}})
			if err != nil {
				t.Fatal(err)
			}
			paths := map[string]string{}
			for _, ck := range res.Cookies {
				paths[ck.Name] = ck.Path
			}
			if paths["oauthgate_session"] != c.cookiePath || paths["oauthgate_csrf"] != c.cookiePath {
				t.Fatalf("cookie paths %v, want %s", paths, c.cookiePath)
			}
			if err := chromedp.Do(ctx, chromedp.Click(`button[value="allow"]`)); err != nil {
				t.Fatalf("clicking Allow: %v", err)
			}
			var got callbackHit
			select {
			case got = <-codes:
			case <-time.After(15 * time.Second):
				t.Fatal("the browser never reached the client's redirect URI")
			}
			if got.state != "st4te" || got.iss != issuer || got.code == "" {
				t.Fatalf("redirect: %+v", got)
			}
			tok, err := conf.Exchange(context.Background(), got.code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchanging the code at %s: %v", c.token, err)
			}
			if status, body := apiCall(t, g, tok.AccessToken); status != 200 || body != "alice postman api_v3" {
				t.Fatalf("API: %d %q", status, body)
			}
		})
	}
}

type callbackHit struct{ code, state, iss string }

// codeCatcher is a client's redirect target on a local port.
func codeCatcher(t *testing.T) (string, <-chan callbackHit) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hits := make(chan callbackHit, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		select {
		case hits <- callbackHit{q.Get("code"), q.Get("state"), q.Get("iss")}:
		default:
		}
		_, _ = w.Write([]byte("<!doctype html><title>Done</title><p>You can close this window.</p>"))
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return fmt.Sprintf("http://%s/cb", l.Addr()), hits
}

// chromiumContext starts a headless Chromium of the test's own, stopped
// when the test ends.
func chromiumContext(t *testing.T, chromium string, extra ...chromedp.ExecAllocatorOption) context.Context {
	opts := append(append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.UserDataDir(t.TempDir()), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true)), extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelT(); cancel(); cancelAlloc() })
	return ctx
}

// Tests in headless Chromium: sign-in and consent, and a cross-origin fetch to a protected API (CORS).

package caddymodule

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// A real browser — headless Chromium — signs in on the login page and
// clicks Allow on the consent page; the test exchanges the code. With
// -update the consent page's screenshot is saved as docs/consent.png for the README.
// CONFORMANCE A9
// CONFORMANCE A8
func TestChromiumLoginAndConsent(t *testing.T) {
	chromium := testutil.Need(t, "chromium", "chromium")

	callback, codes := codeCatcher(t)
	g := newGateway(t)
	app := authcodeApp(t, g.base, "")
	app = replaceOnce(app, "redirect_uri "+clientCallback+" ", "redirect_uri "+callback+" ")
	g.load(app, fmt.Sprintf(authcodeSiteFmt, ""))
	conf := oauthConfig(g, "postman", postmanSecret, callback, testScopeAPI, testScopeBCF)
	verifier := oauth2.GenerateVerifier()
	ctx := chromiumContext(t, chromium, chromedp.WindowSize(720, 820))

	err := chromedp.Do(ctx,
		chromedp.Navigate(conf.AuthCodeURL("browser-state", oauth2.S256ChallengeOption(verifier))),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "alice"),
		chromedp.SendKeys(`#password`, alicePassword),
		chromedp.Click(`button[value="login"]`),
		chromedp.WaitVisible(`button[value="allow"]`),
	)
	if err != nil {
		t.Fatalf("driving Chromium to the consent page: %v", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`button[value="allow"]`)); err != nil {
		t.Fatalf("clicking Allow: %v", err)
	}
	if title != "Authorize Postman" {
		t.Fatalf("consent page title %q", title)
	}
	var hit callbackHit
	select {
	case hit = <-codes:
	case <-time.After(15 * time.Second):
		t.Fatal("the browser never reached the client's redirect URI")
	}
	tok, err := exchange(conf, hit.code, verifier)
	if err != nil {
		t.Fatalf("exchanging the browser's code: %v", err)
	}
	if status, body := apiCall(t, g, tok.AccessToken); status != 200 || body != "alice postman api_v3 bcf_v2_1" {
		t.Fatalf("API: %d %q", status, body)
	}
	if len(shot) < 1000 {
		t.Fatal("empty screenshot")
	}
	// -update refreshes the README's screenshot, like the golden files.
	out := filepath.Join(t.TempDir(), "consent.png")
	if *update {
		out = filepath.Join("..", "docs", "consent.png")
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatalf("saving the screenshot: %v", err)
	}
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	return s
}

// A page on one local origin calls a protected API on another with fetch and
// a bearer token: it reads the JSON — and a 401's WWW-Authenticate — when its
// origin is allowed, and the browser blocks it otherwise (CONFORMANCE C1, R8
// in a real browser).
// CONFORMANCE C1
func TestChromiumCORSFetch(t *testing.T) {
	chromium := testutil.Need(t, "chromium", "chromium")
	setSecrets(t)
	page := func(gateway, token string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<!doctype html><title>spa</title><p id="out"></p><script>
const api = %q;
fetch(api, {headers: {"Authorization": "Bearer " + %q}})
  .then(r => r.json()).then(j => { document.getElementById("out").textContent = "read:" + j.path; })
  .then(() => fetch(api, {headers: {"Authorization": "Bearer not-a-token"}}))
  .then(r => { document.getElementById("out").textContent += " " + r.status + " " + r.headers.get("WWW-Authenticate"); })
  .catch(e => { document.getElementById("out").textContent = "blocked"; })
  .finally(() => { const d = document.createElement("div"); d.id = "done"; d.textContent = "done"; document.body.appendChild(d); });
</script>`, gateway+"/api/v3/projects", token)
		})
	}
	allowedL, _ := net.Listen("tcp", "127.0.0.1:0")
	otherL, _ := net.Listen("tcp", "127.0.0.1:0")
	allowedOrigin := "http://" + allowedL.Addr().String()

	g := newGateway(t)
	up := newUpstream(t)
	g.load(baseApp(g.base, ""), fmt.Sprintf(`
	oauthgate_server
	route /api/* {
		oauthgate_protect api_v3 {
			cors {
				origins %s
			}
		}
		reverse_proxy %s
	}`, allowedOrigin, up.addr()))
	tok := getToken(t, g, "reporting", reportingSecret, "api_v3")
	for _, l := range []net.Listener{allowedL, otherL} {
		srv := &http.Server{Handler: page(g.base, tok)}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close() })
	}

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.UserDataDir(t.TempDir()), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))...)
	defer cancelAlloc()
	// The allowed page also reads the 401's challenge: WWW-Authenticate is
	// exposed without an `expose` line.
	readable := fmt.Sprintf(`read:/api/v3/projects 401 Bearer realm="%s", error="invalid_token", error_description="the access token is invalid"`, g.base)
	for origin, want := range map[string]string{allowedOrigin: readable, "http://" + otherL.Addr().String(): "blocked"} {
		ctx, cancel := chromedp.NewContext(actx)
		ctx, cancelT := context.WithTimeout(ctx, 30*time.Second)
		err := chromedp.Do(ctx, chromedp.Navigate(origin+"/"), chromedp.WaitVisible(`#done`))
		var got string
		if err == nil {
			got, err = chromedp.Run(ctx, chromedp.Text(`#out`))
		}
		cancelT()
		cancel()
		if err != nil {
			t.Fatalf("page on %s: %v", origin, err)
		}
		if got != want {
			t.Fatalf("page on %s read %q, want %q", origin, got, want)
		}
	}
}

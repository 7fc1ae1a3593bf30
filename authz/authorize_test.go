// Tests of the authorization code flow: code lifetime, session cookies, and fuzzing redirects and requests.

package authz

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// flowFixture serves the authorization and token endpoints over HTTP with
// the fixture's injected clock.
func flowFixture(t *testing.T, opts ...fixtureOpt) (*fixture, *httptest.Server) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users, _ := NewStaticUsers(map[string]string{"alice": string(hash)})
	f := newFixture(t, append([]fixtureOpt{func(c *Config) { c.Users = users }}, opts...)...)
	app := &Client{ID: "app", Name: "App", Grants: []string{GrantAuthorizationCode, GrantRefreshToken},
		Scopes: []string{"api_v3"}, RedirectURIs: []string{"https://app.example/cb"}}
	app.SetSecret(HashSecret("app-secret-0123456789"))
	f.clients["app"] = app
	authorize, err := f.srv.AuthorizeHandler(AuthorizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(PathAuthorize, authorize)
	mux.Handle(PathToken, f.srv.Handler(PathToken))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

func codeVia(t *testing.T, srv *httptest.Server, b *testutil.Browser) string {
	t.Helper()
	p := b.LoginAndAllow(srv.URL+PathAuthorize+"?response_type=code&client_id=app&state=s", "alice", "pw")
	loc, _ := url.Parse(p.Header.Get("Location"))
	if p.Status != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("no code: %d %s", p.Status, p.Body)
	}
	return loc.Query().Get("code")
}

func redeem(t *testing.T, srv *httptest.Server, code string) (int, string) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}}
	req, _ := http.NewRequest("POST", srv.URL+PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", "app-secret-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	sb.Write(buf[:n])
	return resp.StatusCode, sb.String()
}

// CONFORMANCE A11: a code lives 2 minutes by default (injected clock), and
// code_ttl changes that.
func TestCodeLifetime_A11(t *testing.T) {
	f, srv := flowFixture(t)
	b := testutil.NewBrowser(t)
	code := codeVia(t, srv, b)
	f.clock.Advance(2*time.Minute + time.Second)
	if status, body := redeem(t, srv, code); status != 400 || !strings.Contains(body, "invalid_grant") {
		t.Fatalf("expired code: %d %s", status, body)
	}
	code = codeVia(t, srv, b)
	f.clock.Advance(119 * time.Second)
	if status, body := redeem(t, srv, code); status != 200 {
		t.Fatalf("code within its 2 minutes: %d %s", status, body)
	}

	g, srv2 := flowFixture(t, func(c *Config) { c.CodeTTL = 5 * time.Minute })
	code = codeVia(t, srv2, testutil.NewBrowser(t))
	g.clock.Advance(4 * time.Minute)
	if status, body := redeem(t, srv2, code); status != 200 {
		t.Fatalf("code_ttl 5m, after 4m: %d %s", status, body)
	}
}

// Sessions expire (injected clock) and the cookie is Secure over TLS.
func TestSessionCookie(t *testing.T) {
	f, srv := flowFixture(t, func(c *Config) { c.SessionTTL = time.Hour })
	b := testutil.NewBrowser(t)
	codeVia(t, srv, b)
	start := srv.URL + PathAuthorize + "?response_type=code&client_id=app"
	if p := b.Get(start); p.Status != http.StatusFound {
		t.Fatalf("within the session: %d, want a code redirect", p.Status)
	}
	f.clock.Advance(time.Hour + time.Second)
	if p := b.Get(start); !p.Form.Has("oauthgate_password") {
		t.Fatalf("after the session expired: %d, want the login page", p.Status)
	}
	// Over TLS the cookies are Secure.
	h, _ := f.srv.AuthorizeHandler(AuthorizeOptions{})
	req := httptest.NewRequest("GET", start, nil)
	req.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if !c.Secure || !c.HttpOnly {
			t.Fatalf("cookie %s over TLS: Secure %v HttpOnly %v", c.Name, c.Secure, c.HttpOnly)
		}
	}
}

func FuzzMatchRedirectURI(f *testing.F) {
	registered := []string{"https://app.example/cb", "http://127.0.0.1/callback", "http://[::1]/cb", OOBRedirect}
	for _, s := range []string{"https://app.example/cb", "http://127.0.0.1:8080/callback", "http://[::1]:1/cb",
		"http://127.0.0.1:8080/callback/../x", "http://evil@127.0.0.1:1/callback", "http://127.0.0.1:1/callback#f",
		"http://127.0.0.1:99999/callback", "HTTP://127.0.0.1:1/callback", "http://127.0.0.1:1/callback?x", "http://127.0.0.1:1:2/callback",
		"http://127.0.0.1:%31/callback", "https://app.example/cb/", strings.Repeat("a", 3000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		if !MatchRedirectURI(registered, uri) {
			return
		}
		for _, r := range registered {
			if r == uri {
				return
			}
		}
		// Only a loopback URI differing by a decimal port may match.
		u, err := url.Parse(uri)
		if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || u.RawQuery != "" || u.Port() == "" {
			t.Fatalf("matched %q", uri)
		}
		stripped := "http://" + u.Hostname()
		if strings.Contains(u.Hostname(), ":") {
			stripped = "http://[" + u.Hostname() + "]"
		}
		if stripped+u.EscapedPath() != "http://127.0.0.1/callback" && stripped+u.EscapedPath() != "http://[::1]/cb" {
			t.Fatalf("matched %q as %q", uri, stripped+u.EscapedPath())
		}
	})
}

// FuzzAuthorizeRequest: any query to the authorization endpoint yields an
// error page, a login page, or a redirect to a registered URI — never a
// redirect elsewhere, never a 5xx.
func FuzzAuthorizeRequest(f *testing.F) {
	fx := newFixture(f)
	app := &Client{ID: "app", Grants: []string{GrantAuthorizationCode}, Scopes: []string{"api_v3"},
		RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1/cb"}}
	app.SetSecret(HashSecret("x"))
	fx.clients["app"] = app
	h, err := fx.srv.AuthorizeHandler(AuthorizeOptions{})
	if err != nil {
		f.Fatal(err)
	}
	for _, q := range []string{"response_type=code&client_id=app&redirect_uri=https://app.example/cb",
		"client_id=app&redirect_uri=http://127.0.0.1:5/cb&response_type=token&state=x",
		"client_id=app&redirect_uri=https://evil.example/&response_type=code",
		"client_id=app&client_id=app", "scope=%zz", "client_id=app&code_challenge=abc&prompt=none"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		req := httptest.NewRequest("GET", "/oauth/authorize", nil)
		req.URL.RawQuery = q
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%d for %q", rec.Code, q)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			target, _, _ := strings.Cut(loc, "?")
			if !MatchRedirectURI(app.RedirectURIs, target) {
				t.Fatalf("redirect to %q for %q", loc, q)
			}
		}
	})
}

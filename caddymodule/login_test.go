// Tests of the built-in login: identity from basic_auth, the login form and its throttle, templates.

package caddymodule

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// CONFORMANCE A8: login identity trusts a preceding Caddy auth handler
// (basic_auth here) through {http.auth.user.id}.
func TestLoginIdentityFromBasicAuth_A8(t *testing.T) {
	g := newGateway(t)
	hash, _ := bcrypt.GenerateFromPassword([]byte("bob-password"), bcrypt.MinCost)
	g.load(authcodeApp(t, g.base, ""), fmt.Sprintf(`
	basic_auth /oauth/authorize {
		bob %s
	}
	oauthgate_server {
		login identity {http.auth.user.id}
	}
	route /api/* {
		oauthgate_protect api_v3
		respond "{http.auth.user.id}"
	}`, hash))
	conf := oauthConfig(g, "postman", postmanSecret, clientCallback, testScopeAPI)
	b := testutil.NewBrowser(t)
	// Without credentials, basic_auth answers before oauthgate does.
	if p := b.Get(conf.AuthCodeURL("s")); p.Status != http.StatusUnauthorized {
		t.Fatalf("no credentials: %d", p.Status)
	}
	req, _ := http.NewRequest("GET", conf.AuthCodeURL("s"), nil)
	req.SetBasicAuth("bob", "bob-password")
	p := b.Do(req)
	if p.Status != 200 || !strings.Contains(p.Body, "bob") || p.Form.Has("oauthgate_password") {
		t.Fatalf("consent for bob expected, got %d", p.Status)
	}
	form := p.Form
	form.Set("oauthgate_action", "allow")
	post, _ := http.NewRequest("POST", p.Action, strings.NewReader(form.Encode()))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	post.SetBasicAuth("bob", "bob-password")
	q := location(t, b.Do(post), clientCallback)
	tok, err := exchange(conf, q.Get("code"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, body := apiCall(t, g, tok.AccessToken); body != "bob" {
		t.Fatalf("subject %q, want bob", body)
	}
}

// CONFORMANCE A8: the login form: wrong passwords are refused, the session
// cookie is HttpOnly and SameSite=Lax, and repeated failures are throttled
// per user with 429 and Retry-After.
func TestLoginFormAndThrottle_A8(t *testing.T) {
	g := startAuthcode(t, "", "")
	// A good login sets a session cookie with the safe attributes.
	third := testutil.NewBrowser(t)
	lp := third.Get(authorizeURL(g))
	req, _ := http.NewRequest("POST", lp.Action, strings.NewReader(withFields(lp, map[string]string{
		"oauthgate_username": "alice", "oauthgate_password": alicePassword, "oauthgate_action": "login"})))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range third.C.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie string
	for _, c := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "oauthgate_session=") {
			cookie = c
		}
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/oauth/", "Max-Age="} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("session cookie %q lacks %s", cookie, attr)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Error("Secure cookie over plain HTTP would be dropped by browsers")
	}

	b := testutil.NewBrowser(t)
	login := b.Get(authorizeURL(g))
	if login.Status != 200 || !login.Form.Has("oauthgate_csrf") {
		t.Fatalf("login page: %d", login.Status)
	}
	for i := range 5 {
		p := b.Submit(login, map[string]string{"oauthgate_username": "alice", "oauthgate_password": "wrong", "oauthgate_action": "login"})
		if p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "Wrong username or password") {
			t.Fatalf("attempt %d: %d", i, p.Status)
		}
		if strings.Contains(p.Body, "wrong\"") {
			t.Fatal("the failed password is echoed back")
		}
	}
	p := b.Submit(login, map[string]string{"oauthgate_username": "alice", "oauthgate_password": alicePassword, "oauthgate_action": "login"})
	retry, _ := strconv.Atoi(p.Header.Get("Retry-After"))
	if p.Status != http.StatusTooManyRequests || retry <= 0 {
		t.Fatalf("sixth attempt: %d Retry-After %q", p.Status, p.Header.Get("Retry-After"))
	}
	// A login form without its CSRF token is refused.
	other := testutil.NewBrowser(t)
	lp = other.Get(authorizeURL(g))
	if r := other.Submit(lp, map[string]string{"oauthgate_csrf": "", "oauthgate_username": "alice", "oauthgate_password": alicePassword, "oauthgate_action": "login"}); r.Status != http.StatusBadRequest {
		t.Fatalf("login without CSRF: %d", r.Status)
	}
}

func withFields(p *testutil.Page, set map[string]string) string {
	form := p.Form
	for k, v := range set {
		form.Set(k, v)
	}
	return form.Encode()
}

// Operators replace the pages with `templates DIR` without rebuilding.
func TestTemplatesOverride(t *testing.T) {
	dir := t.TempDir()
	custom := `{{template "head" .}}<h1>ACME wants in</h1><p>{{.ClientName}}</p>
<form method="post">{{template "params" .Params}}<input type="hidden" name="oauthgate_csrf" value="{{.CSRF}}">
<button name="oauthgate_action" value="allow">Yes</button></form>{{template "foot"}}`
	if err := os.WriteFile(filepath.Join(dir, "consent.html"), []byte(custom), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startAuthcode(t, "", "{\n\t\ttemplates "+dir+"\n\t}")
	conf := oauthConfig(g, "postman", postmanSecret, clientCallback, testScopeAPI)
	b := testutil.NewBrowser(t)
	p := b.Get(conf.AuthCodeURL("s"))
	p = b.Submit(p, map[string]string{"oauthgate_username": "alice", "oauthgate_password": alicePassword, "oauthgate_action": "login"})
	if !strings.Contains(p.Body, "ACME wants in") || !strings.Contains(p.Body, "Postman") {
		t.Fatalf("custom consent page not used: %s", p.Body)
	}
	location(t, b.Submit(p, map[string]string{"oauthgate_action": "allow"}), clientCallback)

	// A broken template fails at start, naming the file.
	_ = os.WriteFile(filepath.Join(dir, "consent.html"), []byte(`{{template "nope" .}}`), 0o600)
	err := g.loadErr(authcodeApp(t, g.base, ""), fmt.Sprintf(authcodeSiteFmt, "{\n\t\ttemplates "+dir+"\n\t}"))
	if err == nil || !strings.Contains(err.Error(), "consent.html") {
		t.Fatalf("broken template: %v", err)
	}
}

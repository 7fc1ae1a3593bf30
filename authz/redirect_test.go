// Tests of which redirect URIs may be registered: https, loopback http, private-use schemes and oob.

package authz

import (
	"crypto/rand"
	"strings"
	"testing"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// Issue 17 item 8: registering a redirect URI (admin API, Caddyfile, JSON)
// accepts https, http to a loopback host, reverse-domain private-use
// schemes and the oob URN, and refuses the rest with a specific error.
// CONFORMANCE M1
// CONFORMANCE M2
func TestRedirectURISchemes(t *testing.T) {
	for _, ok := range []string{"https://app.example/cb", "https://app.example:8443/cb?x=1", "http://127.0.0.1/cb",
		"http://127.0.0.1:8080/cb", "http://[::1]/cb", "http://localhost:3000/cb", "com.example.app:/oauth2redirect",
		"com.example.app://cb", "io.github.someone.tool:/done", OOBRedirect} {
		if err := ValidRedirectURI(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for uri, why := range map[string]string{
		"javascript:alert(document.cookie)//": "scheme javascript",
		"JavaScript://x/%0aalert(1)":          "scheme javascript",
		"data:text/html,<script>x</script>":   "scheme data",
		"file:///etc/passwd":                  "scheme file",
		"vbscript:msgbox(1)":                  "scheme vbscript",
		"ftp://files.example/cb":              "scheme ftp",
		"myapp:/cb":                           "scheme myapp",
		"http://app.example/cb":               "loopback host",
		"http://127.0.0.1.evil.example/cb":    "loopback host",
		"https:///cb":                         "needs a host",
		"https://user:pw@app.example/cb":      "user information",
		"com..example:/cb":                    "reverse domain",
		"urn:ietf:wg:oauth:2.0:oob:auto":      "URN only as",
		"https://app.example/cb#frag":         "fragment",
		"/relative/cb":                        "absolute",
	} {
		err := ValidRedirectURI(uri)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: %v, want an error naming %q", uri, err, why)
		}
	}

	// Through the admin API's registry, with the reason in the error.
	f := newFixture(t)
	reg := &Registry{Static: f.clients, Records: f.store.Store.(tokenstore.ClientRecords), Catalog: f.srv.cfg.Scopes,
		Rand: rand.Reader, Now: f.clock.Now}
	_, _, err := reg.Create(t.Context(), tokenstore.Client{Grants: []string{GrantAuthorizationCode}, Scopes: []string{"api_v3"},
		RedirectURIs: []string{"https://ok.example/cb", "javascript:alert(1)"}})
	if err == nil || !strings.Contains(err.Error(), `redirect_uri "javascript:alert(1)"`) || !strings.Contains(err.Error(), "scheme javascript") {
		t.Fatalf("admin API create with a javascript: redirect URI: %v", err)
	}
	if list, _ := reg.List(t.Context()); len(list) != len(f.clients) {
		t.Fatalf("a refused client was stored: %d clients", len(list))
	}
}

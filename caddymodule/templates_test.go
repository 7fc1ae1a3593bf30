// Tests that a replaced base.html brands every page while the flow works end to end.

package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// The file operators edit for branding, base.html, replaced alone: Caddy
// starts, and the sign-in, consent and error pages carry the brand while
// the flow works end to end.
// CONFORMANCE A9
func TestTemplatesBaseReplaced(t *testing.T) {
	dir := t.TempDir()
	base := `{{define "head"}}<!doctype html><html><head><title>{{.Title}} · ACME</title></head><body><header>ACME Corp</header><main>{{end}}
{{define "foot"}}</main><footer>ACME support</footer></body></html>{{end}}
{{define "params"}}{{range .}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}{{end}}`
	if err := os.WriteFile(filepath.Join(dir, "base.html"), []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startAuthcode(t, "", "{\n\t\ttemplates "+dir+"\n\t}")
	conf := oauthConfig(g, "postman", postmanSecret, clientCallback, testScopeAPI)
	b := testutil.NewBrowser(t)
	p := b.Get(conf.AuthCodeURL("s"))
	if !strings.Contains(p.Body, "<header>ACME Corp</header>") || !p.Form.Has("oauthgate_password") {
		t.Fatalf("login page: %s", p.Body)
	}
	p = b.Submit(p, map[string]string{"oauthgate_username": "alice", "oauthgate_password": alicePassword, "oauthgate_action": "login"})
	if !strings.Contains(p.Body, "<footer>ACME support</footer>") || !strings.Contains(p.Body, `value="allow"`) {
		t.Fatalf("consent page: %s", p.Body)
	}
	location(t, b.Submit(p, map[string]string{"oauthgate_action": "allow"}), clientCallback)
	if p := b.Get(g.base + "/oauth/authorize?client_id=nobody"); p.Status != 400 || !strings.Contains(p.Body, "ACME Corp") {
		t.Fatalf("error page: %d %s", p.Status, p.Body)
	}
}

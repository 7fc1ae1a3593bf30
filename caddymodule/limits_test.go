// The failure counters of an issuer: shared by its site blocks, kept across reloads.

package caddymodule

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// The counters that slow guessing belong to the issuer, not to a handler
// or a config: sign-in failures through two site blocks serving one
// issuer add up (5 for a user from one address lock it), and a config
// reload — which would otherwise hand a guesser fresh counters — keeps
// the lock.
func TestFailureCountersOutliveReloadsAndSiteBlocks(t *testing.T) {
	g := newGateway(t)
	second := fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t))
	cfg := g.caddyfile(authcodeApp(t, g.base, ""), fmt.Sprintf(authcodeSiteFmt, "")) +
		fmt.Sprintf("\n:%s {\n\toauthgate_server\n}\n", strings.TrimPrefix(second, "http://127.0.0.1:"))
	load := func() {
		t.Helper()
		if err := g.loadJSON(adapt(t, cfg)); err != nil {
			t.Fatal(err)
		}
	}
	load()
	b := testutil.NewBrowser(t)
	signIn := func(base, password string) *testutil.Page {
		t.Helper()
		login := b.Get(strings.Replace(authorizeURL(g), g.base, base, 1))
		if login.Status != 200 || !login.Form.Has("oauthgate_csrf") {
			t.Fatalf("login page at %s: %d", base, login.Status)
		}
		return b.Submit(login, map[string]string{"oauthgate_username": "alice", "oauthgate_password": password, "oauthgate_action": "login"})
	}
	for i, base := range []string{g.base, second, g.base, second, g.base} {
		if p := signIn(base, fmt.Sprint("wrong", i)); p.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d at %s: %d", i, base, p.Status)
		}
	}
	for _, base := range []string{g.base, second} {
		if p := signIn(base, alicePassword); p.Status != http.StatusTooManyRequests {
			t.Fatalf("after 5 failures through two site blocks, at %s: %d, want 429", base, p.Status)
		}
	}
	load()
	for _, base := range []string{g.base, second} {
		if p := signIn(base, alicePassword); p.Status != http.StatusTooManyRequests {
			t.Fatalf("after a reload, at %s: %d, want the lock kept (429)", base, p.Status)
		}
	}
}

// Behind a trusted proxy without trusted_proxies_strict, Caddy takes the
// client address from the left-most X-Forwarded-For entry, which the
// client writes: the per-address limits would count an address of its
// choosing. The first such request is logged, once, naming the option;
// with it, nothing is logged.
func TestLooseTrustedProxiesAreWarned(t *testing.T) {
	for _, strict := range []bool{false, true} {
		g := newGateway(t)
		logFile := filepath.Join(t.TempDir(), "log.json")
		servers := "servers {\n\t\ttrusted_proxies static 127.0.0.0/8\n\t}"
		if strict {
			servers = "servers {\n\t\ttrusted_proxies static 127.0.0.0/8\n\t\ttrusted_proxies_strict\n\t}"
		}
		caddyfile := strings.Replace(g.caddyfile(servers+"\n"+baseApp(g.base, ""), "\toauthgate_server"), "log {\n\t\toutput discard\n\t}",
			"log {\n\t\toutput file "+logFile+"\n\t\tformat json\n\t\tlevel WARN\n\t}", 1)
		setSecrets(t)
		if err := g.loadJSON(adapt(t, caddyfile)); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			resp, _ := call(t, "POST", g.base+"/oauth/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded",
				"X-Forwarded-For": fmt.Sprintf("203.0.113.%d, 198.51.100.1", i), "Authorization": "Basic cmVwb3J0aW5nOndyb25n"}, "grant_type=client_credentials")
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("a wrong secret: %d", resp.StatusCode)
			}
		}
		logs, _ := os.ReadFile(logFile)
		n := strings.Count(string(logs), "trusted_proxies_strict")
		if want := map[bool]int{false: 1, true: 0}[strict]; n != want {
			t.Fatalf("trusted_proxies_strict %v: warned %d times, want %d:\n%s", strict, n, want, logs)
		}
		_ = caddy.Stop()
	}
}

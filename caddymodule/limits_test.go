// The failure counters of an issuer: shared by its site blocks, kept across reloads.

package caddymodule

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

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

// Trusted issuers next to an issuer of our own.

package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
	"golang.org/x/oauth2/clientcredentials"
)

// CONFORMANCE X1
// CONFORMANCE R4: trust blocks next to an issuer of our own — both kinds of
// tokens pass side by side, `issuers` chooses per route (self and a
// trusted issuer by URL), X-OAuth-Issuer tells the upstream which, and a
// trusted issuer's token needs its trust block's audience even where the
// route sets none.
func TestTrustBesideOwnIssuer(t *testing.T) {
	peer := secondOauthgate(t, "peer-api")
	peerWrongAud := secondOauthgate(t, "someone-else")
	g, up := protectedGateway(t, fmt.Sprintf(`trust %s {
			audience peer-api
		}
		trust %s {
			audience peer-api
		}`, peer.URL, peerWrongAud.URL), fmt.Sprintf(`
	oauthgate_server
	route /any/* {
		oauthgate_protect
		reverse_proxy {upstream}
	}
	route /self/* {
		oauthgate_protect {
			issuers self
		}
		reverse_proxy {upstream}
	}
	route /peer/* {
		oauthgate_protect {
			issuers %s
		}
		reverse_proxy {upstream}
	}`, peer.URL))
	own := getToken(t, g, "reporting", reportingSecret, "api_v3")
	peerTok := func(url string) string {
		pc := clientcredentials.Config{ClientID: "peer", ClientSecret: "peer-secret-0123456789", TokenURL: url + "/oauth/token"}
		tok, err := pc.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	theirs, wrongAud := peerTok(peer.URL), peerTok(peerWrongAud.URL)
	for _, c := range []struct {
		path, tok string
		status    int
		issuer    string
	}{
		{"/any/1", own, 200, g.base},
		{"/any/1", theirs, 200, peer.URL},
		{"/self/1", own, 200, g.base},
		{"/self/1", theirs, 401, ""},
		{"/peer/1", theirs, 200, peer.URL},
		{"/peer/1", own, 401, ""},
		{"/any/1", wrongAud, 401, ""},
	} {
		n := up.count()
		resp, _ := call(t, "GET", g.base+c.path, map[string]string{"Authorization": "Bearer " + c.tok, "X-OAuth-Issuer": "forged"}, "")
		if resp.StatusCode != c.status {
			t.Fatalf("%s with the token of %s: %d %q, want %d", c.path, c.issuer, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), c.status)
		}
		if c.status != 200 {
			if up.count() != n {
				t.Fatalf("%s: a refused request reached the upstream", c.path)
			}
			continue
		}
		if got := up.last(t).Header.Values("X-Oauth-Issuer"); strings.Join(got, ",") != c.issuer {
			t.Fatalf("%s: upstream X-OAuth-Issuer %v, want %s", c.path, got, c.issuer)
		}
	}
	// A trust block naming our own issuer is a contradiction.
	err := g.loadErr(baseApp(g.base, fmt.Sprintf("trust %s {\n\t\t\taudience x\n\t\t}", g.base)), "respond ok")
	if err == nil || !strings.Contains(err.Error(), "own issuer") {
		t.Fatalf("trust of our own issuer: %v", err)
	}
}

// A reload closes the unloaded config's connections to its trusted
// issuers at once; without that, each reload left a pool of them open until
// the transport's idle timeout (90 s).
func TestReloadClosesIssuerConnections(t *testing.T) {
	var open *atomic.Int64
	peer := secondOauthgate(t, "peer-api", func(hs *httptest.Server) { open = testutil.OpenConns(hs.Config) })
	pc := clientcredentials.Config{ClientID: "peer", ClientSecret: "peer-secret-0123456789", TokenURL: peer.URL + "/oauth/token"}
	tok, err := pc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections() // the token request's own connection
	for deadline := time.Now().Add(3 * time.Second); open.Load() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the token request's connection is still open")
		}
	}
	g := newGateway(t)
	app := fmt.Sprintf("\toauthgate {\n\t\ttrust %s {\n\t\t\taudience peer-api\n\t\t}\n\t}", peer.URL)
	site := "\toauthgate_protect\n\trespond \"ok\""
	g.load(app, site)
	if resp, _ := call(t, "GET", g.base+"/x", map[string]string{"Authorization": "Bearer " + tok.AccessToken}, ""); resp.StatusCode != 200 {
		t.Fatalf("the peer's token: %d", resp.StatusCode)
	}
	if n := open.Load(); n < 1 {
		t.Fatalf("%d connections from the gateway to its trusted issuer, want them kept", n)
	}
	g.load("", "\trespond \"ok\"")
	for deadline := time.Now().Add(3 * time.Second); open.Load() != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections to the trusted issuer still open after the reload", open.Load())
		}
	}
}

// CONFORMANCE X3: `caddy validate` warns, once per set of issuers, about
// routes whose opaque tokens are introspected at several trusted issuers in
// turn (the first then sees the tokens of all), naming them in the
// order they are asked; a route naming one issuer is not warned about.
func TestIntrospectedInTurnIsWarned(t *testing.T) {
	g := newGateway(t)
	logFile := filepath.Join(t.TempDir(), "log.json")
	a, b := "http://127.0.0.1:1/a", "http://127.0.0.1:1/b"
	app := fmt.Sprintf(`	oauthgate {
		trust %[1]s {
			audience api
			introspect {
				client_id gw
				client_secret {env.OAUTHGATE_TEST_INTROSPECT}
			}
		}
		trust %[2]s {
			audience api
			introspect {
				client_id gw
				client_secret {env.OAUTHGATE_TEST_INTROSPECT}
			}
		}
	}`, a, b)
	t.Setenv("OAUTHGATE_TEST_INTROSPECT", "introspect-secret-0123456789")
	site := fmt.Sprintf(`
	route /all/* {
		oauthgate_protect
		respond "all"
	}
	route /again/* {
		oauthgate_protect
		respond "again"
	}
	route /one/* {
		oauthgate_protect {
			issuers %s
		}
		respond "one"
	}`, b)
	caddyfile := strings.Replace(g.caddyfile(app, site), "log {\n\t\toutput discard\n\t}",
		"log {\n\t\toutput file "+logFile+"\n\t\tformat json\n\t\tlevel WARN\n\t}", 1)
	if err := validate(adapt(t, caddyfile)); err != nil {
		t.Fatal(err)
	}
	logs, _ := os.ReadFile(logFile)
	var warned []string
	for _, line := range bytes.Split(logs, []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && strings.Contains(fmt.Sprint(m["msg"]), "introspected at each of them in turn") {
			warned = append(warned, fmt.Sprint(m["introspected_in_turn"]))
		}
	}
	if len(warned) != 1 || warned[0] != fmt.Sprint([]any{a, b}) {
		t.Fatalf("warnings %q, want one naming [%s %s]:\n%s", warned, a, b, logs)
	}
}

// CONFORMANCE X3: random tokens sent through the gateway cannot make it
// flood a trusted issuer with introspections: past `max_inactive` inactive
// answers in a minute, the address's unknown tokens get 429 with
// Retry-After and no challenge, without a call to the issuer, while
// tokens that need no introspection (the issuer's JWTs, our own) pass.
func TestIntrospectionFloodIsThrottled(t *testing.T) {
	var introspections atomic.Int64
	peer := secondOauthgate(t, "peer-api", func(hs *httptest.Server) {
		h := hs.Config.Handler
		hs.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/introspect") {
				introspections.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})
	t.Setenv("OAUTHGATE_TEST_INTROSPECT", "peer-secret-0123456789")
	g, up := protectedGateway(t, fmt.Sprintf(`trust %s {
			audience peer-api
			introspect {
				endpoint %[1]s/oauth/introspect
				client_id peer
				client_secret {env.OAUTHGATE_TEST_INTROSPECT}
				max_inactive 3
				max_in_flight 8
			}
		}`, peer.URL), `
	oauthgate_server
	route /api/* {
		oauthgate_protect
		reverse_proxy {upstream}
	}`)
	random := func(i int) (*http.Response, string) {
		return call(t, "GET", g.base+"/api/x", map[string]string{"Authorization": fmt.Sprintf("Bearer made-up-token-%d-0123456789", i)}, "")
	}
	for i := range 3 {
		resp, _ := random(i)
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("random token %d: %d %q, want 401 invalid_token", i, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if n := introspections.Load(); n != 3 {
		t.Fatalf("%d introspections for 3 random tokens", n)
	}
	resp, _ := random(3)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || resp.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("a fourth random token: %d, Retry-After %q, WWW-Authenticate %q; want 429 with Retry-After and no challenge",
			resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("WWW-Authenticate"))
	}
	if n := introspections.Load(); n != 3 {
		t.Fatalf("the throttled token was introspected (%d calls)", n)
	}
	pc := clientcredentials.Config{ClientID: "peer", ClientSecret: "peer-secret-0123456789", TokenURL: peer.URL + "/oauth/token"}
	theirs, err := pc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{theirs.AccessToken, getToken(t, g, "reporting", reportingSecret, "api_v3")} {
		if resp, _ := call(t, "GET", g.base+"/api/x", map[string]string{"Authorization": "Bearer " + tok}, ""); resp.StatusCode != 200 {
			t.Fatalf("a token that needs no introspection, from the throttled address: %d", resp.StatusCode)
		}
	}
	if up.count() != 2 {
		t.Fatalf("%d requests reached the upstream, want the 2 good ones", up.count())
	}
}

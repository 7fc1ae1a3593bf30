// The test harness: an in-process Caddy gateway on a loopback port, a recording upstream, request helpers.

package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// adapt turns a Caddyfile into JSON, failing the test on error.
func adapt(t *testing.T, caddyfile string) []byte {
	t.Helper()
	cfg, err := adaptErr(caddyfile)
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v\n%s", err, caddyfile)
	}
	return cfg
}

func adaptErr(caddyfile string) ([]byte, error) {
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
	return cfg, err
}

// gateway is a running in-process Caddy on a free loopback port.
type gateway struct {
	t       *testing.T
	port    int
	base    string
	storage string
}

// globals are the options every test config shares: no admin endpoint, no
// HTTPS, quiet logs and a storage of the test's own.
func (g *gateway) globals(extra string) string {
	return fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %s
	log {
		output discard
	}
	http_port %d
%s
}
`, g.storage, g.port, extra)
}

// newGateway reserves a port and a storage directory.
func newGateway(t *testing.T) *gateway {
	port := testutil.FreePort(t)
	g := &gateway{t: t, port: port, base: fmt.Sprintf("http://127.0.0.1:%d", port), storage: t.TempDir()}
	t.Cleanup(func() { _ = caddy.Stop() })
	return g
}

// load (re)loads the gateway with a global oauthgate block and a site body.
func (g *gateway) load(oauthgate, site string) {
	g.t.Helper()
	if err := g.loadErr(oauthgate, site); err != nil {
		g.t.Fatalf("loading config: %v", err)
	}
}

func (g *gateway) caddyfile(oauthgate, site string) string {
	return g.globals(oauthgate) + fmt.Sprintf("\n:%d {\n%s\n}\n", g.port, site)
}

func (g *gateway) loadErr(oauthgate, site string) error {
	cfg, err := adaptErr(g.caddyfile(oauthgate, site))
	if err != nil {
		return err
	}
	return g.loadJSON(cfg)
}

// loadJSON (re)loads the gateway with a JSON config and waits until the
// new server answers.
func (g *gateway) loadJSON(cfg []byte) error {
	if err := caddy.Load(cfg, true); err != nil {
		return err
	}
	// Kept-alive connections belong to the previous config's server, which
	// is shutting down: new requests must dial the new one.
	http.DefaultClient.CloseIdleConnections()
	// Wait until the server answers on fresh connections, a few times in a
	// row: caddy.Load returns once the old servers have started shutting
	// down (not finished), so one may still accept a connection and then
	// reset it. "OPTIONS *" is answered by net/http itself, before any
	// handler, so the probes leave no trace in metrics or rate limits.
	deadline := time.Now().Add(5 * time.Second)
	for ok := 0; ok < 3; {
		if err := probe(g.port); err != nil {
			ok = 0
			if time.Now().After(deadline) {
				return err
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		ok++
	}
	return nil
}

// probe sends "OPTIONS *" on a new connection and expects net/http's 200.
func probe(port int) error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); err != nil {
		return err
	}
	b := make([]byte, 12)
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if string(b) != "HTTP/1.1 200" {
		return fmt.Errorf("probe: %q", b)
	}
	return nil
}

// upstream records what reached the backend.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, r.Clone(r.Context()))
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"upstream": "ok", "path": r.URL.Path})
	}))
	t.Cleanup(u.Close)
	return u
}

// protectedGateway is the set-up most integration tests share: the test
// secrets, a gateway whose oauthgate app has appExtra in its block, an
// upstream that records requests, and a site body in which {upstream} is
// the upstream's address.
func protectedGateway(t *testing.T, appExtra, site string) (*gateway, *upstream) {
	t.Helper()
	setSecrets(t)
	g := newGateway(t)
	up := newUpstream(t)
	g.load(baseApp(g.base, appExtra), strings.ReplaceAll(site, "{upstream}", up.addr()))
	return g, up
}

func (u *upstream) count() int { u.mu.Lock(); defer u.mu.Unlock(); return len(u.reqs) }

func (u *upstream) last(t *testing.T) *http.Request {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("nothing reached the upstream")
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) addr() string { return strings.TrimPrefix(u.URL, "http://") }

// call sends a request and returns status, headers and body.
func call(t *testing.T, method, url string, headers map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func readAll(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func decodeJSON(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not JSON: %q", body)
	}
	return m
}

// Test fixtures of the authz tests: a clock, a recording store, a configured server and request helpers.

package authz

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	"github.com/oauthgate/caddy-oauthgate/tokenstore/memory"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

const (
	testIssuer = "https://auth.example.com"
	testSecret = "s3cr3t+with/odd:chars%and spaces"
	// testAddr is the client address of checks that do not test per-address limits.
	testAddr = "192.0.2.1"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recordingStore wraps a store and remembers everything written to it.
type recordingStore struct {
	tokenstore.Store
	mu     sync.Mutex
	puts   []tokenstore.Key
	grants []tokenstore.Grant
	gets   int
}

func (r *recordingStore) PutAccess(ctx context.Context, k tokenstore.Key, g tokenstore.Grant) error {
	r.mu.Lock()
	r.puts = append(r.puts, k)
	r.grants = append(r.grants, g)
	r.mu.Unlock()
	return r.Store.PutAccess(ctx, k, g)
}

func (r *recordingStore) GetAccess(ctx context.Context, k tokenstore.Key) (tokenstore.Grant, error) {
	r.mu.Lock()
	r.gets++
	r.mu.Unlock()
	return r.Store.GetAccess(ctx, k)
}

func (r *recordingStore) GetAccessChecked(ctx context.Context, k tokenstore.Key, ids ...string) (tokenstore.Grant, bool, error) {
	r.mu.Lock()
	r.gets++
	r.mu.Unlock()
	return r.Store.GetAccessChecked(ctx, k, ids...)
}

type fixture struct {
	srv     *Server
	clock   *clock
	store   *recordingStore
	clients StaticClients
	keys    *KeySet
}

type fixtureOpt func(*Config)

func newFixture(t testing.TB, opts ...fixtureOpt) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	mem := memory.New(memory.Options{Now: clk.Now})
	t.Cleanup(func() { _ = mem.Close() })
	store := &recordingStore{Store: mem}
	cat, err := NewCatalog([]Scope{
		{Name: "api_v3", Description: "Access the API v3", Default: true},
		{Name: "bcf_v2_1", Description: "BCF 2.1 API"},
		{Name: "admin", Description: "Administration"},
	})
	if err != nil {
		t.Fatal(err)
	}
	reporting := &Client{ID: "reporting", Name: "Reporting", Grants: []string{GrantClientCredentials},
		Scopes: []string{"api_v3", "bcf_v2_1"}, User: "svc-reporting", Audience: []string{"backend"}}
	reporting.SetSecret(HashSecret(testSecret))
	oro := &Client{ID: "oro", Grants: []string{GrantClientCredentials}, Scopes: []string{"api_v3", "bcf_v2_1"},
		AccessTokenTTL: time.Hour}
	oro.SetSecret(HashSecret("oro-secret-0123456789"))
	noCC := &Client{ID: "web", Grants: []string{GrantAuthorizationCode}, Scopes: []string{"api_v3"}}
	noCC.SetSecret(HashSecret("web-secret-0123456789"))
	off := &Client{ID: "off", Grants: []string{GrantClientCredentials}, Scopes: []string{"api_v3"}, Disabled: true}
	off.SetSecret(HashSecret("off-secret-0123456789"))
	clients := StaticClients{"reporting": reporting, "oro": oro, "web": noCC, "off": off}
	key, err := GenerateKey(AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := NewKeySet(key)
	cfg := Config{Issuer: testIssuer, Keys: keys, Scopes: cat, Clients: clients, Store: store, Now: clk.Now}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.FollowRevocations(t.Context())
	return &fixture{srv: srv, clock: clk, store: store, clients: clients, keys: cfg.Keys}
}

func opaque(c *Config) { c.Format = FormatOpaque }

// do sends a request to the server's handler for its path.
func (f *fixture) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h := f.srv.Handler(req.URL.Path)
	if h == nil {
		rec.Code = http.StatusNotFound
		return rec
	}
	h.ServeHTTP(rec, req)
	return rec
}

func formReq(target string, form url.Values) *http.Request {
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func decode(t testing.TB, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("response is not JSON (%d): %q", rec.Code, rec.Body.String())
	}
	return m
}

// wantError asserts an RFC 6749 §5.2 error response.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) map[string]any {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	m := decode(t, rec)
	if m["error"] != code {
		t.Fatalf("error = %v, want %s; body %s", m["error"], code, rec.Body)
	}
	if d, ok := m["error_description"].(string); !ok || d == "" {
		t.Fatalf("error_description missing: %s", rec.Body)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("error response without Cache-Control: no-store")
	}
	return m
}

// issue gets a client_credentials token for reporting.
func (f *fixture) issue(t testing.TB, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	req := formReq(PathToken, form)
	req.SetBasicAuth(url.QueryEscape("reporting"), url.QueryEscape(testSecret))
	rec := f.do(req)
	if rec.Code != http.StatusOK {
		t.Fatalf("token request: %d %s", rec.Code, rec.Body)
	}
	return decode(t, rec)["access_token"].(string)
}

func b64std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// openRedis opens a Redis store (one instance's) on srv, closed at the end
// of the test.
func openRedis(t *testing.T, srv *redistest.Server) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(t.Context(), redisstore.Config{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// disable is a registry change setting a client's disabled flag.
func disable(v bool) func(*tokenstore.Client) error {
	return func(c *tokenstore.Client) error { c.Disabled = v; return nil }
}

// The soak test: mixed load on the built binary, with no unexpected answers, goroutine or heap growth.

package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The bounded soak: the built binary with the memory store under mixed load
// — client_credentials issuance, protected calls, introspection and
// revocation from a few goroutines, loopback only — for 20 seconds, or as
// long as OAUTHGATE_SOAK says:
//
//	OAUTHGATE_SOAK=5m go test ./cmd/caddy -run Soak -v
//
// Afterwards every answer must have been the expected one, and the process's
// goroutines and heap, read from Caddy's admin endpoint, must be back near
// their baseline.

const soakSecret = "soak-secret-0123456789abcdef"

// soakStats counts answers by "operation status".
type soakStats struct {
	mu         sync.Mutex
	counts     map[string]int
	unexpected map[string]int
}

func (s *soakStats) add(op string, got, want int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := fmt.Sprintf("%s %d", op, got)
	s.counts[key]++
	if got != want {
		s.unexpected[fmt.Sprintf("%s: %d, want %d", op, got, want)]++
	}
}

func (s *soakStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []string
	for k, v := range s.counts {
		lines = append(lines, fmt.Sprintf("%-22s %d", k, v))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// soakClient drives the gateway over loopback.
type soakClient struct {
	base  string
	http  *http.Client
	stats *soakStats
}

// do sends a request and returns the status, counting it under op against want.
func (c *soakClient) do(op string, want int, req *http.Request) (int, []byte) {
	resp, err := c.http.Do(req)
	if err != nil {
		c.stats.add(op+" (transport error)", -1, want)
		return -1, nil
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.stats.add(op, resp.StatusCode, want)
	return resp.StatusCode, body
}

func (c *soakClient) form(path string, v url.Values) *http.Request {
	req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("soak", soakSecret)
	return req
}

func (c *soakClient) api(path, tok string) *http.Request {
	req, _ := http.NewRequest("GET", c.base+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req
}

// iteration is one round of the mixed load; n varies what it does.
func (c *soakClient) iteration(n int) {
	status, body := c.do("token", 200, c.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}}))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != 200 || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		return
	}
	c.do("api", 200, c.api("/api/x", tok.AccessToken))
	c.do("api other scope", 403, c.api("/other/x", tok.AccessToken))
	if n%8 == 0 {
		c.do("api no token", 401, c.api("/api/x", ""))
	}
	active := func(want bool) {
		_, body := c.do("introspect", 200, c.form("/oauth/introspect", url.Values{"token": {tok.AccessToken}}))
		var m struct{ Active bool }
		if json.Unmarshal(body, &m) == nil && m.Active != want {
			c.stats.add(fmt.Sprintf("introspect active=%v", m.Active), 0, 1)
		}
	}
	active(true)
	if n%4 == 0 {
		c.do("revoke", 200, c.form("/oauth/revoke", url.Values{"token": {tok.AccessToken}}))
		c.do("api revoked", 401, c.api("/api/x", tok.AccessToken))
		active(false)
	}
}

// soakProbe reads the process's goroutine count and heap from Caddy's
// admin endpoint, after a forced garbage collection.
type soakProbe struct {
	admin  string
	client *http.Client
}

func (p soakProbe) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := p.client.Get("http://" + p.admin + path)
	if err != nil {
		t.Fatalf("admin %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("admin %s: %d %s", path, resp.StatusCode, body)
	}
	return body
}

func (p soakProbe) goroutines(t *testing.T) int {
	t.Helper()
	line, _ := bufio.NewReader(strings.NewReader(string(p.get(t, "/debug/pprof/goroutine?debug=1")))).ReadString('\n')
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total")))
	if err != nil {
		t.Fatalf("goroutine profile header %q", line)
	}
	return n
}

func (p soakProbe) heap(t *testing.T) uint64 {
	t.Helper()
	for range 2 {
		p.get(t, "/debug/pprof/heap?gc=1") // runtime.GC before the profile
	}
	var vars struct {
		Memstats runtime.MemStats `json:"memstats"`
	}
	if err := json.Unmarshal(p.get(t, "/debug/vars"), &vars); err != nil || vars.Memstats.HeapAlloc == 0 {
		t.Fatalf("/debug/vars: %v", err)
	}
	return vars.Memstats.HeapAlloc
}

// CONFORMANCE T5
// CONFORMANCE T7
// CONFORMANCE R2
// CONFORMANCE R6
// CONFORMANCE V1
// CONFORMANCE V2
// CONFORMANCE S1
// CONFORMANCE S3
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	duration := 20 * time.Second
	if s := os.Getenv("OAUTHGATE_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("OAUTHGATE_SOAK=%q: want a Go duration such as 5m", s)
		}
		duration = d
	}
	const workers = 4
	r := startCaddy(t, func(api, admin int) string {
		return soakConfig(admin, api, "access_token_ttl 1m\n\t\tclock_skew 5s")
	})
	probe := soakProbe{admin: r.admin, client: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true}}}
	transport := &http.Transport{MaxIdleConnsPerHost: workers, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	stats := &soakStats{counts: map[string]int{}, unexpected: map[string]int{}}
	client := &soakClient{base: r.base, http: &http.Client{Timeout: 10 * time.Second, Transport: transport}, stats: stats}

	// Warm up (lazy initialisation, pools), then take the baseline.
	for i := range 40 {
		client.iteration(i)
	}
	transport.CloseIdleConnections()
	time.Sleep(500 * time.Millisecond)
	baseG, baseHeap := probe.goroutines(t), probe.heap(t)

	start := time.Now()
	wait, iterations := client.load(workers, start.Add(duration))
	// Midway, the process is busy but must not pile up goroutines.
	time.Sleep(duration / 2)
	midG := probe.goroutines(t)
	wait()
	elapsed := time.Since(start)
	total := 0
	for _, n := range iterations {
		total += n
	}
	transport.CloseIdleConnections()

	// Settle: connections close, goroutines end.
	afterG := 0
	for settle := time.Now().Add(15 * time.Second); ; {
		time.Sleep(500 * time.Millisecond)
		if afterG = probe.goroutines(t); afterG <= baseG+10 || time.Now().After(settle) {
			break
		}
	}
	afterHeap := probe.heap(t)
	stats.mu.Lock()
	revocations := stats.counts["revoke 200"]
	stats.mu.Unlock()
	t.Logf("%d iterations in %v (%.0f/s) from %d goroutines; answers:\n%s", total, elapsed.Round(time.Millisecond),
		float64(total)/elapsed.Seconds(), workers, stats)
	t.Logf("goroutines: baseline %d, under load %d, after %d; heap: baseline %.1f MiB, after %.1f MiB (%d revocations kept in the store)",
		baseG, midG, afterG, float64(baseHeap)/(1<<20), float64(afterHeap)/(1<<20), revocations)

	if len(stats.unexpected) > 0 {
		t.Errorf("unexpected answers: %v", stats.unexpected)
	}
	if total < workers {
		t.Errorf("only %d iterations ran", total)
	}
	if afterG > baseG+10 {
		t.Errorf("goroutines: %d after the load, baseline %d", afterG, baseG)
	}
	if midG > baseG+10*workers+50 {
		t.Errorf("goroutines under load: %d, baseline %d (4 clients)", midG, baseG)
	}
	// Revoked jti entries legitimately stay in the memory store until their
	// token's expiry (1m + 5s skew) and the next sweep (every minute): allow
	// 512 bytes each, plus 16 MiB, for the rest a leak would have to stay
	// under.
	kept := min(revocations, int(float64(revocations)/elapsed.Seconds()*130))
	if limit := baseHeap + 16<<20 + uint64(kept)*512; afterHeap > limit {
		t.Errorf("heap %.1f MiB after the load, baseline %.1f MiB, limit %.1f MiB", float64(afterHeap)/(1<<20),
			float64(baseHeap)/(1<<20), float64(limit)/(1<<20))
	}
	logs := r.logs.String()
	if strings.Contains(logs, "panic") || strings.Contains(logs, `"level":"error"`) {
		t.Errorf("errors in the log:\n%s", logs)
	}
}

// soakConfig is the gateway both soak tests run: a client_credentials
// client and two protected routes; appExtra adds lines to the oauthgate
// block (lifetimes, the store).
func soakConfig(admin, api int, appExtra string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	log {
		level WARN
	}
	oauthgate {
		issuer http://127.0.0.1:%d
		%s
		scope api_v3 "API" default
		scope other "Other API"
		client soak {
			secret_hash %x
			grants client_credentials
			scopes api_v3 other
			default_scopes api_v3
		}
	}
}
http://127.0.0.1:%d {
	oauthgate_server
	route /api/* {
		oauthgate_protect api_v3
		respond "ok {http.auth.user.id}"
	}
	route /other/* {
		oauthgate_protect other
		respond "other"
	}
}
`, admin, api, appExtra, sha256.Sum256([]byte(soakSecret)), api)
}

// load runs workers goroutines of iterations until deadline; wait waits
// for them, and iterations[w] counts worker w's once it has returned.
func (c *soakClient) load(workers int, deadline time.Time) (wait func(), iterations []int) {
	var wg sync.WaitGroup
	iterations = make([]int, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := w; time.Now().Before(deadline); n++ {
				c.iteration(n)
				iterations[w]++
			}
		}()
	}
	return wg.Wait, iterations
}

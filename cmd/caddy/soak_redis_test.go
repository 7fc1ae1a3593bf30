// The soak test on the Redis store: afterwards Redis holds only live tokens and revocations.

package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
)

// The soak on the Redis store with opaque tokens: afterwards Redis holds
// exactly one access key per live token (issued and not revoked) and one
// deny-list entry per revocation — nothing else accumulates — and the
// process is back to its baseline of goroutines.
// CONFORMANCE S3
func TestSoakRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	duration := 15 * time.Second
	if s := os.Getenv("OAUTHGATE_SOAK"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			duration = d
		}
	}
	srv := redistest.Start(t)
	const workers = 4
	r := startCaddy(t, func(api, admin int) string {
		return soakConfig(admin, api, fmt.Sprintf("token_format opaque\n\t\tstore redis {\n\t\t\turl %s\n\t\t}\n\t\taccess_token_ttl %s",
			srv.URL(), duration+time.Hour))
	})
	probe := soakProbe{admin: r.admin, client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	transport := &http.Transport{MaxIdleConnsPerHost: workers}
	stats := &soakStats{counts: map[string]int{}, unexpected: map[string]int{}}
	client := &soakClient{base: r.base, http: &http.Client{Timeout: 10 * time.Second, Transport: transport}, stats: stats}
	for i := range 20 {
		client.iteration(i)
	}
	transport.CloseIdleConnections()
	time.Sleep(300 * time.Millisecond)
	baseG := probe.goroutines(t)

	wait, _ := client.load(workers, time.Now().Add(duration))
	wait()
	transport.CloseIdleConnections()

	stats.mu.Lock()
	issued, revoked := stats.counts["token 200"], stats.counts["revoke 200"]
	unexpected := fmt.Sprint(stats.unexpected)
	stats.mu.Unlock()
	if unexpected != "map[]" {
		t.Errorf("unexpected answers: %s", unexpected)
	}
	count := func(pattern string) int {
		out, err := srv.CLI("--scan", "--pattern", pattern)
		if err != nil {
			t.Fatalf("redis-cli: %v %s", err, out)
		}
		return len(strings.Fields(out))
	}
	access, denied, all := count("oauthgate:access:*"), count("oauthgate:revoked:*"), count("*")
	all -= count("oauthgate:marker") // the data-loss marker (issue 17 item 13)
	t.Logf("%d tokens issued, %d revoked; Redis: %d access keys, %d deny-list keys, %d keys in all", issued, revoked, access, denied, all)
	if issued == 0 || access != issued-revoked || denied != revoked || all != access+denied {
		t.Errorf("Redis holds %d access and %d deny-list keys (%d in all); want %d live tokens and %d revocations",
			access, denied, all, issued-revoked, revoked)
	}
	afterG := 0
	for settle := time.Now().Add(15 * time.Second); ; {
		time.Sleep(500 * time.Millisecond)
		if afterG = probe.goroutines(t); afterG <= baseG+10 || time.Now().After(settle) {
			break
		}
	}
	if afterG > baseG+10 {
		t.Errorf("goroutines: %d after the load, baseline %d", afterG, baseG)
	}
}

// Benchmark measurements beyond throughput: memory per token, live-token scaling and Redis memory.

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/oauthgate/caddy-oauthgate/authz"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	"github.com/oauthgate/caddy-oauthgate/tokenstore/memory"
)

func grantFor(i int, now time.Time) tokenstore.Grant {
	return tokenstore.Grant{ClientID: "bench", Subject: "svc-bench", Scopes: []string{"api"}, Audience: []string{"http://127.0.0.1"},
		IssuedAt: now, ExpiresAt: now.Add(2 * time.Hour), ID: fmt.Sprintf("jti-%08d-abcdefghij", i)}
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// memoryPerToken is the heap cost of one live opaque access token in the
// memory store (100k tokens).
func memoryPerToken() float64 {
	const n = 100_000
	s := memory.New(memory.Options{MaxEntries: 2 * n})
	defer s.Close()
	before := heap()
	now := time.Now()
	for i := range n {
		tok, _ := authz.NewOpaqueToken(rand.Reader, authz.PrefixAccess)
		_ = s.PutAccess(context.Background(), tokenstore.KeyOf(tok), grantFor(i, now))
	}
	after := heap()
	runtime.KeepAlive(s)
	return float64(after-before) / n
}

// scaling is protect throughput with 1,000,000 live opaque tokens in the
// memory store against the same gateway holding 1,000, end to end: wrk
// cycles through every live token of each (bench/tokens.lua), interleaved
// rounds, the ratio of each pair, median.
type scaling struct {
	large, small []float64 // req/s
}

func (s scaling) ratio() float64 { return median(ratios(s.large, s.small)) }

func liveTokenScaling() (scaling, error) {
	var sc scaling
	large := &variant{name: "opaque memory 1M live", format: "opaque", alg: "ES256", maxEntries: 1_100_000}
	small := &variant{name: "opaque memory 1k live", format: "opaque", alg: "ES256"}
	for i, v := range []*variant{large, small} {
		v.port = freePort()
		if profiling {
			v.admin = freePort()
		}
		start(fmt.Sprintf("scale%d", i), gatewayConfig(v, "", ""), v.port)
	}
	began := time.Now()
	fmt.Println("issuing 1,000,000 tokens…")
	if err := issuePool(large, 1_000_000); err != nil {
		return sc, err
	}
	fmt.Printf("  took %s\n", time.Since(began).Round(time.Second))
	if err := issuePool(small, 1_000); err != nil {
		return sc, err
	}
	for _, v := range []*variant{large, small} { // warm-up
		if _, err := wrk(v.base()+"/api/x", "bench/tokens.lua", v.tokens, ""); err != nil {
			return sc, err
		}
	}
	for r := 1; r <= rounds; r++ {
		l, s, err := pair(r,
			func() (float64, error) {
				if profiling && r == 1 {
					defer profile(large)()
				}
				return wrk(large.base()+"/api/x", "bench/tokens.lua", large.tokens, "")
			},
			func() (float64, error) {
				if profiling && r == 1 {
					defer profile(small)()
				}
				return wrk(small.base()+"/api/x", "bench/tokens.lua", small.tokens, "")
			})
		if err != nil {
			return sc, err
		}
		sc.large, sc.small = append(sc.large, l), append(sc.small, s)
		fmt.Printf("  1M live %8.0f req/s  1k live %8.0f  ratio %.3f\n", l, s, l/s)
	}
	return sc, nil
}

// startRedis runs a redis-server on a free port when both it and the redis
// store module exist; it returns "" otherwise.
func startRedis() (string, func()) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		fmt.Println("redis-server not installed: Redis scenarios skipped")
		return "", func() {}
	}
	out, _ := exec.Command("bench/out/caddy", "list-modules").Output()
	if !strings.Contains(string(out), "oauthgate.stores.redis") {
		fmt.Println("this build has no oauthgate.stores.redis: Redis scenarios skipped")
		return "", func() {}
	}
	port := freePort()
	dir := filepath.Join(work, "redis")
	_ = os.MkdirAll(dir, 0o700)
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	procs = append(procs, cmd)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			fail(fmt.Errorf("redis-server did not start"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr, func() {}
}

func redisInfo(addr, field string) float64 {
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command("redis-cli", "-h", host, "-p", port, "INFO", "memory").Output()
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok && k == field {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func redisKeys(addr string) float64 {
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command("redis-cli", "-h", host, "-p", port, "DBSIZE").Output()
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	return f
}

// redisPerToken is Redis's used_memory growth per live opaque access token,
// over the tokens the opaque Redis variant issued (pool plus issuance load).
func redisPerToken(addr string, vs []*variant) float64 {
	if addr == "" {
		return 0
	}
	// Measured on an emptied Redis (the protect and issuance loads are over)
	// around 100,000 new tokens: a batch added to the half million the
	// issuance rounds left would mostly measure Redis doubling its tables.
	var v *variant
	for _, x := range vs {
		if x.redis && !x.cache {
			v = x
		}
	}
	if v == nil {
		return 0
	}
	host, port, _ := net.SplitHostPort(addr)
	if out, err := exec.Command("redis-cli", "-h", host, "-p", port, "FLUSHALL").CombinedOutput(); err != nil {
		fail(fmt.Errorf("FLUSHALL: %v: %s", err, out))
	}
	beforeMem, beforeKeys := redisInfo(addr, "used_memory"), redisKeys(addr)
	if err := issuePool(v, 100_000); err != nil {
		fail(err)
	}
	afterMem, afterKeys := redisInfo(addr, "used_memory"), redisKeys(addr)
	if afterKeys <= beforeKeys {
		return 0
	}
	return (afterMem - beforeMem) / (afterKeys - beforeKeys)
}

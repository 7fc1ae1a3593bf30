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

// scaling compares opaque-token checks with 1k and with 1M live tokens in
// the memory store (in process: the verifier and the store, no HTTP).
type scaling struct{ small, large float64 } // checks per second

func liveTokenScaling() scaling {
	measure := func(live int) float64 {
		s := memory.New(memory.Options{MaxEntries: live + 20_000})
		defer s.Close()
		now := time.Now()
		var pool []string
		for i := range live {
			tok, _ := authz.NewOpaqueToken(rand.Reader, authz.PrefixAccess)
			_ = s.PutAccess(context.Background(), tokenstore.KeyOf(tok), grantFor(i, now))
			if i < 10_000 {
				pool = append(pool, tok)
			}
		}
		k, _ := authz.GenerateKey(authz.AlgES256)
		keys, _ := authz.NewKeySet(k)
		cat, _ := authz.NewCatalog([]authz.Scope{{Name: "api"}})
		c := &authz.Client{ID: "bench"}
		srv, err := authz.NewServer(authz.Config{Issuer: "http://127.0.0.1", Format: authz.FormatOpaque, Keys: keys, Scopes: cat,
			Clients: authz.StaticClients{"bench": c}, Store: s})
		if err != nil {
			fail(err)
		}
		v := srv.Verifier()
		ctx := context.Background()
		start := time.Now()
		n := 0
		for time.Since(start) < 2*time.Second {
			for _, tok := range pool {
				if _, err := v.Verify(ctx, tok); err != nil {
					fail(fmt.Errorf("verify: %v", err))
				}
			}
			n += len(pool)
		}
		return float64(n) / time.Since(start).Seconds()
	}
	return scaling{small: measure(1_000), large: measure(1_000_000)}
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
	// Measured around a fresh batch so other keys do not count.
	var v *variant
	for _, x := range vs {
		if x.redis && !x.cache {
			v = x
		}
	}
	if v == nil {
		return 0
	}
	beforeMem, beforeKeys := redisInfo(addr, "used_memory"), redisKeys(addr)
	if err := issuePool(v); err != nil {
		fail(err)
	}
	afterMem, afterKeys := redisInfo(addr, "used_memory"), redisKeys(addr)
	if afterKeys <= beforeKeys {
		return 0
	}
	return (afterMem - beforeMem) / (afterKeys - beforeKeys)
}

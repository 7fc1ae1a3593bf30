package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

// delivered waits for id on got and returns how long it took from since.
func delivered(t *testing.T, got <-chan string, id string, since time.Time) time.Duration {
	t.Helper()
	select {
	case v := <-got:
		if v != id {
			t.Fatalf("delivered %q, want %q", v, id)
		}
		return time.Since(since)
	case <-time.After(time.Second):
		t.Fatalf("revocation of %s not delivered within 1s", id)
		return 0
	}
}

// CONFORMANCE S6
// Two Stores (two instances) on one Redis: a revocation through one is seen
// by the other's IsRevoked at once and reaches its subscriber within 1s,
// on a standalone server and across the nodes of a Cluster.
func TestRevocationReachesOtherInstance(t *testing.T) {
	t.Parallel()
	for name, cfg := range standaloneAndCluster(t) {
		t.Run(name, func(t *testing.T) {
			cfg.Prefix = "s6-" + name + ":"
			a, b := open(t, cfg), open(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			got := make(chan string, 10)
			if err := b.Subscribe(ctx, func(id string) { got <- id }); err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			// Another prefix is another deployment: not heard here.
			other := cfg
			other.Prefix = "s6-elsewhere:"
			if err := open(t, other).Revoke(ctx, "jti-elsewhere", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := a.Revoke(ctx, "jti-s6", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if ok, err := b.IsRevoked(ctx, "jti-s6"); err != nil || !ok {
				t.Fatalf("IsRevoked on the other instance right after Revoke = %v, %v", ok, err)
			}
			t.Logf("delivered in %v", delivered(t, got, "jti-s6", start))
		})
	}
}

// CONFORMANCE S6
// The subscription survives a Redis restart: it resubscribes by itself,
// reports the gap (what was published meanwhile is lost) and delivers the
// next revocation within 1s.
func TestSubscriptionSurvivesRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, b := open(t, redisstore.Config{URL: srv.URL(), Prefix: "s6r:"}), open(t, redisstore.Config{URL: srv.URL(), Prefix: "s6r:"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got, resync := make(chan string, 10), make(chan struct{}, 10)
	if err := b.SubscribeWithResync(ctx, func(id string) { got <- id }, func() { resync <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	srv.Restart()
	select {
	case <-resync:
	case <-time.After(10 * time.Second):
		t.Fatal("no resubscription within 10s of the restart")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		start := time.Now()
		err := a.Revoke(ctx, "jti-after-restart", time.Now().Add(time.Hour))
		if err == nil {
			t.Logf("delivered in %v", delivered(t, got, "jti-after-restart", start))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Revoke after the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Tests that the marker key detects Redis losing its data, and that a restart keeping it is no loss.

package redis

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
)

// lossLog records what a store reports.
type lossLog struct {
	mu      sync.Mutex
	reasons []string
}

func (l *lossLog) add(r string) { l.mu.Lock(); l.reasons = append(l.reasons, r); l.mu.Unlock() }
func (l *lossLog) n() int       { l.mu.Lock(); defer l.mu.Unlock(); return len(l.reasons) }

// waitLosses waits (bounded) until s reported want losses.
func waitLosses(t *testing.T, s *Store, l *lossLog, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.n() < want || s.DataLosses() < uint64(want) {
		if time.Now().After(deadline) {
			t.Fatalf("%d data losses reported (%v), want %d", l.n(), l.reasons, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Issue 17 item 13: a Redis that loses its data is noticed — flushed under
// a running store, or restarted without its data — by every store sharing
// it, once each; a restart that keeps the data (AOF) is not a loss.
func TestDataLossIsDetected(t *testing.T) {
	srv := redistest.Start(t)
	var logA, logB lossLog
	open := func(l *lossLog) *Store {
		s, err := Open(t.Context(), Config{URL: srv.URL(), Prefix: "loss:", MarkerEvery: 100 * time.Millisecond, OnDataLoss: l.add})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b := open(&logA), open(&logB)   // two instances
	time.Sleep(300 * time.Millisecond) // a few checks: nothing lost yet
	if logA.n()+logB.n() != 0 {
		t.Fatalf("a loss reported for an intact Redis: %v %v", logA.reasons, logB.reasons)
	}

	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer admin.Close()
	if err := admin.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	waitLosses(t, a, &logA, 1)
	waitLosses(t, b, &logB, 1)

	// A restart with its append-only file keeps the data: no loss.
	srv.Stop()
	srv.Restart()
	_ = a.Ping(t.Context()) // reconnect
	_ = b.Ping(t.Context())
	time.Sleep(400 * time.Millisecond)
	if logA.n() != 1 || logB.n() != 1 {
		t.Fatalf("a restart that kept the data was reported as a loss: %v %v", logA.reasons, logB.reasons)
	}

	// A restart without its data: noticed on the new connections.
	srv.Stop()
	entries, _ := os.ReadDir(srv.Dir)
	for _, e := range entries {
		if e.Name() != "redis.log" {
			_ = os.RemoveAll(filepath.Join(srv.Dir, e.Name()))
		}
	}
	srv.Restart()
	_ = a.Ping(t.Context())
	waitLosses(t, a, &logA, 2)
	waitLosses(t, b, &logB, 2)
	if a.DataLosses() != 2 || b.DataLosses() != 2 {
		t.Fatalf("losses counted %d and %d, want 2 each", a.DataLosses(), b.DataLosses())
	}
}

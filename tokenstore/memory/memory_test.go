// Tests of the memory store: the store contract, bounds, the sweeper and client records.

package memory

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	"github.com/oauthgate/caddy-oauthgate/tokenstore/storetest"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newHarness(t *testing.T, opts Options) (*Store, *fakeClock) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	opts.Now = clock.Now
	s := New(opts)
	t.Cleanup(func() { _ = s.Close() })
	return s, clock
}

// CONFORMANCE S1
// CONFORMANCE T9 (store level): the memory store passes the contract.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		s, c := newHarness(t, Options{})
		return storetest.Harness{Store: s, Now: c.Now, Advance: c.Advance}
	})
}

func TestBoundedRefusesWhenFullOfLiveEntries(t *testing.T) {
	s, clock := newHarness(t, Options{MaxEntries: 3})
	ctx := context.Background()
	g := tokenstore.Grant{ClientID: "c", ExpiresAt: clock.Now().Add(time.Minute)}
	for _, tok := range []string{"a", "b", "c"} {
		if err := s.PutAccess(ctx, tokenstore.KeyOf(tok), g); err != nil {
			t.Fatalf("PutAccess %s: %v", tok, err)
		}
	}
	if err := s.PutAccess(ctx, tokenstore.KeyOf("d"), g); !errors.Is(err, tokenstore.ErrFull) {
		t.Fatalf("fourth PutAccess into a store bounded at 3: err = %v, want ErrFull", err)
	}
	// Live entries are never evicted to make room.
	if _, err := s.GetAccess(ctx, tokenstore.KeyOf("a")); err != nil {
		t.Fatalf("a live token was evicted: %v", err)
	}
	// Once they expire, room is made by sweeping.
	clock.Advance(2 * time.Minute)
	if err := s.PutAccess(ctx, tokenstore.KeyOf("d"), tokenstore.Grant{ExpiresAt: clock.Now().Add(time.Minute)}); err != nil {
		t.Fatalf("PutAccess after expiry should sweep and succeed: %v", err)
	}
	if n := s.Len(); n != 1 {
		t.Fatalf("Len after sweep = %d, want 1", n)
	}
	// Revocations are never refused, even when full.
	for _, id := range []string{"r1", "r2", "r3", "r4"} {
		if err := s.Revoke(ctx, id, clock.Now().Add(time.Hour)); err != nil {
			t.Fatalf("Revoke %s on a full store: %v", id, err)
		}
	}
}

func TestSweeperDropsExpiredEntries(t *testing.T) {
	s, clock := newHarness(t, Options{SweepInterval: 5 * time.Millisecond})
	ctx := context.Background()
	_ = s.PutAccess(ctx, tokenstore.KeyOf("x"), tokenstore.Grant{ExpiresAt: clock.Now().Add(time.Second)})
	_ = s.PutCode(ctx, tokenstore.KeyOf("y"), tokenstore.Grant{ExpiresAt: clock.Now().Add(time.Second)}, nil)
	_ = s.Revoke(ctx, "z", clock.Now().Add(time.Second))
	clock.Advance(time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for s.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("sweeper left %d expired entries", s.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// CONFORMANCE M2 (storage): dynamic client records.
func TestClientRecordsContract(t *testing.T) {
	storetest.RunClients(t, func(t *testing.T) tokenstore.ClientRecords {
		s, _ := newHarness(t, Options{})
		return s
	})
}

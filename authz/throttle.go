package authz

import (
	"sync"
	"time"
)

// Throttle counts failures per key (a user, a client IP) in a fixed window
// and blocks a key that reached its limit until the window ends.
type Throttle struct {
	Limit  int
	Window time.Duration
	Now    func() time.Time
	// MaxKeys bounds memory; past it, expired keys are dropped first, then all.
	MaxKeys int

	mu      sync.Mutex
	entries map[string]*window
}

type window struct {
	start    time.Time
	failures int
}

// NewThrottle returns a throttle allowing limit failures per window.
func NewThrottle(limit int, per time.Duration, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{Limit: limit, Window: per, Now: now, MaxKeys: 100_000, entries: map[string]*window{}}
}

// Blocked reports whether key is over its limit, and for how long.
func (t *Throttle) Blocked(key string) (time.Duration, bool) {
	now := t.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.entries[key]
	if !ok || now.Sub(w.start) >= t.Window {
		return 0, false
	}
	if w.failures < t.Limit {
		return 0, false
	}
	return w.start.Add(t.Window).Sub(now), true
}

// Fail records a failure for key.
func (t *Throttle) Fail(key string) {
	now := t.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.entries[key]
	if !ok || now.Sub(w.start) >= t.Window {
		if len(t.entries) >= t.MaxKeys {
			t.sweepLocked(now)
		}
		w = &window{start: now}
		t.entries[key] = w
	}
	w.failures++
}

// Reset forgets key's failures (after a success).
func (t *Throttle) Reset(key string) {
	t.mu.Lock()
	delete(t.entries, key)
	t.mu.Unlock()
}

func (t *Throttle) sweepLocked(now time.Time) {
	for k, w := range t.entries {
		if now.Sub(w.start) >= t.Window {
			delete(t.entries, k)
		}
	}
	if len(t.entries) >= t.MaxKeys {
		clear(t.entries)
	}
}

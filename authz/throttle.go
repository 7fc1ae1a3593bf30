// Throttle: failure counting per key, with locks or doubling delays, in a bounded table.

package authz

import (
	"container/heap"
	"container/list"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
)

// Throttle counts failures per key (an account and address, an address, an
// account) in a fixed window that starts at the key's first failure.
//
// Two kinds: a lock (NewThrottle) refuses the key once it reached Limit
// failures, until the window ends — used only for keys that include the
// caller's address, so failures from one source never lock out another. A
// delay (NewDelayThrottle) lets Limit failures pass, then makes each further
// failure cost a wait that doubles from one second up to MaxDelay — used for
// the account alone, which strangers can name.
//
// The table holds at most MaxKeys keys. When it is full, the key whose last
// failure is oldest goes first; a key that is locked or waiting now is never
// dropped, so filling the table never clears a limit. If every key is, a
// new key's failures are not recorded until the first lock ends — the new
// key is not refused by Attempt: refusing every key without failures would
// let whoever filled the table shut out everyone else, and the other
// throttles of an attempt (address, account) still count those failures.
// Take, which has no others, refuses it.
//
// Attempts that run at once can be counted before they end (Running):
// Attempt then refuses a key while the attempts under way could reach its
// limit (past the limit of a delay, one at a time), so a burst of
// concurrent guesses cannot outrun the count that the first of them would
// have stopped.
type Throttle struct {
	Limit    int
	Window   time.Duration
	MaxDelay time.Duration // 0: a lock; > 0: a growing delay
	Now      func() time.Time
	MaxKeys  int
	Running  Running

	mu      sync.Mutex
	entries map[string]*entry
	idle    list.List      // of *entry, not blocked now; oldest last failure first
	blocked lockHeap       // blocked (or recently so) entries, soonest end first
	running map[string]int // attempts under way per key (Attempt to Done)
}

// Running says when attempts under way count against a throttle's limit.
type Running int

const (
	// RunningAlways: every attempt under way (sign-ins: people do not
	// sign in many times at once).
	RunningAlways Running = iota
	// RunningAfterFailure: before the key's window has a failure, up to
	// burstFactor × Limit attempts may run at once; after it, every
	// attempt under way counts. A machine client with its right secret
	// asks for tokens in parallel and never fails, so it is held up only
	// past that many at once; a guesser's first burst is bounded, and
	// after its first failure it is counted like a sign-in.
	RunningAfterFailure
	// RunningIgnored: only ended attempts count (a key that strangers can
	// name, where waiting for others' attempts would let them hold it).
	RunningIgnored
)

// burstFactor bounds, as a multiple of the limit, the attempts that may
// run at once on a RunningAfterFailure key without a failure.
const burstFactor = 4

// busyWait is the Retry-After of an attempt refused because others of its
// key are under way: they end within a password check.
const busyWait = time.Second

type entry struct {
	key      string
	start    time.Time // first failure of the window
	failures int
	until    time.Time // blocked before this instant
	elem     *list.Element
	index    int // in blocked, or -1
}

// NewThrottle returns a throttle that locks a key for the rest of the window
// once it has limit failures.
func NewThrottle(limit int, per time.Duration, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{Limit: limit, Window: per, Now: now, MaxKeys: 100_000, entries: map[string]*entry{}, running: map[string]int{}}
}

// NewDelayThrottle returns a throttle that lets limit failures per window
// pass and then delays each further attempt by 1 s, 2 s, 4 s … up to maxDelay
// after the last failure: it slows guessing without ever locking the key.
func NewDelayThrottle(limit int, per, maxDelay time.Duration, now func() time.Time) *Throttle {
	t := NewThrottle(limit, per, now)
	t.MaxDelay = maxDelay
	return t
}

// Attempt starts an attempt for key unless the key must wait (and says
// how long): when it is blocked, or when the attempts under way would
// reach its limit should they all fail. An attempt started must be ended
// by Done.
func (t *Throttle) Attempt(key string) (time.Duration, bool) {
	now := t.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if wait, blocked := t.blockedLocked(key, now); blocked {
		return wait, true
	}
	if t.Running == RunningIgnored {
		return 0, false
	}
	if n := t.running[key]; n > 0 {
		failures := 0
		if e, ok := t.entries[key]; ok && now.Sub(e.start) < t.Window {
			failures = e.failures
		}
		limit := t.Limit
		if failures == 0 && t.Running == RunningAfterFailure {
			limit = burstFactor * t.Limit
		}
		if failures+n >= limit {
			return busyWait, true
		}
	}
	t.running[key]++
	return 0, false
}

// Done ends an attempt that Attempt started; failed records a failure.
func (t *Throttle) Done(key string, failed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := t.running[key]; n > 1 {
		t.running[key] = n - 1
	} else if n == 1 {
		delete(t.running, key)
	}
	if failed {
		t.failLocked(key, t.Now())
	}
}

// Take counts an attempt that always counts (a registration) unless the
// key must wait: the check and the count are one step. Unlike Attempt, a
// new key is refused while the table is all locks: nothing else would
// count it, and the refusal holds up only what Take guards.
func (t *Throttle) Take(key string) (time.Duration, bool) {
	now := t.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if wait, blocked := t.blockedLocked(key, now); blocked {
		return wait, true
	}
	if _, ok := t.entries[key]; !ok && len(t.entries) >= t.MaxKeys && !t.evictLocked(now) {
		return t.blocked[0].until.Sub(now), true
	}
	t.failLocked(key, now)
	return 0, false
}

// throttled is one key of one throttle, for an attempt counted by several.
type throttled struct {
	t   *Throttle
	key string
}

// startAll starts one attempt of every throttle in ks, unless one of them
// says to wait (and how long): then none is left running. end ends them
// all, as failures when failed.
func startAll(ks []throttled) (end func(failed bool), wait time.Duration, blocked bool) {
	for i, k := range ks {
		if wait, blocked := k.t.Attempt(k.key); blocked {
			for _, started := range ks[:i] {
				started.t.Done(started.key, false)
			}
			return nil, wait, true
		}
	}
	return func(failed bool) {
		for _, k := range ks {
			k.t.Done(k.key, failed)
		}
	}, 0, false
}

// attemptAll runs check as one attempt of every throttle in ks, unless
// one of them says to wait (and how long): then check does not run. The
// attempts end as failures when check says so or panics, so none is ever
// left running, which would hold its keys.
func attemptAll(ks []throttled, check func() (failed bool)) (time.Duration, bool) {
	end, wait, blocked := startAll(ks)
	if blocked {
		return wait, true
	}
	failed := true
	defer func() { end(failed) }()
	failed = check()
	return 0, false
}

func (t *Throttle) blockedLocked(key string, now time.Time) (time.Duration, bool) {
	if e, ok := t.entries[key]; ok && now.Before(e.until) {
		return e.until.Sub(now), true
	}
	return 0, false
}

// Blocked reports whether key must wait, and for how long, without
// starting an attempt.
func (t *Throttle) Blocked(key string) (time.Duration, bool) {
	now := t.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.blockedLocked(key, now)
}

func (t *Throttle) locked(key string) bool {
	_, blocked := t.Blocked(key)
	return blocked
}

// Fail records a failure for key outside any attempt (one that did not
// wait on this throttle, but counts toward it for others).
func (t *Throttle) Fail(key string) {
	now := t.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failLocked(key, now)
}

func (t *Throttle) failLocked(key string, now time.Time) {
	e, ok := t.entries[key]
	if !ok {
		if len(t.entries) >= t.MaxKeys && !t.evictLocked(now) {
			return // the table is all locks: not recorded (see Throttle)
		}
		e = &entry{key: key, start: now, index: -1}
		e.elem = t.idle.PushBack(e)
		t.entries[key] = e
	} else if now.Sub(e.start) >= t.Window {
		e.start, e.failures, e.until = now, 0, time.Time{}
	}
	e.failures++
	if e.failures < t.Limit {
		if e.index >= 0 {
			heap.Remove(&t.blocked, e.index)
			e.elem = t.idle.PushBack(e)
		}
		t.touchLocked(e)
		return
	}
	if t.MaxDelay > 0 {
		d := t.MaxDelay
		if n := e.failures - t.Limit; n < 30 {
			d = min(time.Second<<n, t.MaxDelay)
		}
		e.until = now.Add(d)
	} else {
		e.until = e.start.Add(t.Window)
	}
	if e.elem != nil {
		t.idle.Remove(e.elem)
		e.elem = nil
	}
	if e.index < 0 {
		heap.Push(&t.blocked, e)
	} else {
		heap.Fix(&t.blocked, e.index)
	}
}

// Reset forgets key's failures (after a success).
func (t *Throttle) Reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.entries[key]; ok {
		t.removeLocked(e)
	}
}

// Len is the number of keys held.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

func (t *Throttle) touchLocked(e *entry) {
	if e.elem != nil {
		t.idle.MoveToBack(e.elem)
	}
}

func (t *Throttle) removeLocked(e *entry) {
	if e.elem != nil {
		t.idle.Remove(e.elem)
		e.elem = nil
	}
	if e.index >= 0 {
		heap.Remove(&t.blocked, e.index)
	}
	delete(t.entries, e.key)
}

// evictLocked makes room for one key: entries whose block has ended go back
// among the idle ones (or go, when their window is over too), then the idle
// entry with the oldest last failure goes. False: every entry is blocked.
func (t *Throttle) evictLocked(now time.Time) bool {
	for len(t.blocked) > 0 && !now.Before(t.blocked[0].until) {
		e := heap.Pop(&t.blocked).(*entry)
		if now.Sub(e.start) >= t.Window {
			delete(t.entries, e.key)
			return true
		}
		e.elem = t.idle.PushFront(e)
	}
	if front := t.idle.Front(); front != nil {
		t.removeLocked(front.Value.(*entry))
		return true
	}
	return false
}

// lockHeap orders blocked entries by the end of their block.
type lockHeap []*entry

func (h lockHeap) Len() int           { return len(h) }
func (h lockHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h lockHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *lockHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *lockHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

// knownSources remembers the (account, address) pairs that authenticated
// successfully lately. An attempt from one of them does not wait on the
// account's own delay, which strangers who know the account's name keep
// running with one failure each time it ends; only a right password or
// secret makes a pair known, so strangers cannot add one. Its own pair and
// address locks still bound it.
type knownSources struct {
	c *otter.Cache[string, struct{}]
}

// knownFor is how long a pair stays known after its last success.
const knownFor = 30 * 24 * time.Hour

func newKnownSources() knownSources {
	return knownSources{otter.Must(&otter.Options[string, struct{}]{
		MaximumSize: 100_000, ExpiryCalculator: otter.ExpiryWriting[string, struct{}](knownFor)})}
}

func (k knownSources) has(pair string) bool {
	_, ok := k.c.GetIfPresent(pair)
	return ok
}

func (k knownSources) add(pair string) { k.c.Set(pair, struct{}{}) }

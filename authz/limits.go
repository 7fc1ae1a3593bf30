// Limits: the failure counters of one issuer, shared by its handlers and across reloads.

package authz

import (
	"fmt"
	"sync"
	"time"
)

// Limits holds the counters that slow guessing at one issuer's endpoints
// — failed client authentications, failed sign-ins, registrations — and
// the sources known to have succeeded. Every handler of the issuer uses
// the same ones, so a second site block serving it does not double what a
// guesser may try; and a config reload keeps them when the new config
// is given the old one's Limits (caddymodule keeps them in a usage pool per
// issuer), so a reload does not clear a lock.
//
// A counter is made the first time it is asked for; asked for with other
// settings (the operator changed a limit), it is replaced by a new one — a
// config still running with the old settings keeps its own until it is
// unloaded. A counter keeps the clock of the server that made it (tests
// give each server Limits of its own).
//
// Known sources stay known across reloads too: one known to a password
// or secret that was changed since is exempt from the account's delay
// only, and still bound by its own address's locks.
type Limits struct {
	mu        sync.Mutex
	throttles map[string]limitsEntry
	known     map[string]knownSources
}

type limitsEntry struct {
	settings string
	t        *Throttle
}

// NewLimits returns empty counters.
func NewLimits() *Limits {
	return &Limits{throttles: map[string]limitsEntry{}, known: map[string]knownSources{}}
}

// throttle returns the counter name with these settings: a lock
// (maxDelay 0) or a delay throttle.
func (l *Limits) throttle(name string, limit int, window, maxDelay time.Duration, running Running, now func() time.Time) *Throttle {
	settings := fmt.Sprintf("%d/%v/%v/%d", limit, window, maxDelay, running)
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.throttles[name]; ok && e.settings == settings {
		return e.t
	}
	t := NewThrottle(limit, window, now)
	t.MaxDelay, t.Running = maxDelay, running
	l.throttles[name] = limitsEntry{settings, t}
	return t
}

// knownSources returns the sources named name.
func (l *Limits) knownSources(name string) knownSources {
	l.mu.Lock()
	defer l.mu.Unlock()
	k, ok := l.known[name]
	if !ok {
		k = newKnownSources()
		l.known[name] = k
	}
	return k
}

// Package memory is the in-process token store: zero setup, one instance.
// Entries expire on read and are swept periodically; the number of live
// entries is bounded so a flood of issuance cannot exhaust memory.
package memory

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// DefaultMaxEntries bounds a store created with MaxEntries 0.
const DefaultMaxEntries = 1_000_000

// Options configure a Store. Zero values take defaults.
type Options struct {
	// MaxEntries bounds live entries of all kinds together.
	MaxEntries int
	// SweepInterval is how often expired entries are dropped (default 1 minute).
	SweepInterval time.Duration
	// Now is the clock (default time.Now); tests inject theirs.
	Now func() time.Time
}

type code struct {
	grant   tokenstore.Grant
	payload []byte
}

type revocation struct{ until time.Time }

// Store implements tokenstore.Store in memory. It is safe for concurrent use.
type Store struct {
	opts       Options
	maxEntries atomic.Int64

	mu      sync.RWMutex
	access  map[tokenstore.Key]tokenstore.Grant
	codes   map[tokenstore.Key]code
	revoked map[string]revocation

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New returns a running store; Close stops its sweeper.
func New(opts Options) *Store {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{
		opts:    opts,
		access:  make(map[tokenstore.Key]tokenstore.Grant),
		codes:   make(map[tokenstore.Key]code),
		revoked: make(map[string]revocation),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	s.maxEntries.Store(int64(opts.MaxEntries))
	go s.sweepLoop()
	return s
}

// Close stops the sweeper. The store stays readable; Close is idempotent.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.stop); <-s.done })
	return nil
}

func (s *Store) sweepLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Sweep drops every expired entry and returns how many remain.
func (s *Store) Sweep() int {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sweepLocked(now)
}

func (s *Store) sweepLocked(now time.Time) int {
	for k, g := range s.access {
		if !now.Before(g.ExpiresAt) {
			delete(s.access, k)
		}
	}
	for k, c := range s.codes {
		if !now.Before(c.grant.ExpiresAt) {
			delete(s.codes, k)
		}
	}
	for id, r := range s.revoked {
		if !now.Before(r.until) {
			delete(s.revoked, id)
		}
	}
	return s.lenLocked()
}

// Len is the number of entries held, expired ones not yet swept included.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lenLocked()
}

func (s *Store) lenLocked() int { return len(s.access) + len(s.codes) + len(s.revoked) }

// SetMaxEntries changes the bound (0 restores the default); entries already
// held are kept.
func (s *Store) SetMaxEntries(n int) {
	if n <= 0 {
		n = DefaultMaxEntries
	}
	s.maxEntries.Store(int64(n))
}

// roomLocked makes room for one more entry or reports ErrFull.
func (s *Store) roomLocked(now time.Time) error {
	limit := int(s.maxEntries.Load())
	if s.lenLocked() < limit {
		return nil
	}
	if s.sweepLocked(now) < limit {
		return nil
	}
	return tokenstore.ErrFull
}

// PutAccess implements tokenstore.AccessTokens.
func (s *Store) PutAccess(_ context.Context, k tokenstore.Key, g tokenstore.Grant) error {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.access[k]; ok && now.Before(old.ExpiresAt) {
		return tokenstore.ErrExists
	}
	if err := s.roomLocked(now); err != nil {
		return err
	}
	s.access[k] = g
	return nil
}

// GetAccess implements tokenstore.AccessTokens.
func (s *Store) GetAccess(_ context.Context, k tokenstore.Key) (tokenstore.Grant, error) {
	s.mu.RLock()
	g, ok := s.access[k]
	s.mu.RUnlock()
	if !ok || !s.opts.Now().Before(g.ExpiresAt) {
		return tokenstore.Grant{}, tokenstore.ErrNotFound
	}
	return g, nil
}

// DeleteAccess implements tokenstore.AccessTokens.
func (s *Store) DeleteAccess(_ context.Context, k tokenstore.Key) error {
	s.mu.Lock()
	delete(s.access, k)
	s.mu.Unlock()
	return nil
}

// PutCode implements tokenstore.Codes.
func (s *Store) PutCode(_ context.Context, k tokenstore.Key, g tokenstore.Grant, payload []byte) error {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.codes[k]; ok && now.Before(old.grant.ExpiresAt) {
		return tokenstore.ErrExists
	}
	if err := s.roomLocked(now); err != nil {
		return err
	}
	s.codes[k] = code{grant: g, payload: append([]byte(nil), payload...)}
	return nil
}

// TakeCode implements tokenstore.Codes: lookup and delete under one lock.
func (s *Store) TakeCode(_ context.Context, k tokenstore.Key) (tokenstore.Grant, []byte, error) {
	now := s.opts.Now()
	s.mu.Lock()
	c, ok := s.codes[k]
	delete(s.codes, k)
	s.mu.Unlock()
	if !ok || !now.Before(c.grant.ExpiresAt) {
		return tokenstore.Grant{}, nil, tokenstore.ErrNotFound
	}
	return c.grant, c.payload, nil
}

// Revoke implements tokenstore.Revocations. A later `until` extends an entry;
// an earlier one never shortens it.
func (s *Store) Revoke(_ context.Context, id string, until time.Time) error {
	now := s.opts.Now()
	if !now.Before(until) {
		return nil // what it denies has expired already
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.revoked[id]; ok {
		if until.After(old.until) {
			s.revoked[id] = revocation{until: until}
		}
		return nil
	}
	// A revocation is never refused for room: dropping it would re-enable a token.
	s.revoked[id] = revocation{until: until}
	return nil
}

// IsRevoked implements tokenstore.Revocations.
func (s *Store) IsRevoked(_ context.Context, id string) (bool, error) {
	s.mu.RLock()
	r, ok := s.revoked[id]
	s.mu.RUnlock()
	return ok && s.opts.Now().Before(r.until), nil
}

// Ping implements tokenstore.Store.
func (s *Store) Ping(context.Context) error { return nil }

// Interface guards
var _ tokenstore.Store = (*Store)(nil)

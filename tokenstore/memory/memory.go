// Package memory is the in-process token store: zero setup, one instance.
// Entries expire on read and are swept periodically; the number of live
// entries is bounded so a flood of issuance cannot exhaust memory.
package memory

import (
	"context"
	"slices"
	"strings"
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

// once is a single-use entry (code or refresh token) and its tombstone.
type once struct {
	grant   tokenstore.Grant
	payload []byte
	used    bool
}

type consent struct {
	scopes []string
	until  time.Time
}

type consentKey struct{ subject, client string }

type revocation struct{ until time.Time }

// Store implements tokenstore.Store in memory. It is safe for concurrent use.
type Store struct {
	opts       Options
	maxEntries atomic.Int64

	mu       sync.RWMutex
	access   *accessTable
	codes    map[tokenstore.Key]once
	refresh  map[tokenstore.Key]once
	consents map[consentKey]consent
	revoked  map[string]revocation
	clients  map[string]tokenstore.Client

	// fullUntil: a sweep found the store full of live entries; until then
	// puts are refused without sweeping again (a full store would otherwise
	// walk every entry on every put).
	fullUntil time.Time

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
		opts:     opts,
		access:   newAccessTable(),
		codes:    make(map[tokenstore.Key]once),
		refresh:  make(map[tokenstore.Key]once),
		consents: make(map[consentKey]consent),
		revoked:  make(map[string]revocation),
		clients:  make(map[string]tokenstore.Client),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
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
	s.access.sweep(now)
	for _, m := range []map[tokenstore.Key]once{s.codes, s.refresh} {
		for k, c := range m {
			if !now.Before(c.grant.ExpiresAt) {
				delete(m, k)
			}
		}
	}
	for k, c := range s.consents {
		if !now.Before(c.until) {
			delete(s.consents, k)
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

func (s *Store) lenLocked() int {
	return s.access.len() + len(s.codes) + len(s.refresh) + len(s.consents) + len(s.revoked)
}

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
	if now.Before(s.fullUntil) {
		return tokenstore.ErrFull
	}
	if s.sweepLocked(now) < limit {
		return nil
	}
	s.fullUntil = now.Add(time.Second)
	return tokenstore.ErrFull
}

// PutAccess implements tokenstore.AccessTokens.
func (s *Store) PutAccess(_ context.Context, k tokenstore.Key, g tokenstore.Grant) error {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.access.expiresAt(k); ok && now.Before(exp) {
		return tokenstore.ErrExists
	}
	if err := s.roomLocked(now); err != nil {
		return err
	}
	s.access.put(k, g)
	return nil
}

// GetAccess implements tokenstore.AccessTokens.
func (s *Store) GetAccess(_ context.Context, k tokenstore.Key) (tokenstore.Grant, error) {
	s.mu.RLock()
	g, ok := s.access.get(k)
	s.mu.RUnlock()
	if !ok || !s.opts.Now().Before(g.ExpiresAt) {
		return tokenstore.Grant{}, tokenstore.ErrNotFound
	}
	return g, nil
}

// DeleteAccess implements tokenstore.AccessTokens.
func (s *Store) DeleteAccess(_ context.Context, k tokenstore.Key) error {
	s.mu.Lock()
	s.access.del(k)
	s.mu.Unlock()
	return nil
}

// PutCode implements tokenstore.Codes.
func (s *Store) PutCode(_ context.Context, k tokenstore.Key, g tokenstore.Grant, payload []byte) error {
	return s.putOnce(s.codes, k, g, payload)
}

// GetCode implements tokenstore.Codes.
func (s *Store) GetCode(_ context.Context, k tokenstore.Key) (tokenstore.Grant, []byte, error) {
	now := s.opts.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.codes[k]
	switch {
	case !ok || !now.Before(e.grant.ExpiresAt):
		return tokenstore.Grant{}, nil, tokenstore.ErrNotFound
	case e.used:
		return e.grant, nil, tokenstore.ErrReused
	}
	return e.grant, append([]byte(nil), e.payload...), nil
}

// TakeCode implements tokenstore.Codes.
func (s *Store) TakeCode(_ context.Context, k tokenstore.Key) (tokenstore.Grant, []byte, error) {
	return s.takeOnce(s.codes, k)
}

// PutRefresh implements tokenstore.RefreshTokens.
func (s *Store) PutRefresh(_ context.Context, k tokenstore.Key, g tokenstore.Grant) error {
	return s.putOnce(s.refresh, k, g, nil)
}

// TakeRefresh implements tokenstore.RefreshTokens.
func (s *Store) TakeRefresh(_ context.Context, k tokenstore.Key) (tokenstore.Grant, error) {
	g, _, err := s.takeOnce(s.refresh, k)
	return g, err
}

// GetRefresh implements tokenstore.RefreshTokens.
func (s *Store) GetRefresh(_ context.Context, k tokenstore.Key) (tokenstore.Grant, error) {
	s.mu.RLock()
	e, ok := s.refresh[k]
	s.mu.RUnlock()
	if !ok || e.used || !s.opts.Now().Before(e.grant.ExpiresAt) {
		return tokenstore.Grant{}, tokenstore.ErrNotFound
	}
	return e.grant, nil
}

// DeleteRefresh implements tokenstore.RefreshTokens.
func (s *Store) DeleteRefresh(_ context.Context, k tokenstore.Key) error {
	s.mu.Lock()
	delete(s.refresh, k)
	s.mu.Unlock()
	return nil
}

func (s *Store) putOnce(m map[tokenstore.Key]once, k tokenstore.Key, g tokenstore.Grant, payload []byte) error {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := m[k]; ok && now.Before(old.grant.ExpiresAt) {
		return tokenstore.ErrExists
	}
	if err := s.roomLocked(now); err != nil {
		return err
	}
	m[k] = once{grant: g, payload: append([]byte(nil), payload...)}
	return nil
}

// takeOnce redeems under the write lock: the first caller flips used, every
// other one sees it set.
func (s *Store) takeOnce(m map[tokenstore.Key]once, k tokenstore.Key) (tokenstore.Grant, []byte, error) {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := m[k]
	if !ok || !now.Before(e.grant.ExpiresAt) {
		return tokenstore.Grant{}, nil, tokenstore.ErrNotFound
	}
	if e.used {
		return e.grant, nil, tokenstore.ErrReused
	}
	payload := e.payload
	e.used, e.payload = true, nil
	m[k] = e
	return e.grant, payload, nil
}

// PutConsent implements tokenstore.Consents.
func (s *Store) PutConsent(_ context.Context, subject, clientID string, scopes []string, until time.Time) error {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ck := consentKey{subject, clientID}
	if _, ok := s.consents[ck]; !ok {
		if err := s.roomLocked(now); err != nil {
			return err
		}
	}
	s.consents[ck] = consent{scopes: append([]string(nil), scopes...), until: until}
	return nil
}

// GetConsent implements tokenstore.Consents.
func (s *Store) GetConsent(_ context.Context, subject, clientID string) ([]string, error) {
	s.mu.RLock()
	c, ok := s.consents[consentKey{subject, clientID}]
	s.mu.RUnlock()
	if !ok || !s.opts.Now().Before(c.until) {
		return nil, tokenstore.ErrNotFound
	}
	return append([]string(nil), c.scopes...), nil
}

// DeleteConsent implements tokenstore.Consents.
func (s *Store) DeleteConsent(_ context.Context, subject, clientID string) error {
	s.mu.Lock()
	delete(s.consents, consentKey{subject, clientID})
	s.mu.Unlock()
	return nil
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

// IsRevokedAny implements tokenstore.RevokedAny.
func (s *Store) IsRevokedAny(_ context.Context, ids ...string) (bool, error) {
	now := s.opts.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.revokedLocked(now, ids), nil
}

func (s *Store) revokedLocked(now time.Time, ids []string) bool {
	for _, id := range ids {
		if r, ok := s.revoked[id]; ok && id != "" && now.Before(r.until) {
			return true
		}
	}
	return false
}

// GetAccessChecked implements tokenstore.AccessChecker.
func (s *Store) GetAccessChecked(_ context.Context, k tokenstore.Key, ids ...string) (tokenstore.Grant, bool, error) {
	now := s.opts.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	g, ok := s.access.get(k)
	if !ok || !now.Before(g.ExpiresAt) {
		return tokenstore.Grant{}, false, tokenstore.ErrNotFound
	}
	return g, s.revokedLocked(now, ids), nil
}

// FollowRevocations implements tokenstore.RevocationFeed: a memory store
// is this instance's alone, so every revocation is made here and the feed
// is always up.
func (s *Store) FollowRevocations(_ context.Context, f tokenstore.RevocationFollower) { f.FeedUp() }

// CreateClient implements tokenstore.ClientRecords.
func (s *Store) CreateClient(_ context.Context, c tokenstore.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return tokenstore.ErrExists
	}
	s.clients[c.ID] = cloneClient(c)
	return nil
}

// UpdateClient implements tokenstore.ClientRecords.
func (s *Store) UpdateClient(_ context.Context, c tokenstore.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; !ok {
		return tokenstore.ErrNotFound
	}
	s.clients[c.ID] = cloneClient(c)
	return nil
}

// GetClient implements tokenstore.ClientRecords.
func (s *Store) GetClient(_ context.Context, id string) (tokenstore.Client, error) {
	s.mu.RLock()
	c, ok := s.clients[id]
	s.mu.RUnlock()
	if !ok {
		return tokenstore.Client{}, tokenstore.ErrNotFound
	}
	return cloneClient(c), nil
}

// ListClients implements tokenstore.ClientRecords.
func (s *Store) ListClients(context.Context) ([]tokenstore.Client, error) {
	s.mu.RLock()
	out := make([]tokenstore.Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, cloneClient(c))
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b tokenstore.Client) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteClient implements tokenstore.ClientRecords.
func (s *Store) DeleteClient(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[id]; !ok {
		return tokenstore.ErrNotFound
	}
	delete(s.clients, id)
	return nil
}

// cloneClient copies the slices so callers never share them with the store.
func cloneClient(c tokenstore.Client) tokenstore.Client {
	c.RedirectURIs, c.Grants, c.Scopes = slices.Clone(c.RedirectURIs), slices.Clone(c.Grants), slices.Clone(c.Scopes)
	c.DefaultScopes, c.Audience = slices.Clone(c.DefaultScopes), slices.Clone(c.Audience)
	return c
}

// Ping implements tokenstore.Store.
func (s *Store) Ping(context.Context) error { return nil }

// Interface guards
var (
	_ tokenstore.Store = (*Store)(nil)
)

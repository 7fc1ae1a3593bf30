// The verified-token cache: repeated tokens cost a lookup, and a revocation empties what it denies.

package authz

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// DefaultVerifyCacheSize is how many verified tokens are cached unless
// configured otherwise.
const DefaultVerifyCacheSize = 100_000

// verifyCache remembers verified access tokens so a repeated token costs a
// hash lookup instead of a signature check or a store round trip. Entries
// are keyed by the SHA-256 of the token (the verifier accepts one spelling
// per token), bounded in number, and die with their token.
//
// It never holds a token its instance was told is revoked: a revocation of
// a token id, a family or a client removes their entries, found through an
// index kept with the cache, and a verification that overlapped any
// revocation is not cached. While a shared store's revocation feed is down
// (live false) the cache neither answers nor fills, and it is emptied
// before it answers again.
type verifyCache struct {
	tokens  *otter.Cache[cacheKey, *cachedToken]
	clients *otter.Cache[string, *Client]

	// mu orders every change of tokens and the index against revocations.
	mu       sync.Mutex
	byID     map[string]*cachedToken              // token id (jti) → its entry
	byFamily map[string]map[*cachedToken]struct{} // family id → its entries
	byClient map[string]map[*cachedToken]struct{} // client id → its entries
	// epoch counts revocations and flushes; a verification that started
	// in another epoch is not cached. Written under mu.
	epoch atomic.Uint64
	live  atomic.Bool
}

// clientCacheTTL bounds how long a client looked up for the verifier is
// trusted without a change notice (one made to the store by something other
// than a registry).
const clientCacheTTL = 10 * time.Second

type cacheKey [sha256.Size]byte

// cachedToken is one verified token. Its fields never change after it is
// cached, except revoked.
type cachedToken struct {
	p          *Principal
	exp, iat   time.Time
	ttl        time.Duration
	id, family string
	revoked    atomic.Bool
	key        cacheKey
}

// newVerifyCache returns a cache that answers once setLive(true).
func newVerifyCache(size int) *verifyCache {
	c := &verifyCache{
		byID:     map[string]*cachedToken{},
		byFamily: map[string]map[*cachedToken]struct{}{},
		byClient: map[string]map[*cachedToken]struct{}{},
		clients: otter.Must(&otter.Options[string, *Client]{
			MaximumSize:      10_000,
			ExpiryCalculator: otter.ExpiryWriting[string, *Client](clientCacheTTL),
		}),
	}
	c.tokens = otter.Must(&otter.Options[cacheKey, *cachedToken]{
		MaximumSize: size,
		ExpiryCalculator: otter.ExpiryCreatingFunc(func(e otter.Entry[cacheKey, *cachedToken]) time.Duration {
			return e.Value.ttl
		}),
		// Deletion events run on their own goroutine (otter's default
		// executor), so taking mu here never waits on a caller holding it.
		OnDeletion: func(e otter.DeletionEvent[cacheKey, *cachedToken]) {
			c.mu.Lock()
			c.unindex(e.Value)
			c.mu.Unlock()
		},
	})
	return c
}

// begin returns the epoch a verification starts in, to be handed to put.
func (c *verifyCache) begin() uint64 { return c.epoch.Load() }

// get returns the principal of tok when it is cached, unrevoked and
// unexpired at now (with skew), and the cache is live.
func (c *verifyCache) get(k cacheKey, now time.Time, skew time.Duration) (*cachedToken, bool) {
	if !c.live.Load() {
		return nil, false
	}
	t, ok := c.tokens.GetIfPresent(k)
	if !ok || t.revoked.Load() || !now.Before(t.exp.Add(skew)) {
		return nil, false
	}
	return t, true
}

// put caches a token verified at now, unless a revocation or a flush
// happened since epoch, or the cache is not live.
func (c *verifyCache) put(k cacheKey, id *Identity, now time.Time, epoch uint64) {
	ttl := id.ExpiresAt.Sub(now)
	if ttl <= 0 || id.ID == "" {
		return
	}
	t := &cachedToken{p: id.Principal, exp: id.ExpiresAt, iat: id.IssuedAt, ttl: ttl, id: id.ID, family: id.FamilyID, key: k}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch.Load() != epoch || !c.live.Load() {
		return
	}
	if old := c.byID[t.id]; old != nil {
		// The same token verified twice at once: keep one entry.
		return
	}
	c.byID[t.id] = t
	addTo(c.byFamily, t.family, t)
	addTo(c.byClient, t.p.ClientID, t)
	c.tokens.Set(k, t)
}

// revoke removes the entries of a token id or family id, and of a client
// when client is set.
func (c *verifyCache) revoke(id string, client bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch.Add(1)
	var set map[*cachedToken]struct{}
	if client {
		set = c.byClient[id]
		c.clients.Invalidate(id)
	} else {
		if t := c.byID[id]; t != nil {
			c.drop(t)
		}
		set = c.byFamily[id]
	}
	for t := range set {
		c.drop(t)
	}
}

// drop marks t revoked, takes it out of the index and the cache. mu held.
func (c *verifyCache) drop(t *cachedToken) {
	t.revoked.Store(true)
	c.unindex(t)
	c.tokens.Invalidate(t.key)
}

// unindex removes t from the index, leaving any other entry of its ids.
// mu held.
func (c *verifyCache) unindex(t *cachedToken) {
	if c.byID[t.id] == t {
		delete(c.byID, t.id)
	}
	removeFrom(c.byFamily, t.family, t)
	removeFrom(c.byClient, t.p.ClientID, t)
}

// setLive switches the cache off (false: the revocation feed is down) or
// empties it and switches it on (true: the feed is back and nothing that
// was revoked meanwhile can still be cached).
func (c *verifyCache) setLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch.Add(1)
	if !live {
		c.live.Store(false)
		return
	}
	c.tokens.InvalidateAll()
	c.clients.InvalidateAll()
	clear(c.byID)
	clear(c.byFamily)
	clear(c.byClient)
	c.live.Store(true)
}

func addTo(m map[string]map[*cachedToken]struct{}, id string, t *cachedToken) {
	if id == "" {
		return
	}
	s := m[id]
	if s == nil {
		s = map[*cachedToken]struct{}{}
		m[id] = s
	}
	s[t] = struct{}{}
}

func removeFrom(m map[string]map[*cachedToken]struct{}, id string, t *cachedToken) {
	s := m[id]
	if s == nil {
		return
	}
	delete(s, t)
	if len(s) == 0 {
		delete(m, id)
	}
}

package authz

import (
	"hash/maphash"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"
	"weak"

	"github.com/maypok86/otter/v2"
)

// verifyCache remembers verified access tokens so a repeated token costs a
// hash lookup instead of a signature check or a store round trip. It is
// keyed by the decoded signature (JWT) or the token's SHA-256 (opaque) —
// never the raw string, which base64 padding bits could spell several ways —
// bounded in size, and entries die with their token. Revocations known to
// this instance (its own, and those other instances publish) are kept in a
// local set the cached path checks, so a revoked token is refused at once.
type verifyCache struct {
	tokens  *tokenTable
	revoked *otter.Cache[uint64, struct{}]
	clients *otter.Cache[string, *Client]
	seed    maphash.Seed
	// principals shares one Principal among the cached tokens of a grant.
	principals principalTable
}

// clientCacheTTL bounds how long a client looked up for the verifier is
// trusted without a change notice (one lost on the feed, or made to the
// store by something other than a registry).
const clientCacheTTL = 10 * time.Second

type cacheKey [32]byte

// cacheEntry is one cached token: its shared principal and numbers (see
// tokenTable), no per-token strings.
type cacheEntry struct {
	p *Principal
	tokenFacts
}

type tokenFacts struct {
	// input and sig identify the exact token: the signing input and the
	// whole signature (JWT), or the token (opaque).
	input, sig uint64
	// exp and iat are Unix nanoseconds.
	exp, iat int64
	// id and family are the hashes (idHash) of the token's id and family
	// id that the local deny-list is keyed by; 0 for none.
	id, family uint64
}

func newVerifyCache(size int) *verifyCache {
	return &verifyCache{
		tokens: newTokenTable(size),
		revoked: otter.Must(&otter.Options[uint64, struct{}]{
			MaximumSize: max(size, 10_000),
			// A revocation only needs to outlive the cached tokens it denies;
			// the store keeps the authoritative deny-list.
			ExpiryCalculator: otter.ExpiryCreating[uint64, struct{}](24 * time.Hour),
		}),
		clients: otter.Must(&otter.Options[string, *Client]{
			MaximumSize:      10_000,
			ExpiryCalculator: otter.ExpiryWriting[string, *Client](clientCacheTTL),
		}),
		seed:       maphash.MakeSeed(),
		principals: principalTable{m: map[principalKey]weak.Pointer[Principal]{}},
	}
}

// idHash keys the local deny-list: 0 for no id, never 0 for one. Two ids
// sharing a hash would only make a cached token miss the cache and be
// checked in full.
func (c *verifyCache) idHash(id string) uint64 {
	if id == "" {
		return 0
	}
	return maphash.String(c.seed, id) | 1
}

// bytesOf views a string's bytes without copying (read-only use).
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// tokenRef is what the cache knows a token by: its key and the hashes of
// its exact spelling, derived once per check (ref) for the lookup and, on a
// miss, the store.
type tokenRef struct {
	k          cacheKey
	input, sig uint64
	ok         bool // false: tok has no cacheable shape
}

// ref derives tok's cache key and identity hashes without allocating.
func (c *verifyCache) ref(tok string) tokenRef {
	if strings.HasPrefix(tok, PrefixAccess) {
		return tokenRef{k: sha256Sum(tok), input: maphash.String(c.seed, tok), ok: true}
	}
	dot := strings.LastIndexByte(tok, '.')
	if dot < 0 || len(tok)-dot-1 > 700 {
		return tokenRef{}
	}
	var buf [512]byte
	var r tokenRef
	n, err := b64.Decode(buf[:], bytesOf(tok[dot+1:]))
	if err != nil || n < len(r.k) {
		return tokenRef{}
	}
	copy(r.k[:], buf[:len(r.k)])
	r.input, r.sig, r.ok = maphash.String(c.seed, tok[:dot]), maphash.Bytes(c.seed, buf[:n]), true
	return r
}

// get returns the cached entry of r when it is known, unexpired at now
// (with skew), and not locally revoked.
func (c *verifyCache) get(r tokenRef, now time.Time, skew time.Duration) (cacheEntry, bool) {
	if !r.ok {
		return cacheEntry{}, false
	}
	e, ok := c.tokens.get(r.k)
	if !ok || e.input != r.input || e.sig != r.sig || now.UnixNano() >= e.exp+int64(skew) {
		return cacheEntry{}, false
	}
	if c.isRevoked(e.id) || c.isRevoked(e.family) {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *verifyCache) isRevoked(h uint64) bool {
	if h == 0 {
		return false
	}
	_, ok := c.revoked.GetIfPresent(h)
	return ok
}

// put caches a verified token at now and returns its shared principal.
func (c *verifyCache) put(r tokenRef, id *Identity, now time.Time) *Principal {
	p := c.principals.intern(id.Principal)
	if r.ok {
		c.tokens.put(r.k, cacheEntry{p: p, tokenFacts: tokenFacts{input: r.input, sig: r.sig, exp: id.ExpiresAt.UnixNano(),
			iat: id.IssuedAt.UnixNano(), id: c.idHash(id.ID), family: c.idHash(id.FamilyID)}}, now.UnixNano())
	}
	return p
}

// forget records a revoked token or family id.
func (c *verifyCache) forget(id string) {
	if h := c.idHash(id); h != 0 {
		c.revoked.Set(h, struct{}{})
	}
}

// flush drops every cached token: after a gap in the revocation feed, what
// was revoked meanwhile is unknown here.
func (c *verifyCache) flush() {
	c.tokens.clear()
	c.clients.InvalidateAll()
}

// principalTable interns principals: the cached tokens of one grant (a
// service's client_credentials tokens, a user's tokens for one client) share
// one Principal, packed into a few allocations. It holds them weakly; a
// principal no cached token uses any more is collected and its entry goes.
type principalTable struct {
	mu sync.Mutex
	m  map[principalKey]weak.Pointer[Principal]
}

type principalKey struct{ subject, clientID, scope, audience string }

func (t *principalTable) intern(p *Principal) *Principal {
	k := principalKey{p.Subject, p.ClientID, p.Scope, p.AudienceString}
	t.mu.Lock()
	defer t.mu.Unlock()
	if w, ok := t.m[k]; ok {
		// The key is exact for scopes (they hold no spaces) but not for an
		// audience whose values do: compare the lists themselves.
		if q := w.Value(); q != nil && slices.Equal(q.Scopes, p.Scopes) && slices.Equal(q.Audience, p.Audience) {
			return q
		}
		if w.Value() != nil {
			return p // an ambiguous audience: this token keeps its own
		}
	}
	q := packPrincipal(p)
	w := weak.Make(q)
	k = principalKey{q.Subject, q.ClientID, q.Scope, q.AudienceString}
	t.m[k] = w
	runtime.AddCleanup(q, t.drop, principalRef{k, w})
	return q
}

type principalRef struct {
	k principalKey
	w weak.Pointer[Principal]
}

// drop removes a collected principal's entry, unless it was replaced.
func (t *principalTable) drop(r principalRef) {
	t.mu.Lock()
	if t.m[r.k] == r.w {
		delete(t.m, r.k)
	}
	t.mu.Unlock()
}

// packPrincipal copies p into one string and one slice allocation (plus its
// boxed placeholder values), where a decoded token has one per field.
func packPrincipal(p *Principal) *Principal {
	parts := make([]string, 0, 4+len(p.Scopes)+len(p.Audience))
	parts = append(parts, p.Subject, p.ClientID, p.Scope, p.AudienceString)
	parts = append(parts, p.Scopes...)
	parts = append(parts, p.Audience...)
	n := 0
	for _, s := range parts {
		n += len(s)
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range parts {
		b.WriteString(s)
	}
	blob := b.String()
	for i, s := range parts {
		parts[i], blob = blob[:len(s)], blob[len(s):]
	}
	q := &Principal{Subject: parts[0], ClientID: parts[1], Scope: parts[2], AudienceString: parts[3]}
	lists := parts[4:]
	if len(p.Scopes) > 0 {
		q.Scopes = lists[:len(p.Scopes):len(p.Scopes)]
	}
	if len(p.Audience) > 0 {
		q.Audience = lists[len(p.Scopes):]
	}
	q.boxed = [3]any{q.Subject, q.ClientID, q.Scope}
	return q
}

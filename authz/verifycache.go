package authz

import (
	"hash/maphash"
	"strings"
	"time"
	"unsafe"

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
	tokens  *otter.Cache[cacheKey, *cacheEntry]
	revoked *otter.Cache[string, struct{}]
	clients *otter.Cache[string, *Client]
	seed    maphash.Seed
}

// clientCacheTTL bounds how long a client looked up for the verifier is
// trusted without a change notice (one lost on the feed, or made to the
// store by something other than a registry).
const clientCacheTTL = 10 * time.Second

type cacheKey [32]byte

type cacheEntry struct {
	id *Identity
	// input and sig identify the exact token: the signing input and the
	// whole signature (JWT), or the token (opaque).
	input, sig uint64
}

func newVerifyCache(size int) *verifyCache {
	return &verifyCache{
		tokens: otter.Must(&otter.Options[cacheKey, *cacheEntry]{
			MaximumSize: size,
			ExpiryCalculator: otter.ExpiryCreatingFunc(func(e otter.Entry[cacheKey, *cacheEntry]) time.Duration {
				return time.Until(e.Value.id.ExpiresAt)
			}),
		}),
		revoked: otter.Must(&otter.Options[string, struct{}]{
			MaximumSize: max(size, 10_000),
			// A revocation only needs to outlive the cached tokens it denies;
			// the store keeps the authoritative deny-list.
			ExpiryCalculator: otter.ExpiryCreating[string, struct{}](24 * time.Hour),
		}),
		clients: otter.Must(&otter.Options[string, *Client]{
			MaximumSize:      10_000,
			ExpiryCalculator: otter.ExpiryWriting[string, *Client](clientCacheTTL),
		}),
		seed: maphash.MakeSeed(),
	}
}

// bytesOf views a string's bytes without copying (read-only use).
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// key derives the cache key and identity hashes of tok without allocating.
func (c *verifyCache) key(tok string) (k cacheKey, input, sig uint64, ok bool) {
	if strings.HasPrefix(tok, PrefixAccess) {
		sum := sha256Sum(tok)
		return sum, maphash.String(c.seed, tok), 0, true
	}
	dot := strings.LastIndexByte(tok, '.')
	if dot < 0 || len(tok)-dot-1 > 700 {
		return k, 0, 0, false
	}
	var buf [512]byte
	n, err := b64.Decode(buf[:], bytesOf(tok[dot+1:]))
	if err != nil || n < len(k) {
		return k, 0, 0, false
	}
	copy(k[:], buf[:len(k)])
	return k, maphash.String(c.seed, tok[:dot]), maphash.Bytes(c.seed, buf[:n]), true
}

// get returns the cached identity of tok when it is known, unexpired at now
// (with skew), and not locally revoked.
func (c *verifyCache) get(tok string, now time.Time, skew time.Duration) (*Identity, bool) {
	k, input, sig, ok := c.key(tok)
	if !ok {
		return nil, false
	}
	e, ok := c.tokens.GetIfPresent(k)
	if !ok || e.input != input || e.sig != sig {
		return nil, false
	}
	if !now.Before(e.id.ExpiresAt.Add(skew)) {
		return nil, false
	}
	if c.isRevoked(e.id.ID) || (e.id.FamilyID != "" && c.isRevoked(e.id.FamilyID)) {
		return nil, false
	}
	return e.id, true
}

func (c *verifyCache) isRevoked(id string) bool {
	_, ok := c.revoked.GetIfPresent(id)
	return ok
}

func (c *verifyCache) put(tok string, id *Identity) {
	if k, input, sig, ok := c.key(tok); ok {
		c.tokens.Set(k, &cacheEntry{id: id, input: input, sig: sig})
	}
}

// forget records a revoked token or family id.
func (c *verifyCache) forget(id string) {
	if id != "" {
		c.revoked.Set(id, struct{}{})
	}
}

// flush drops every cached token: after a gap in the revocation feed, what
// was revoked meanwhile is unknown here.
func (c *verifyCache) flush() {
	c.tokens.InvalidateAll()
	c.clients.InvalidateAll()
}

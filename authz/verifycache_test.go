// Tests of the verified-token cache: what it refuses, and that it never forgets a revocation.

package authz

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

func cached(c *Config)   { c.VerifyCacheSize = 1000 }
func uncached(c *Config) { c.VerifyCacheSize = -1 }

// CONFORMANCE R6
// CONFORMANCE M3
// With the verified-token cache on, everything that must be refused still
// is: revoked tokens (and families), expired ones, disabled clients, and a
// cached signature under another payload.
func TestVerifyCacheRefusesWhatItMust(t *testing.T) {
	for _, format := range []TokenFormat{FormatJWT, FormatOpaque} {
		t.Run(string(format), func(t *testing.T) {
			f := newFixture(t, cached, func(c *Config) { c.Format = format; c.AccessTokenTTL = time.Hour })
			v := f.srv.Verifier()
			tok := f.issue(t, "api_v3")
			for range 3 {
				if _, err := v.Authenticate(t.Context(), tok); err != nil {
					t.Fatal(err)
				}
			}
			// Revoked through the endpoint: refused at once although cached.
			if rec := f.post(PathRevoke, "reporting", testSecret, url.Values{"token": {tok}}); rec.Code != 200 {
				t.Fatal(rec.Code)
			}
			if _, err := v.Authenticate(t.Context(), tok); err == nil {
				t.Fatal("a revoked token was served from the cache")
			}
			// Expiry is checked on the cached path with the injected clock.
			tok2 := f.issue(t, "")
			if _, err := v.Authenticate(t.Context(), tok2); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Hour + DefaultSkew + time.Second)
			if _, err := v.Authenticate(t.Context(), tok2); err == nil {
				t.Fatal("an expired token was served from the cache")
			}
			// A disabled client's cached token stops validating.
			tok3 := f.issue(t, "")
			if _, err := v.Authenticate(t.Context(), tok3); err != nil {
				t.Fatal(err)
			}
			f.clients["reporting"].Disabled = true
			if _, err := v.Authenticate(t.Context(), tok3); err == nil {
				t.Fatal("a disabled client's token was served from the cache")
			}
			f.clients["reporting"].Disabled = false
			// Another instance's revocation reaches this one as a notice
			// (NoteRevoked, from the store's feed): the cached entry goes.
			tok4 := f.issue(t, "")
			if _, err := v.Authenticate(t.Context(), tok4); err != nil {
				t.Fatal(err)
			}
			id, _ := v.Verify(t.Context(), tok4)
			if err := f.store.Revoke(t.Context(), id.ID, id.ExpiresAt); err != nil {
				t.Fatal(err)
			}
			v.NoteRevoked(id.ID)
			if _, err := v.Authenticate(t.Context(), tok4); err == nil {
				t.Fatal("a token revoked elsewhere was served from the cache")
			}
		})
	}
}

// CONFORMANCE K1
// The cache is keyed by the whole token: the same signature under a changed
// payload is not the cached token, nor is another spelling of it.
func TestVerifyCacheKeysOnTheWholeToken(t *testing.T) {
	f := newFixture(t, cached)
	v := f.srv.Verifier()
	tok := f.issue(t, "api_v3")
	if _, err := v.Authenticate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+testIssuer+`","sub":"root","client_id":"reporting","jti":"x","exp":9999999999,"scope":"admin"}`)) + "." + parts[2]
	if _, err := v.Authenticate(t.Context(), forged); err == nil {
		t.Fatal("a cached signature made another payload valid")
	}
	if _, err := v.Authenticate(t.Context(), parts[0]+"."+parts[1]+"."+flipPaddingBits(parts[2])); err == nil {
		t.Fatal("another spelling of a cached signature was accepted")
	}
}

// countingStore counts the reads that reach the store, and has a
// revocation feed only a test brings up (shared: its FollowRevocations
// never calls FeedUp by itself).
type countingStore struct {
	tokenstore.Store
	shared bool
	mu     sync.Mutex
	reads  int
	// hold, when set, is called inside each read before it answers.
	hold func()
}

func (s *countingStore) count() int { s.mu.Lock(); defer s.mu.Unlock(); return s.reads }

func (s *countingStore) read() {
	s.mu.Lock()
	s.reads++
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		hold()
	}
}

func (s *countingStore) IsRevokedAny(ctx context.Context, ids ...string) (bool, error) {
	revoked, err := s.Store.IsRevokedAny(ctx, ids...)
	s.read()
	return revoked, err
}

func (s *countingStore) GetAccessChecked(ctx context.Context, k tokenstore.Key, ids ...string) (tokenstore.Grant, bool, error) {
	g, revoked, err := s.Store.GetAccessChecked(ctx, k, ids...)
	s.read()
	return g, revoked, err
}

func (s *countingStore) FollowRevocations(ctx context.Context, f tokenstore.RevocationFollower) {
	if !s.shared {
		s.Store.FollowRevocations(ctx, f)
	}
}

// CONFORMANCE R6
// CONFORMANCE S6
// A revocation is never forgotten while the token lives: once a cached
// token, its family or its client is revoked or disabled, it stays refused
// after 200,000 other revocations and a day and a half later, for a token
// of 48 hours.
func TestCachedRevocationNeverForgotten(t *testing.T) {
	const others = 200_000
	flood := func(t *testing.T, f *fixture) {
		t.Helper()
		v := f.srv.Verifier()
		for i := range others {
			v.NoteRevoked(fmt.Sprintf("other-%d", i))
		}
		f.clock.Advance(36 * time.Hour)
	}
	long := func(c *Config) {
		c.VerifyCacheSize = 1000
		c.AccessTokenTTL, c.RefreshTokenTTL = 48*time.Hour, 48*time.Hour
	}
	for _, format := range []TokenFormat{FormatJWT, FormatOpaque} {
		t.Run(string(format)+"/token", func(t *testing.T) {
			f := biFixture(t, long, func(c *Config) { c.Format = format })
			v := f.srv.Verifier()
			tok := f.issue(t, "api_v3")
			if _, err := v.Authenticate(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
			if rec := f.post(PathRevoke, "reporting", testSecret, url.Values{"token": {tok}}); rec.Code != 200 {
				t.Fatal(rec.Code)
			}
			flood(t, f)
			// A revoked opaque token's record is deleted: unknown, like a JWT's
			// deny-list entry says revoked.
			if _, err := v.Authenticate(t.Context(), tok); err == nil || (err.Reason != "revoked" && err.Reason != "unknown") {
				t.Fatalf("a revoked token after %d other revocations: %v, want revoked", others, err)
			}
		})
		t.Run(string(format)+"/family", func(t *testing.T) {
			f := biFixture(t, long, func(c *Config) { c.Format = format })
			v := f.srv.Verifier()
			access, refresh := otTokens(t, f, "")
			if _, err := v.Authenticate(t.Context(), access); err != nil {
				t.Fatal(err)
			}
			if rec := f.post(PathRevoke, "app", biAppSecret, url.Values{"token": {refresh}}); rec.Code != 200 {
				t.Fatal(rec.Code)
			}
			flood(t, f)
			if _, err := v.Authenticate(t.Context(), access); err == nil || err.Reason != "revoked" {
				t.Fatalf("an access token of a revoked family after %d other revocations: %v, want revoked", others, err)
			}
		})
		t.Run(string(format)+"/client", func(t *testing.T) {
			f := biFixture(t, long, func(c *Config) { c.Format = format })
			v := f.srv.Verifier()
			tok := f.issue(t, "api_v3")
			if _, err := v.Authenticate(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
			f.clients["reporting"].Disabled = true
			v.NoteRevoked(ClientChanged("reporting"))
			flood(t, f)
			if _, err := v.Authenticate(t.Context(), tok); err == nil || err.Reason != "client_inactive" {
				t.Fatalf("a disabled client's token after %d other revocations: %v, want client_inactive", others, err)
			}
		})
	}
}

// CONFORMANCE R6
// A verification that overlaps a revocation notice is not cached: the
// store answered before the revocation reached it, so the next request
// must ask again.
func TestVerificationOverlappingARevocationIsNotCached(t *testing.T) {
	var cs *countingStore
	f := newFixture(t, cached, func(c *Config) { cs = &countingStore{Store: c.Store}; c.Store = cs })
	v := f.srv.Verifier()
	tok := f.issue(t, "api_v3")
	id, verr := v.Verify(t.Context(), tok)
	if verr != nil {
		t.Fatal(verr)
	}
	cs.mu.Lock()
	cs.hold = func() {
		// The revocation lands in the store and its notice arrives while
		// this check's (stale) answer is on its way back.
		_ = cs.Store.Revoke(context.Background(), id.ID, id.ExpiresAt)
		v.NoteRevoked(id.ID)
	}
	cs.mu.Unlock()
	if _, err := v.Authenticate(t.Context(), tok); err != nil {
		t.Fatalf("the racing check: %v", err)
	}
	cs.mu.Lock()
	cs.hold = nil
	cs.mu.Unlock()
	if _, err := v.Authenticate(t.Context(), tok); err == nil || err.Reason != "revoked" {
		t.Fatalf("after the revocation: %v, want revoked (the racing check was cached)", err)
	}
}

// CONFORMANCE S4
// CONFORMANCE S6
// With a shared store, the cache answers only while its revocation feed is
// up; coming back, it has forgotten everything, so a revocation
// made while the feed was down is honoured.
func TestVerifyCacheFollowsTheFeed(t *testing.T) {
	for _, format := range []TokenFormat{FormatJWT, FormatOpaque} {
		t.Run(string(format), func(t *testing.T) {
			var cs *countingStore
			f := newFixture(t, cached, func(c *Config) {
				c.Format = format
				cs = &countingStore{Store: c.Store, shared: true}
				c.Store = cs
			})
			v := f.srv.Verifier()
			tok := f.issue(t, "api_v3")
			reads := func() int {
				t.Helper()
				before := cs.count()
				if _, err := v.Authenticate(t.Context(), tok); err != nil {
					t.Fatal(err)
				}
				return cs.count() - before
			}
			for range 2 {
				if reads() == 0 {
					t.Fatal("the cache answered before the feed was up")
				}
			}
			v.FeedUp()
			reads()
			if n := reads(); n != 0 {
				t.Fatalf("feed up: a repeated token cost %d store reads, want 0", n)
			}
			v.FeedDown()
			if reads() == 0 {
				t.Fatal("the cache answered while the feed was down")
			}
			// Revoked meanwhile, its notice lost with the feed.
			id, _ := v.Verify(t.Context(), tok)
			if err := cs.Store.Revoke(t.Context(), id.ID, id.ExpiresAt); err != nil {
				t.Fatal(err)
			}
			v.FeedUp()
			if _, err := v.Authenticate(t.Context(), tok); err == nil || err.Reason != "revoked" {
				t.Fatalf("after the feed came back: %v, want revoked", err)
			}
		})
	}
}

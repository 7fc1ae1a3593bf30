// Two instances on one real Redis: revocations reach the other's cache, and the cache stops with the feed.

package authz

import (
	"context"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

// signalling is a verifier as a feed follower that also says when the feed
// came up and when a given id was delivered.
type signalling struct {
	*Verifier
	up     chan struct{}
	marker atomic.Pointer[string] // set by the test while the feed delivers
	seen   chan struct{}
}

func (s *signalling) FeedUp() {
	s.Verifier.FeedUp()
	s.up <- struct{}{}
}

func (s *signalling) NoteRevoked(id string) {
	s.Verifier.NoteRevoked(id)
	if m := s.marker.Load(); m != nil && id == *m {
		s.seen <- struct{}{}
	}
}

// CONFORMANCE R6
// CONFORMANCE S4
// CONFORMANCE S6
// Instance B caches tokens of instance A. A revocation of a token, of a
// family or of a client through A stays honoured by B's cache after
// 200,000 other revocations on the feed; and when Redis goes away, B's
// cache stops answering (revocation_check strict: 503), rather than
// accepting cached tokens it could no longer hear revocations of.
func TestTwoInstancesNeverForgetARevocation(t *testing.T) {
	srv := redistest.Start(t)
	open := func() *redisstore.Store { return openRedis(t, srv) }
	stA, stB := open(), open()
	instance := func(st *redisstore.Store, keys *KeySet) (*fixture, *Registry) {
		f := biFixture(t, func(c *Config) {
			if keys != nil {
				c.Keys = keys
			}
			c.Store, c.Now = st, time.Now
			c.AccessTokenTTL, c.RefreshTokenTTL = 48*time.Hour, 48*time.Hour
			c.VerifyCacheSize = 1000
		})
		return f, f.srv.Registry()
	}
	a, regA := instance(stA, nil)
	b, _ := instance(stB, a.keys)
	for _, f := range []*fixture{a, b} { // the built-in client app and its clients, on both
		f.clients["app"].RedirectURIs = []string{"https://app.example/cb"}
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	fb := &signalling{Verifier: b.srv.Verifier(), up: make(chan struct{}, 10), seen: make(chan struct{}, 1)}
	stB.FollowRevocations(ctx, fb)
	select {
	case <-fb.up:
	case <-time.After(5 * time.Second):
		t.Fatal("B's feed did not come up")
	}
	vb := b.srv.Verifier()
	mustCache := func(tok string) {
		t.Helper()
		for range 2 {
			if _, err := vb.Authenticate(t.Context(), tok); err != nil {
				t.Fatalf("B verifies A's token: %v", err)
			}
		}
	}

	// A token, a family and a dynamic client, each cached on B.
	tok := a.issue(t, "api_v3")
	mustCache(tok)
	if err := stA.PutConsent(t.Context(), "alice", "app", []string{"api_v3"}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	access, refresh := otTokens(t, a, "")
	mustCache(access)
	dyn := dynToken(t, a, regA, "dyn-flood")
	mustCache(dyn)

	// Revoked and disabled through A.
	if rec := a.post(PathRevoke, "reporting", testSecret, url.Values{"token": {tok}}); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	if rec := a.post(PathRevoke, "app", biAppSecret, url.Values{"token": {refresh}}); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	disabled := true
	if _, err := regA.Update(t.Context(), "dyn-flood", disable(disabled)); err != nil {
		t.Fatal(err)
	}

	// 200,000 other revocations published on the feed (one script, so the
	// test does not take 200,000 round trips), then a marker: once B has
	// seen it, it has seen them all.
	const others = 200_000
	marker := "marker-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	fb.marker.Store(&marker)
	if out, err := srv.CLI("EVAL", "for i=1,tonumber(ARGV[1]) do redis.call('PUBLISH', KEYS[1], 'other-'..i) end return 1",
		"1", "oauthgate:revocations", strconv.Itoa(others)); err != nil {
		t.Fatalf("publishing the flood: %v %s", err, out)
	}
	if err := stA.Revoke(ctx, marker, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fb.seen:
	case <-time.After(60 * time.Second):
		t.Fatal("B did not receive the flood within 60s")
	}
	for name, want := range map[string]struct{ tok, reason string }{
		"token":  {tok, "revoked"},
		"family": {access, "revoked"},
		"client": {dyn, "client_inactive"},
	} {
		if _, err := vb.Authenticate(t.Context(), want.tok); err == nil || err.Reason != want.reason {
			t.Errorf("%s: B after %d other revocations: %v, want %s", name, others, err, want.reason)
		}
	}

	// Redis goes away: B's cached token is refused within a few seconds,
	// and stays refused, since B can no longer hear of its revocation.
	fresh := a.issue(t, "api_v3")
	mustCache(fresh)
	srv.Stop()
	deadline := time.Now().Add(4 * time.Second)
	for {
		_, err := vb.Authenticate(t.Context(), fresh)
		if err != nil && err.Code == "temporarily_unavailable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B still answers a cached token from its cache 4s after Redis stopped: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 5 {
		if _, err := vb.Authenticate(t.Context(), fresh); err == nil || err.Code != "temporarily_unavailable" {
			t.Fatalf("with Redis down: %v, want temporarily_unavailable", err)
		}
	}
}

// Tests of a trusted issuer's key set on the request path: a slow or
// failing JWKS fetch never holds up tokens whose keys are known.

package authz

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// heldJWKS answers the issuer's JWKS once release is closed (or the test
// ends), telling started (if not nil) when a fetch has begun; answer nil:
// the issuer's current keys.
func heldJWKS(t *testing.T, idp *testIdP, release <-chan struct{}, started chan<- struct{}, answer func() (int, string, string)) func() (int, string, string) {
	return func() (int, string, string) {
		if started != nil {
			select {
			case started <- struct{}{}:
			default:
			}
		}
		select {
		case <-release:
		case <-t.Context().Done():
		}
		if answer != nil {
			return answer()
		}
		return 200, "application/json", idp.publicJWKS()
	}
}

func waitStarted(t *testing.T, started <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no JWKS fetch began", what)
	}
}

// checkWhileHeld checks n fresh tokens (not in the verified-token cache)
// of key k while a JWKS fetch is held: each must be accepted without that
// fetch ending. (The deadline only detects checks that wait for it.)
func (f *trustFixture) checkWhileHeld(t *testing.T, k jwk.Key, iss, what string, n int) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for i := range n {
			tok := sign(t, k, "", f.claims(iss, "jti", fmt.Sprintf("%s-%d-%d", what, i, time.Now().UnixNano())))
			if _, e := f.check(tok, nil); e != nil {
				done <- fmt.Errorf("fresh token %d with a known kid refused: %v", i, e)
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: fresh tokens with a known kid wait on the held JWKS fetch", what)
	}
}

// CONFORMANCE X1: an unknown kid refetches the JWKS, and while that
// refetch is slow (the issuer's answer is held), fresh tokens with known kids
// are checked with the last good set at once — an unauthenticated token
// with a random kid cannot hold the issuer's tokens up.
func TestJWKSSlowRefetchDoesNotStallKnownKids(t *testing.T) {
	idp := newTestIdP(t)
	k1 := idp.addKey(t, jwa.ES256, "k1")
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"}})
	if _, e := f.check(sign(t, k1, "", f.claims(idp.URL, "jti", "first")), nil); e != nil {
		t.Fatalf("first load: %v", e)
	}
	started, release := make(chan struct{}, 1), make(chan struct{})
	idp.setJWKS(heldJWKS(t, idp, release, started, nil))
	hits := idp.jwksHits.Load()
	random := newTestIdP(t).addKey(t, jwa.ES256, "random-kid")
	forged := sign(t, random, "", f.claims(idp.URL))
	done := make(chan *Error, 1)
	go func() { _, e := f.check(forged, nil); done <- e }()
	waitStarted(t, started, "unknown kid")
	f.checkWhileHeld(t, k1, idp.URL, "during the refetch", 3)
	close(release)
	wantRefused(t, "the unknown kid", nil, <-done, "invalid_token", "invalid")
	if n := idp.jwksHits.Load() - hits; n != 1 {
		t.Fatalf("%d JWKS fetches for one unknown kid, want 1", n)
	}
}

// CONFORMANCE X1: a token signed with a key the issuer has just added
// (a rotation) is accepted on its first try: its check waits for the
// refetch its unknown kid starts. A check that gives up first (its
// context ends) is refused, but the refetch goes on, and the key serves
// the next check without another fetch.
func TestJWKSRotatedKeyAcceptedFirstTry(t *testing.T) {
	idp := newTestIdP(t)
	k1 := idp.addKey(t, jwa.ES256, "k1")
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"}})
	if _, e := f.check(sign(t, k1, "", f.claims(idp.URL)), nil); e != nil {
		t.Fatalf("first load: %v", e)
	}
	hits := idp.jwksHits.Load()
	k2 := idp.addKey(t, jwa.ES256, "k2")
	started, release := make(chan struct{}, 1), make(chan struct{})
	idp.setJWKS(heldJWKS(t, idp, release, started, nil))
	go func() { waitStarted(t, started, "k2"); close(release) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, e := f.v.AuthenticateRoute(ctx, sign(t, k2, "", f.claims(idp.URL)), testAddr, &Policy{})
	if e != nil {
		t.Fatalf("a token of the newly added key, first try: %v", e)
	}
	if !strings.Contains(p.DecidedBy, "key k2") {
		t.Fatalf("DecidedBy %q", p.DecidedBy)
	}
	if n := idp.jwksHits.Load() - hits; n != 1 {
		t.Fatalf("%d JWKS fetches for the rotation, want 1", n)
	}

	f.clock.Advance(retryEvery + time.Second)
	k3 := idp.addKey(t, jwa.ES256, "k3")
	started, release = make(chan struct{}, 1), make(chan struct{})
	idp.setJWKS(heldJWKS(t, idp, release, started, nil))
	tok3 := sign(t, k3, "", f.claims(idp.URL))
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	// The refetch is held until the check has given up: the check ends
	// with its own context, not with the fetch.
	p, e = f.v.AuthenticateRoute(short, tok3, testAddr, &Policy{})
	wantRefused(t, "a check whose context ends before the refetch", p, e, "invalid_token", "invalid")
	waitStarted(t, started, "k3")
	close(release)
	if _, e := f.check(tok3, nil); e != nil {
		t.Fatalf("the same token once the refetch went on: %v", e)
	}
	if n := idp.jwksHits.Load() - hits; n != 2 {
		t.Fatalf("%d JWKS fetches for two rotations, want 2", n)
	}
	f.checkWhileHeld(t, k1, idp.URL, "the keys kept", 1)
}

// CONFORMANCE X1: with the issuer's JWKS down after a first good load —
// failing, hanging, or not even listening — fresh tokens with known kids
// still verify with the last good set, without waiting on the refetches
// unknown kids ask for; every failed fetch is reported.
func TestJWKSIssuerDownKnownKidsStillVerify(t *testing.T) {
	idp := newTestIdP(t)
	k1 := idp.addKey(t, jwa.ES256, "k1")
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"}})
	if _, e := f.check(sign(t, k1, "", f.claims(idp.URL)), nil); e != nil {
		t.Fatalf("first load: %v", e)
	}
	forger := newTestIdP(t)
	unknown := func(i int) string {
		return sign(t, forger.addKey(t, jwa.ES256, fmt.Sprintf("unknown-%d", i)), "", f.claims(idp.URL))
	}
	down := func() (int, string, string) { return 503, "text/plain", "down" }

	// Failing.
	idp.setJWKS(down)
	p, e := f.check(unknown(1), nil)
	wantRefused(t, "unknown kid, JWKS failing", p, e, "invalid_token", "invalid")
	f.checkWhileHeld(t, k1, idp.URL, "JWKS failing", 3)

	// Hanging (then failing), with a refetch under way.
	f.clock.Advance(retryEvery + time.Second)
	started, release := make(chan struct{}, 1), make(chan struct{})
	idp.setJWKS(heldJWKS(t, idp, release, started, down))
	tok := unknown(2)
	done := make(chan *Error, 1)
	go func() { _, e := f.check(tok, nil); done <- e }()
	waitStarted(t, started, "JWKS hanging")
	f.checkWhileHeld(t, k1, idp.URL, "JWKS hanging", 3)
	close(release)
	wantRefused(t, "unknown kid, JWKS hanging", nil, <-done, "invalid_token", "invalid")

	// Not listening.
	idp.Close()
	f.clock.Advance(retryEvery + time.Second)
	p, e = f.check(unknown(3), nil)
	wantRefused(t, "unknown kid, JWKS not listening", p, e, "invalid_token", "invalid")
	f.checkWhileHeld(t, k1, idp.URL, "JWKS not listening", 3)

	var failed int
	for len(f.events) > 0 {
		if ev := <-f.events; ev.Kind == "jwks" && ev.Outcome != "ok" {
			failed++
		}
	}
	if failed != 3 {
		t.Fatalf("%d failed JWKS fetches reported, want 3", failed)
	}
}

// CONFORMANCE X1: a refresh of jwk.Cache's own (what its cache headers
// schedule) does not hold up tokens with known kids while it is slow,
// and the set it brings in serves the request path: a key it added
// verifies without a refetch.
func TestJWKSCacheRefreshReachesRequests(t *testing.T) {
	idp := newTestIdP(t)
	k1 := idp.addKey(t, jwa.ES256, "k1")
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"}})
	if _, e := f.check(sign(t, k1, "", f.claims(idp.URL)), nil); e != nil {
		t.Fatalf("first load: %v", e)
	}
	ti := f.v.Trust.Issuer(idp.URL)
	k2 := idp.addKey(t, jwa.ES256, "k2")
	started, release := make(chan struct{}, 1), make(chan struct{})
	idp.setJWKS(heldJWKS(t, idp, release, started, nil))
	hits := idp.jwksHits.Load()
	refreshed := make(chan error, 1)
	go func() {
		_, err := f.v.Trust.jwks.Refresh(context.Background(), ti.jwksURIOf())
		refreshed <- err
	}()
	waitStarted(t, started, "jwk.Cache refresh")
	f.checkWhileHeld(t, k1, idp.URL, "during jwk.Cache's refresh", 3)
	close(release)
	if err := <-refreshed; err != nil {
		t.Fatalf("jwk.Cache refresh: %v", err)
	}
	if _, e := f.check(sign(t, k2, "", f.claims(idp.URL)), nil); e != nil {
		t.Fatalf("a key jwk.Cache's refresh brought in: %v", e)
	}
	if n := idp.jwksHits.Load() - hits; n != 1 {
		t.Fatalf("%d JWKS fetches, want 1 (jwk.Cache's refresh, no refetch)", n)
	}
}

// Package storetest is the contract every tokenstore.Store must pass. A store
// package calls Run from its tests with a factory that yields a fresh, empty
// store and a way to move its clock forward.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// Harness is one fresh store under test.
type Harness struct {
	Store tokenstore.Store
	// Now is the clock the store uses.
	Now func() time.Time
	// Advance moves the store's clock forward by d: a fake clock jumps, a
	// store on real time (Redis) sleeps.
	Advance func(d time.Duration)
	// Down, when not nil, cuts the store off its backend for the rest of
	// the test (a closed client, a stopped server): calls must then fail
	// with ErrUnavailable. A store that cannot fail (memory) leaves it nil.
	Down func()
}

// Factory returns a fresh, empty store; cleanup is registered on t.
type Factory func(t *testing.T) Harness

// Run runs the whole contract.
func Run(t *testing.T, f Factory) {
	t.Run("AccessRoundTrip", func(t *testing.T) { t.Parallel(); testAccessRoundTrip(t, f(t)) })
	t.Run("AccessExpiry", func(t *testing.T) { t.Parallel(); testAccessExpiry(t, f(t)) })
	t.Run("AccessNoOverwrite", func(t *testing.T) { t.Parallel(); testAccessNoOverwrite(t, f(t)) })
	t.Run("CodeSingleUse", func(t *testing.T) { t.Parallel(); testCodeSingleUse(t, f(t)) })
	t.Run("CodeExpiry", func(t *testing.T) { t.Parallel(); testCodeExpiry(t, f(t)) })
	t.Run("ConcurrentCodeRedemption", func(t *testing.T) { t.Parallel(); testConcurrentTake(t, f(t), "code") })
	t.Run("RefreshRotation", func(t *testing.T) { t.Parallel(); testRefresh(t, f(t)) })
	t.Run("RefreshExpiry", func(t *testing.T) { t.Parallel(); testRefreshExpiry(t, f(t)) })
	t.Run("ConcurrentRefreshRotation", func(t *testing.T) { t.Parallel(); testConcurrentTake(t, f(t), "refresh") })
	t.Run("Consents", func(t *testing.T) { t.Parallel(); testConsents(t, f(t)) })
	t.Run("Revocations", func(t *testing.T) { t.Parallel(); testRevocations(t, f(t)) })
	t.Run("RevokedAny", func(t *testing.T) { t.Parallel(); testRevokedAny(t, f(t)) })
	t.Run("AccessChecked", func(t *testing.T) { t.Parallel(); testAccessChecked(t, f(t)) })
	t.Run("RevocationFeed", func(t *testing.T) { t.Parallel(); testRevocationFeed(t, f(t)) })
	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		if err := f(t).Store.Ping(context.Background()); err != nil {
			t.Fatalf("Ping on a healthy store: %v", err)
		}
	})
}

func grant(h Harness, ttl time.Duration) tokenstore.Grant {
	now := h.Now().Truncate(time.Second)
	return tokenstore.Grant{
		ClientID: "client-1", Subject: "alice", Scopes: []string{"api_v3", "bcf_v2_1"},
		Audience: []string{"backend"}, IssuedAt: now, ExpiresAt: now.Add(ttl),
		FamilyID: "fam-1", ID: "jti-1",
	}
}

func equalGrant(a, b tokenstore.Grant) error {
	if a.ClientID != b.ClientID || a.Subject != b.Subject || a.FamilyID != b.FamilyID || a.ID != b.ID ||
		fmt.Sprint(a.Scopes) != fmt.Sprint(b.Scopes) || fmt.Sprint(a.Audience) != fmt.Sprint(b.Audience) ||
		!a.IssuedAt.Equal(b.IssuedAt) || !a.ExpiresAt.Equal(b.ExpiresAt) {
		return fmt.Errorf("grant changed in the store:\n got %+v\nwant %+v", a, b)
	}
	return nil
}

func testAccessRoundTrip(t *testing.T, h Harness) {
	ctx := context.Background()
	k := tokenstore.KeyOf("token-a")
	want := grant(h, time.Hour)
	if err := h.Store.PutAccess(ctx, k, want); err != nil {
		t.Fatalf("PutAccess: %v", err)
	}
	got, err := h.Store.GetAccess(ctx, k)
	if err != nil {
		t.Fatalf("GetAccess: %v", err)
	}
	if err := equalGrant(got, want); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Store.GetAccess(ctx, tokenstore.KeyOf("token-b")); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("GetAccess of an unknown key: err = %v, want ErrNotFound", err)
	}
	if err := h.Store.DeleteAccess(ctx, k); err != nil {
		t.Fatalf("DeleteAccess: %v", err)
	}
	if _, err := h.Store.GetAccess(ctx, k); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("GetAccess after delete: err = %v, want ErrNotFound", err)
	}
	if err := h.Store.DeleteAccess(ctx, k); err != nil {
		t.Fatalf("DeleteAccess twice must be idempotent: %v", err)
	}
}

func testAccessExpiry(t *testing.T, h Harness) {
	ctx := context.Background()
	k := tokenstore.KeyOf("short-lived")
	if err := h.Store.PutAccess(ctx, k, grant(h, 2*time.Second)); err != nil {
		t.Fatalf("PutAccess: %v", err)
	}
	if _, err := h.Store.GetAccess(ctx, k); err != nil {
		t.Fatalf("GetAccess before expiry: %v", err)
	}
	h.Advance(3 * time.Second)
	if _, err := h.Store.GetAccess(ctx, k); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("GetAccess after expiry: err = %v, want ErrNotFound", err)
	}
	// An expired key may be reused.
	if err := h.Store.PutAccess(ctx, k, grant(h, time.Hour)); err != nil {
		t.Fatalf("PutAccess over an expired entry: %v", err)
	}
}

func testAccessNoOverwrite(t *testing.T, h Harness) {
	ctx := context.Background()
	k := tokenstore.KeyOf("dup")
	g := grant(h, time.Hour)
	if err := h.Store.PutAccess(ctx, k, g); err != nil {
		t.Fatalf("PutAccess: %v", err)
	}
	other := g
	other.Subject = "mallory"
	if err := h.Store.PutAccess(ctx, k, other); !errors.Is(err, tokenstore.ErrExists) {
		t.Fatalf("second PutAccess on a live key: err = %v, want ErrExists", err)
	}
	got, err := h.Store.GetAccess(ctx, k)
	if err != nil || got.Subject != "alice" {
		t.Fatalf("live entry was overwritten: %+v, %v", got, err)
	}
}

func testCodeSingleUse(t *testing.T, h Harness) {
	ctx := context.Background()
	k := tokenstore.KeyOf("code-1")
	want := grant(h, 2*time.Minute)
	if err := h.Store.PutCode(ctx, k, want, []byte(`{"pkce":"x"}`)); err != nil {
		t.Fatalf("PutCode: %v", err)
	}
	peek, payload, err := h.Store.GetCode(ctx, k)
	if err != nil || string(payload) != `{"pkce":"x"}` {
		t.Fatalf("GetCode: %q, %v", payload, err)
	}
	if err := equalGrant(peek, want); err != nil {
		t.Fatal(err)
	}
	got, payload, err := h.Store.TakeCode(ctx, k)
	if err != nil {
		t.Fatalf("TakeCode after GetCode: %v (reading must not redeem)", err)
	}
	if err := equalGrant(got, want); err != nil {
		t.Fatal(err)
	}
	if string(payload) != `{"pkce":"x"}` {
		t.Fatalf("payload = %q", payload)
	}
	again, payload, err := h.Store.TakeCode(ctx, k)
	if !errors.Is(err, tokenstore.ErrReused) {
		t.Fatalf("second TakeCode: err = %v, want ErrReused", err)
	}
	if again.FamilyID != want.FamilyID || again.ClientID != want.ClientID {
		t.Fatalf("ErrReused must come with the grant (its family), got %+v", again)
	}
	if payload != nil {
		t.Fatalf("a reused code must not yield its payload again: %q", payload)
	}
	if again, payload, err := h.Store.GetCode(ctx, k); !errors.Is(err, tokenstore.ErrReused) || again.FamilyID != want.FamilyID || payload != nil {
		t.Fatalf("GetCode of a redeemed code: %+v %q %v, want its grant with ErrReused", again, payload, err)
	}
	if _, _, err := h.Store.GetCode(ctx, tokenstore.KeyOf("code-unknown")); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("GetCode of an unknown code: err = %v, want ErrNotFound", err)
	}
	if _, _, err := h.Store.TakeCode(ctx, tokenstore.KeyOf("code-unknown")); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("TakeCode of an unknown code: err = %v, want ErrNotFound", err)
	}
}

func testCodeExpiry(t *testing.T, h Harness) {
	ctx := context.Background()
	k := tokenstore.KeyOf("code-exp")
	if err := h.Store.PutCode(ctx, k, grant(h, 2*time.Second), nil); err != nil {
		t.Fatalf("PutCode: %v", err)
	}
	h.Advance(3 * time.Second)
	if _, _, err := h.Store.GetCode(ctx, k); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("GetCode after expiry: err = %v, want ErrNotFound", err)
	}
	if _, _, err := h.Store.TakeCode(ctx, k); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("TakeCode after expiry: err = %v, want ErrNotFound", err)
	}
}

// testConcurrentTake: of 64 concurrent redemptions of one code or refresh
// token exactly one wins and the rest see ErrReused (CONFORMANCE T9 at the
// store level).
func testConcurrentTake(t *testing.T, h Harness, kind string) {
	ctx := context.Background()
	k := tokenstore.KeyOf(kind + "-race")
	take := func() error { _, _, err := h.Store.TakeCode(ctx, k); return err }
	var err error
	if kind == "code" {
		err = h.Store.PutCode(ctx, k, grant(h, time.Minute), nil)
	} else {
		err = h.Store.PutRefresh(ctx, k, grant(h, time.Hour))
		take = func() error { _, err := h.Store.TakeRefresh(ctx, k); return err }
	}
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	const n = 64
	var wins, reused atomic.Int32
	var start, wg sync.WaitGroup
	start.Add(1)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			switch err := take(); {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, tokenstore.ErrReused):
				reused.Add(1)
			default:
				t.Errorf("take: %v", err)
			}
		}()
	}
	start.Done()
	wg.Wait()
	if wins.Load() != 1 || reused.Load() != n-1 {
		t.Fatalf("%d concurrent redemptions of one %s: %d succeeded, %d saw reuse; want exactly 1 success", n, kind, wins.Load(), reused.Load())
	}
}

func testRefresh(t *testing.T, h Harness) {
	ctx := context.Background()
	k := tokenstore.KeyOf("refresh-1")
	want := grant(h, 720*time.Hour)
	want.RefreshCount = 3
	if err := h.Store.PutRefresh(ctx, k, want); err != nil {
		t.Fatalf("PutRefresh: %v", err)
	}
	if err := h.Store.PutRefresh(ctx, k, want); !errors.Is(err, tokenstore.ErrExists) {
		t.Fatalf("PutRefresh over a live token: err = %v, want ErrExists", err)
	}
	got, err := h.Store.GetRefresh(ctx, k)
	if err != nil {
		t.Fatalf("GetRefresh: %v", err)
	}
	if err := equalGrant(got, want); err != nil || got.RefreshCount != 3 {
		t.Fatalf("GetRefresh: %v (count %d)", err, got.RefreshCount)
	}
	if got, err = h.Store.TakeRefresh(ctx, k); err != nil || got.RefreshCount != 3 {
		t.Fatalf("TakeRefresh: %+v, %v", got, err)
	}
	if _, err := h.Store.GetRefresh(ctx, k); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("GetRefresh of a rotated token: err = %v, want ErrNotFound", err)
	}
	replay, err := h.Store.TakeRefresh(ctx, k)
	if !errors.Is(err, tokenstore.ErrReused) || replay.FamilyID != want.FamilyID {
		t.Fatalf("replayed TakeRefresh: %+v, %v; want ErrReused with the family", replay, err)
	}
	if _, err := h.Store.TakeRefresh(ctx, tokenstore.KeyOf("refresh-unknown")); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("TakeRefresh of an unknown token: err = %v, want ErrNotFound", err)
	}
	k2 := tokenstore.KeyOf("refresh-2")
	if err := h.Store.PutRefresh(ctx, k2, want); err != nil {
		t.Fatal(err)
	}
	if err := h.Store.DeleteRefresh(ctx, k2); err != nil {
		t.Fatalf("DeleteRefresh: %v", err)
	}
	if _, err := h.Store.TakeRefresh(ctx, k2); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("TakeRefresh after delete: err = %v, want ErrNotFound", err)
	}
	if err := h.Store.DeleteRefresh(ctx, k2); err != nil {
		t.Fatalf("DeleteRefresh twice: %v", err)
	}
}

func testRefreshExpiry(t *testing.T, h Harness) {
	ctx := context.Background()
	k := tokenstore.KeyOf("refresh-exp")
	if err := h.Store.PutRefresh(ctx, k, grant(h, 2*time.Second)); err != nil {
		t.Fatal(err)
	}
	h.Advance(3 * time.Second)
	if _, err := h.Store.GetRefresh(ctx, k); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("GetRefresh after expiry: %v", err)
	}
	if _, err := h.Store.TakeRefresh(ctx, k); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("TakeRefresh after expiry: %v", err)
	}
}

func testConsents(t *testing.T, h Harness) {
	ctx := context.Background()
	if _, err := h.Store.GetConsent(ctx, "alice", "postman"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("GetConsent before any: %v", err)
	}
	if err := h.Store.PutConsent(ctx, "alice", "postman", []string{"api_v3"}, h.Now().Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := h.Store.PutConsent(ctx, "alice", "postman", []string{"api_v3", "bcf_v2_1"}, h.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := h.Store.PutConsent(ctx, "bob", "postman", []string{"x"}, h.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := h.Store.GetConsent(ctx, "alice", "postman")
	if err != nil || fmt.Sprint(got) != "[api_v3 bcf_v2_1]" {
		t.Fatalf("GetConsent = %v, %v; want the replaced scopes", got, err)
	}
	// Subjects and client ids with separators do not collide.
	if err := h.Store.PutConsent(ctx, "a:b", "c", []string{"one"}, h.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := h.Store.GetConsent(ctx, "a", "b:c"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("consent of (a:b, c) visible as (a, b:c): %v, %v", got, err)
	}
	h.Advance(3 * time.Second)
	if got, err := h.Store.GetConsent(ctx, "alice", "postman"); err != nil || len(got) != 2 {
		t.Fatalf("replaced consent lost its new lifetime: %v, %v", got, err)
	}
	if err := h.Store.DeleteConsent(ctx, "alice", "postman"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Store.GetConsent(ctx, "alice", "postman"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("GetConsent after delete: %v", err)
	}
	if got, err := h.Store.GetConsent(ctx, "bob", "postman"); err != nil || len(got) != 1 {
		t.Fatalf("another user's consent was touched: %v, %v", got, err)
	}
}

func testRevocations(t *testing.T, h Harness) {
	ctx := context.Background()
	now := h.Now()
	if ok, err := h.Store.IsRevoked(ctx, "jti-x"); err != nil || ok {
		t.Fatalf("IsRevoked of a never-revoked id = %v, %v", ok, err)
	}
	if err := h.Store.Revoke(ctx, "jti-x", now.Add(2*time.Second)); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if err := h.Store.Revoke(ctx, "jti-long", now.Add(time.Hour)); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	// An earlier `until` must not shorten an existing revocation.
	if err := h.Store.Revoke(ctx, "jti-long", now.Add(time.Second)); err != nil {
		t.Fatalf("Revoke again: %v", err)
	}
	for _, id := range []string{"jti-x", "jti-long"} {
		if ok, err := h.Store.IsRevoked(ctx, id); err != nil || !ok {
			t.Fatalf("IsRevoked(%s) right after Revoke = %v, %v", id, ok, err)
		}
	}
	h.Advance(3 * time.Second)
	if ok, err := h.Store.IsRevoked(ctx, "jti-x"); err != nil || ok {
		t.Fatalf("revocation outlived the token it denies: %v, %v", ok, err)
	}
	if ok, err := h.Store.IsRevoked(ctx, "jti-long"); err != nil || !ok {
		t.Fatalf("a later Revoke with an earlier until shortened the entry: %v, %v", ok, err)
	}
	// Revoking something already expired is a no-op, not an error.
	if err := h.Store.Revoke(ctx, "jti-old", now.Add(-time.Hour)); err != nil {
		t.Fatalf("Revoke of an expired id: %v", err)
	}
}

// testRevokedAny: one call answers whether any of a token's ids (its jti,
// its family) is revoked, as IsRevoked would for each.
func testRevokedAny(t *testing.T, h Harness) {
	ra := h.Store
	ctx := context.Background()
	now := h.Now()
	if err := h.Store.Revoke(ctx, "jti-revoked", now.Add(time.Hour)); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if err := h.Store.Revoke(ctx, "fam-short", now.Add(2*time.Second)); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	many := []string{"jti-live", "fam-live", "a", "b", "c", "d", "e", "f", "g", "h"}
	for _, tc := range []struct {
		name string
		ids  []string
		want bool
	}{
		{"RevokedFirst", []string{"jti-revoked", "fam-live"}, true},
		{"RevokedSecond", []string{"jti-live", "jti-revoked"}, true},
		{"FamilyRevoked", []string{"jti-live", "fam-short"}, true},
		{"NoneRevoked", []string{"jti-live", "fam-live"}, false},
		{"One", []string{"jti-revoked"}, true},
		{"OneLive", []string{"jti-live"}, false},
		{"EmptyIgnored", []string{"", "jti-revoked", ""}, true},
		{"EmptyAndLive", []string{"jti-live", ""}, false},
		{"OnlyEmpty", []string{"", ""}, false},
		{"None", nil, false},
		{"RevokedLast", append(many, "jti-revoked"), true},
		{"ManyLive", many, false},
	} {
		if got, err := ra.IsRevokedAny(ctx, tc.ids...); err != nil || got != tc.want {
			t.Errorf("%s: IsRevokedAny(%q) = %v, %v; want %v", tc.name, tc.ids, got, err, tc.want)
		}
	}
	h.Advance(3 * time.Second)
	if got, err := ra.IsRevokedAny(ctx, "jti-live", "fam-short"); err != nil || got {
		t.Errorf("IsRevokedAny after the revocation expired = %v, %v; want false", got, err)
	}
	if h.Down == nil {
		return
	}
	h.Down()
	for _, ids := range [][]string{{"jti-live", "fam-live"}, {"jti-revoked"}, {"", "jti-live"}} {
		if got, err := ra.IsRevokedAny(ctx, ids...); !errors.Is(err, tokenstore.ErrUnavailable) || got {
			t.Errorf("IsRevokedAny(%q) with the store down = %v, %v; want ErrUnavailable", ids, got, err)
		}
	}
}

// testAccessChecked: tokenstore.GetAccessChecked (the store's own
// AccessChecker, or GetAccess and IsRevokedAny) reads an access record and
// says whether any id given is revoked (CONFORMANCE R6).
func testAccessChecked(t *testing.T, h Harness) {
	ctx := context.Background()
	now := h.Now()
	k := tokenstore.KeyOf("token-checked")
	want := grant(h, time.Hour)
	if err := h.Store.PutAccess(ctx, k, want); err != nil {
		t.Fatalf("PutAccess: %v", err)
	}
	if err := h.Store.Revoke(ctx, "fam-revoked", now.Add(time.Hour)); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if err := h.Store.Revoke(ctx, "jti-revoked", now.Add(time.Hour)); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	for _, tc := range []struct {
		name string
		ids  []string
		want bool
	}{
		{"Live", []string{want.ID, want.FamilyID}, false},
		{"IDRevoked", []string{"jti-revoked", want.FamilyID}, true},
		{"FamilyRevoked", []string{want.ID, "fam-revoked"}, true},
		{"EmptyIgnored", []string{"", "fam-revoked"}, true},
		{"OnlyEmpty", []string{"", ""}, false},
		{"None", nil, false},
	} {
		g, revoked, err := h.Store.GetAccessChecked(ctx, k, tc.ids...)
		if err != nil || revoked != tc.want {
			t.Errorf("%s: GetAccessChecked(%q) = revoked %v, %v; want %v", tc.name, tc.ids, revoked, err, tc.want)
			continue
		}
		if err := equalGrant(g, want); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	for _, ids := range [][]string{{"jti-x", "fam-x"}, {"jti-revoked"}} {
		if _, revoked, err := h.Store.GetAccessChecked(ctx, tokenstore.KeyOf("token-never-stored"), ids...); !errors.Is(err, tokenstore.ErrNotFound) || revoked {
			t.Errorf("GetAccessChecked of an unknown key with ids %q = revoked %v, %v; want ErrNotFound", ids, revoked, err)
		}
	}
	if err := h.Store.DeleteAccess(ctx, k); err != nil {
		t.Fatalf("DeleteAccess: %v", err)
	}
	if _, _, err := h.Store.GetAccessChecked(ctx, k, want.ID); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Errorf("GetAccessChecked after DeleteAccess: %v, want ErrNotFound", err)
	}
	if h.Down == nil {
		return
	}
	k2 := tokenstore.KeyOf("token-checked-2")
	if err := h.Store.PutAccess(ctx, k2, want); err != nil {
		t.Fatalf("PutAccess: %v", err)
	}
	h.Down()
	if _, revoked, err := h.Store.GetAccessChecked(ctx, k2, want.ID, want.FamilyID); !errors.Is(err, tokenstore.ErrUnavailable) || revoked {
		t.Errorf("GetAccessChecked with the store down = revoked %v, %v; want ErrUnavailable", revoked, err)
	}
}

// feedFollower records that a revocation feed came up.
type feedFollower struct{ up chan struct{} }

func (f feedFollower) NoteRevoked(string) {}
func (f feedFollower) FeedUp()            { f.up <- struct{}{} }
func (f feedFollower) FeedDown()          {}

// testRevocationFeed: the feed comes up (what it delivers is each shared
// store's own test: tokenstore/redis's subscribe tests).
func testRevocationFeed(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := feedFollower{up: make(chan struct{}, 4)}
	h.Store.FollowRevocations(ctx, f)
	select {
	case <-f.up:
	case <-time.After(5 * time.Second):
		t.Fatal("FollowRevocations: the feed did not come up within 5s")
	}
}

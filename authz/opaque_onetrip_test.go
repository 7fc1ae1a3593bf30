// Tests of opaque tokens: their format, forged families, and verification in one store round trip.

package authz

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

// Opaque access tokens name their id and family, so that verifying one is a
// single store round trip (tokenstore.AccessChecker); tokens minted before
// that still verify, with their own ids checked in a second one.

// tripStore counts the store round trips of the verifier around a real
// store: GetAccessChecked is one; GetAccess, IsRevoked and IsRevokedAny
// are one each.
type tripStore struct {
	tokenstore.Store
	checked, other atomic.Int32
}

func (s *tripStore) GetAccessChecked(ctx context.Context, k tokenstore.Key, ids ...string) (tokenstore.Grant, bool, error) {
	s.checked.Add(1)
	return s.Store.GetAccessChecked(ctx, k, ids...)
}

func (s *tripStore) GetAccess(ctx context.Context, k tokenstore.Key) (tokenstore.Grant, error) {
	s.other.Add(1)
	return s.Store.GetAccess(ctx, k)
}

func (s *tripStore) IsRevoked(ctx context.Context, id string) (bool, error) {
	s.other.Add(1)
	return s.Store.IsRevoked(ctx, id)
}

func (s *tripStore) IsRevokedAny(ctx context.Context, ids ...string) (bool, error) {
	s.other.Add(1)
	return s.Store.IsRevokedAny(ctx, ids...)
}

func (s *tripStore) reset() { s.checked.Store(0); s.other.Store(0) }

// otFixture is an opaque-token fixture with the verified-token cache off,
// its store counted by a tripStore.
func otFixture(t *testing.T) (*fixture, *tripStore) {
	t.Helper()
	var ts *tripStore
	f := biFixture(t, func(c *Config) {
		c.Format, c.VerifyCacheSize = FormatOpaque, -1
		ts = &tripStore{Store: c.Store}
		c.Store = ts
	})
	return f, ts
}

// otTokens redeems a code of app, or rotates a refresh token when rt is
// not empty, and returns the access and refresh tokens.
func otTokens(t *testing.T, f *fixture, rt string) (access, refresh string) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	if rt == "" {
		form = url.Values{"grant_type": {"authorization_code"}, "code": {biCode(t, f)}, "redirect_uri": {"https://app.example/cb"}}
	}
	rec := biRedeem(f, form)
	if rec.Code != 200 {
		t.Fatalf("token request (%s): %d %s", form.Get("grant_type"), rec.Code, rec.Body)
	}
	m := decode(t, rec)
	return m["access_token"].(string), m["refresh_token"].(string)
}

func otRecord(t *testing.T, s tokenstore.Store, tok string) tokenstore.Grant {
	t.Helper()
	g, err := s.GetAccess(context.Background(), tokenstore.KeyOf(tok))
	if err != nil {
		t.Fatalf("the token's record: %v", err)
	}
	return g
}

// otForeignRecord stores an access token as Mint never does: the 53-character
// form, a random record id, family in the record only.
func otForeignRecord(t *testing.T, f *fixture, family string) (string, tokenstore.Grant) {
	t.Helper()
	tok, err := NewOpaqueToken(rand.Reader, PrefixAccess)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := newID(rand.Reader)
	now := f.srv.cfg.Now().Truncate(time.Second)
	g := tokenstore.Grant{ClientID: "app", Subject: "alice", Scopes: []string{"api_v3"}, IssuedAt: now,
		ExpiresAt: now.Add(time.Hour), ID: id, FamilyID: family}
	if err := f.srv.cfg.Store.PutAccess(context.Background(), tokenstore.KeyOf(tok), g); err != nil {
		t.Fatal(err)
	}
	return tok, g
}

func otBody(t *testing.T, tok string) []byte {
	t.Helper()
	raw, err := b64.DecodeString(tok[len(PrefixAccess) : len(tok)-opaqueSumLen])
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// otVerify verifies tok and returns the refusal's reason, "" when accepted.
func otVerify(t *testing.T, f *fixture, tok string) string {
	t.Helper()
	id, err := f.srv.Verifier().Verify(t.Context(), tok)
	if err != nil {
		if err.Code != "invalid_token" {
			t.Fatalf("Verify: %v (reason %s), want invalid_token", err, err.Reason)
		}
		return err.Reason
	}
	if id.ID == "" || id.ClientID == "" {
		t.Fatalf("Verify accepted a token without id or client: %+v", id)
	}
	return ""
}

// CONFORMANCE K2
// New opaque access tokens: a token of a family carries its id (74
// characters), one without keeps the 53-character form; both keep the
// prefix, the checksum and 256 random bits. The record id is derived from
// the token and reveals neither it nor its store key. Refresh tokens and
// codes keep the short form only; malformed long tokens cost no lookup.
func TestOpaqueAccessTokenFormat_K2(t *testing.T) {
	f, _ := otFixture(t)
	ctx := t.Context()

	cc := f.issue(t, "api_v3")
	access, refresh := otTokens(t, f, "")
	access2, _ := otTokens(t, f, refresh)
	if len(cc) != opaqueLen || len(refresh) != opaqueLen {
		t.Fatalf("client_credentials token %d, refresh token %d characters; want %d", len(cc), len(refresh), opaqueLen)
	}
	for _, tok := range []string{access, access2} {
		if len(tok) != opaqueFamilyLen || !strings.HasPrefix(tok, PrefixAccess) || !WellFormedOpaque(tok, PrefixAccess) {
			t.Fatalf("family token: %d characters, well formed %v; want %d", len(tok), WellFormedOpaque(tok, PrefixAccess), opaqueFamilyLen)
		}
	}
	g, g2 := otRecord(t, f.store, access), otRecord(t, f.store, access2)
	if g.FamilyID == "" || opaqueFamily(access) != g.FamilyID || opaqueFamily(access2) != g.FamilyID || opaqueFamily(cc) != "" {
		t.Fatalf("embedded family %q, %q; record's %q", opaqueFamily(access), opaqueFamily(access2), g.FamilyID)
	}
	b1, b2 := otBody(t, access), otBody(t, access2)
	if len(b1) != familyBytes+opaqueRandomBytes || string(b1[:familyBytes]) != string(b2[:familyBytes]) ||
		string(b1[familyBytes:]) == string(b2[familyBytes:]) {
		t.Fatal("family tokens: want 16 shared family bytes and 32 random bytes of their own")
	}
	for _, tok := range []string{cc, access, access2} {
		rec := otRecord(t, f.store, tok)
		id := rec.ID
		k := tokenstore.KeyOf(tok)
		sum := sha256.Sum256([]byte(tok))
		if id != opaqueAccessID(tok) || len(id) != 22 {
			t.Fatalf("record id %q, want the derived %q", id, opaqueAccessID(tok))
		}
		for _, leak := range []string{tok, k.String(), base64.RawURLEncoding.EncodeToString(k[:]), base64.StdEncoding.EncodeToString(sum[:])} {
			if strings.Contains(leak, id) {
				t.Fatal("the record id is a part of the token or of its store key")
			}
		}
		if strings.Contains(id, tok[len(PrefixAccess):len(PrefixAccess)+8]) {
			t.Fatal("the record id holds token characters")
		}
	}
	if g2.ID == g.ID {
		t.Fatal("two tokens of one family share an id")
	}

	// The long form is for access tokens only.
	long := PrefixRefresh + access[len(PrefixAccess):len(access)-opaqueSumLen]
	long += opaqueChecksum(long)
	if WellFormedOpaque(long, PrefixRefresh) || WellFormedOpaque(strings.Replace(long, PrefixRefresh, PrefixCode, 1), PrefixCode) {
		t.Fatal("a refresh token or code of the family length is well formed")
	}
	wantError(t, biRedeem(f, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {long}}), 400, "invalid_grant")

	// Malformed long tokens are refused before any lookup.
	before := f.store.gets
	body := access[:len(access)-opaqueSumLen]
	nl := body[:30] + "\n" + body[31:]
	for name, bad := range map[string]string{
		"FlippedChecksum": body + strings.Repeat("A", opaqueSumLen),
		"Truncated":       access[:len(access)-1],
		"Longer":          access + "A",
		"Newline":         nl + opaqueChecksum(nl),
		"NotBase64":       body[:40] + "*" + body[41:] + opaqueChecksum(body[:40]+"*"+body[41:]),
		"RefreshPrefix":   PrefixRefresh + access[len(PrefixAccess):],
	} {
		if bad == access {
			continue
		}
		if WellFormedOpaque(bad, PrefixAccess) {
			t.Errorf("%s: well formed", name)
		}
		if reason := otVerify(t, f, bad); reason != "malformed" {
			t.Errorf("%s: refused as %q, want malformed", name, reason)
		}
	}
	if f.store.gets != before {
		t.Fatalf("malformed tokens cost %d store lookups, want 0", f.store.gets-before)
	}
	if _, err := f.srv.Verifier().Verify(ctx, access); err != nil {
		t.Fatalf("the genuine family token: %v", err)
	}
}

// CONFORMANCE R6
// CONFORMANCE V1
// With the cache off, a new opaque token costs one store round trip, and
// revoking it (RFC 7009), revoking its family through its refresh token,
// or replaying a rotated refresh token refuses it at once.
func TestOpaqueRevocationOneTrip_R6_V1(t *testing.T) {
	f, ts := otFixture(t)
	ctx := t.Context()
	revoke := func(tok string) {
		t.Helper()
		if rec := f.post(PathRevoke, "app", biAppSecret, url.Values{"token": {tok}}); rec.Code != 200 {
			t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
		}
	}
	verifyOneTrip := func(tok, want string) {
		t.Helper()
		ts.reset()
		if reason := otVerify(t, f, tok); reason != want {
			t.Fatalf("Verify refused as %q, want %q", reason, want)
		}
		if ts.checked.Load() != 1 || ts.other.Load() != 0 {
			t.Fatalf("Verify cost %d checked reads and %d other store calls, want one checked read", ts.checked.Load(), ts.other.Load())
		}
	}

	cc := f.issue(t, "api_v3")
	verifyOneTrip(cc, "")
	access1, refresh1 := otTokens(t, f, "")
	verifyOneTrip(access1, "")

	// Its id on the deny-list (as another instance's revocation, or one
	// that could not delete the record, would leave it): refused.
	g1 := otRecord(t, f.store, access1)
	if err := f.store.Revoke(ctx, g1.ID, g1.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	verifyOneTrip(access1, "revoked")
	gc := otRecord(t, f.store, cc)
	if err := f.store.Revoke(ctx, gc.ID, gc.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	verifyOneTrip(cc, "revoked")

	// RFC 7009 on the access token itself.
	access2, refresh2 := otTokens(t, f, refresh1)
	verifyOneTrip(access2, "")
	revoke(access2)
	if reason := otVerify(t, f, access2); reason == "" {
		t.Fatal("a revoked access token verifies")
	}

	// RFC 7009 on the refresh token: the family's access tokens go with it.
	access3, refresh3 := otTokens(t, f, refresh2)
	verifyOneTrip(access3, "")
	revoke(refresh3)
	verifyOneTrip(access3, "revoked")

	// Replaying a rotated refresh token revokes the family (RFC 9700 §4.14.2).
	access4, refresh4 := otTokens(t, f, "")
	access5, _ := otTokens(t, f, refresh4)
	wantError(t, biRedeem(f, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh4}}), 400, "invalid_grant")
	verifyOneTrip(access4, "revoked")
	verifyOneTrip(access5, "revoked")
	for _, tok := range []string{access1, access2, access3, access4, access5, cc} {
		rec := f.post(PathIntrospect, "oro", "oro-secret-0123456789", url.Values{"token": {tok}})
		if m := decode(t, rec); rec.Code != 200 || m["active"] != false {
			t.Fatalf("a revoked token introspects as %d %v", rec.Code, m)
		}
	}
}

// CONFORMANCE K2
// CONFORMANCE R6
// The family bytes are the client's to change, but a changed token has no
// record: altered, swapped, added or removed family bytes, well formed
// again, are all refused as unknown.
func TestOpaqueForgedFamily_K2_R6(t *testing.T) {
	f, _ := otFixture(t)
	access, _ := otTokens(t, f, "")
	other, _ := otTokens(t, f, "")
	cc := f.issue(t, "api_v3")
	body, otherBody, ccBody := otBody(t, access), otBody(t, other), otBody(t, cc)

	flipped := append([]byte(nil), body...)
	flipped[3] ^= 0x20
	swapped := append(append([]byte(nil), otherBody[:familyBytes]...), body[familyBytes:]...)
	added := append(append([]byte(nil), body[:familyBytes]...), ccBody...)
	for name, raw := range map[string][]byte{
		"Altered": flipped, "OtherFamily": swapped, "FamilyAddedToAShortToken": added,
		"FamilyRemoved": body[familyBytes:],
	} {
		forged := sealOpaque(PrefixAccess, raw)
		if !WellFormedOpaque(forged, PrefixAccess) {
			t.Fatalf("%s: the forged token is not well formed", name)
		}
		if reason := otVerify(t, f, forged); reason != "unknown" {
			t.Errorf("%s: refused as %q, want unknown", name, reason)
		}
	}
	for _, tok := range []string{access, other, cc} {
		if reason := otVerify(t, f, tok); reason != "" {
			t.Fatalf("a genuine token refused as %q", reason)
		}
	}
}

// CONFORMANCE K2
// CONFORMANCE R6
// A token's record must carry the ids the token itself names (its derived
// id and its family): a record stored any other way — as no released
// version ever stored one — is refused, and Mint refuses a family id it
// cannot embed rather than mint a token whose family would go unchecked.
func TestOpaqueRecordMustMatchItsToken_K2_R6(t *testing.T) {
	f, _ := otFixture(t)
	ctx := t.Context()
	access, _ := otTokens(t, f, "")
	family := otRecord(t, f.store, access).FamilyID

	odd, _ := otForeignRecord(t, f, family)
	if reason := otVerify(t, f, odd); reason != "invalid" {
		t.Fatalf("a record with another id: %q, want invalid", reason)
	}
	now := f.srv.cfg.Now().Truncate(time.Second)
	g := &tokenstore.Grant{ClientID: "app", Subject: "alice", Scopes: []string{"api_v3"}, IssuedAt: now,
		ExpiresAt: now.Add(time.Hour), FamilyID: "not-a-newid"}
	if tok, err := f.srv.minter.Mint(ctx, g); err == nil {
		t.Fatalf("Mint with a family id it cannot embed gave %q", tok)
	}
}

// CONFORMANCE V2
// Introspection of a new opaque token shows the derived id as jti, which
// is no part of the token.
func TestIntrospectDerivedJTI_V2(t *testing.T) {
	f, _ := otFixture(t)
	access, _ := otTokens(t, f, "")
	for _, tok := range []string{access, f.issue(t, "api_v3")} {
		rec := f.post(PathIntrospect, "oro", "oro-secret-0123456789", url.Values{"token": {tok}})
		m := decode(t, rec)
		jti, _ := m["jti"].(string)
		if rec.Code != 200 || m["active"] != true || jti != opaqueAccessID(tok) || jti != otRecord(t, f.store, tok).ID {
			t.Fatalf("introspection %d %v; want active with jti the derived id", rec.Code, m)
		}
		if strings.Contains(tok, jti) {
			t.Fatal("the jti is a part of the token")
		}
	}
}

// CONFORMANCE R6
// CONFORMANCE S4
// On a real redis-server and a real Redis Cluster, with the cache off, the
// verifier reads a new opaque token and checks its id and family in one
// pipeline; revocations refuse at once;
// with Redis down the token is refused as store_unavailable, never
// accepted.
func TestOpaqueVerifyOneRoundTripOnRedis_R6(t *testing.T) {
	srv := redistest.Start(t)
	cluster := redistest.StartCluster(t)
	for name, cfg := range map[string]redisstore.Config{"Standalone": {URL: srv.URL()}, "Cluster": {Addrs: cluster.Addrs()}} {
		t.Run(name, func(t *testing.T) {
			cfg.Prefix = "onetrip-" + name + ":"
			st, err := redisstore.Open(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			f := biFixture(t, func(c *Config) {
				c.Format, c.VerifyCacheSize, c.Store, c.Now = FormatOpaque, -1, st, time.Now
			})
			f.clock.mu.Lock()
			f.clock.t = time.Now() // the consent biCode stores lives by it
			f.clock.mu.Unlock()
			if err := st.PutConsent(t.Context(), "alice", "app", []string{"api_v3"}, time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			access, refresh := otTokens(t, f, "")
			n := &redistest.Reads{}
			st.Client().AddHook(n)
			count := func(tok, want string, pipelines, single int32) {
				t.Helper()
				n.Reset()
				if reason := otVerify(t, f, tok); reason != want {
					t.Fatalf("Verify refused as %q, want %q", reason, want)
				}
				if n.Pipelines.Load() != pipelines || n.Single.Load() != single {
					t.Fatalf("Verify sent %d pipelines and %d commands, want %d and %d",
						n.Pipelines.Load(), n.Single.Load(), pipelines, single)
				}
			}
			count(access, "", 1, 0)
			if err := st.Revoke(t.Context(), otRecord(t, st, access).ID, time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			count(access, "revoked", 1, 0)
			access2, refresh2 := otTokens(t, f, refresh)
			count(access2, "", 1, 0)
			if rec := f.post(PathRevoke, "app", biAppSecret, url.Values{"token": {refresh2}}); rec.Code != 200 {
				t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
			}
			count(access2, "revoked", 1, 0)
			if name != "Standalone" {
				return
			}
			access3, _ := otTokens(t, f, "")
			srv.Stop()
			for _, tok := range []string{access3, access2} {
				id, err := f.srv.Verifier().Verify(t.Context(), tok)
				if err == nil || err.Code != ErrTemporarilyUnavailable.Code || err.Reason != "store_unavailable" {
					t.Fatalf("Redis down: Verify = %v, %v; want temporarily_unavailable (store_unavailable)", id, err)
				}
			}
		})
	}
}

// CONFORMANCE K2
// FuzzWellFormedOpaque: the token form's check never panics and accepts
// only the one spelling of a body of the right size under the right prefix
// (the long form for access tokens only), whose family it reads back.
func FuzzWellFormedOpaque(f *testing.F) {
	fam, _ := newID(rand.Reader)
	long, _ := newAccessToken(rand.Reader, fam)
	short, _ := NewOpaqueToken(rand.Reader, PrefixAccess)
	rt, _ := NewOpaqueToken(rand.Reader, PrefixRefresh)
	nl := long[:30] + "\n" + long[31:len(long)-opaqueSumLen]
	for _, s := range []string{long, short, rt, long[:len(long)-1], long + "A", "oga_", "", PrefixRefresh + long[4:],
		nl + opaqueChecksum(nl), strings.Repeat("A", opaqueFamilyLen)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		for _, prefix := range []string{PrefixAccess, PrefixRefresh, PrefixCode} {
			if !WellFormedOpaque(tok, prefix) {
				continue
			}
			raw, err := b64.DecodeString(tok[len(prefix) : len(tok)-opaqueSumLen])
			if err != nil || sealOpaque(prefix, raw) != tok {
				t.Fatalf("accepted %q, which is not the one spelling of its body", tok)
			}
			switch {
			case len(raw) == opaqueRandomBytes && opaqueFamily(tok) == "":
			case len(raw) == opaqueFamBodyBytes && prefix == PrefixAccess && opaqueFamily(tok) == b64.EncodeToString(raw[:familyBytes]):
			default:
				t.Fatalf("accepted %q: %d bytes under %s, family %q", tok, len(raw), prefix, opaqueFamily(tok))
			}
		}
		_, _ = opaqueFamily(tok), opaqueAccessID(tok)
	})
}

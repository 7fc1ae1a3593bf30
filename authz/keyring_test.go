// Tests of signing key rotation: old keys keep verifying, and stay published, until their tokens expire.

package authz

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// CONFORMANCE K3: after a rotation, tokens signed with the old key keep
// validating until they expire, new tokens carry the new kid, the JWKS lists
// both, and then only the new one once the old tokens have expired.
func TestKeyRotation_K3(t *testing.T) {
	const ttl = time.Hour
	retention := ttl + DefaultSkew
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	kr := &Keyring{}
	if _, err := kr.Rotate(AlgES256, t0, retention); err != nil {
		t.Fatal(err)
	}
	set0, err := kr.KeySet(t0)
	if err != nil {
		t.Fatal(err)
	}
	oldKid := set0.Signer().Kid
	f := newFixture(t, func(c *Config) { c.Keys = set0; c.AccessTokenTTL = ttl; c.Now = func() time.Time { return t0 } })
	f.clock.t = t0
	oldTok := f.issue(t, "")

	// Rotate 10 minutes later; the keyring survives a storage round trip.
	t1 := t0.Add(10 * time.Minute)
	newKey, err := kr.Rotate(AlgES256, t1, retention)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := kr.Marshal()
	kr, err = ParseKeyring(data)
	if err != nil {
		t.Fatal(err)
	}
	set1, _ := kr.KeySet(t1)
	f.srv.SetKeys(set1)
	f.clock.t = t1
	newTok := f.issue(t, "")
	if hdr, _ := jwtParts(t, newTok); hdr["kid"] != newKey.Kid || set1.Signer().Kid != newKey.Kid {
		t.Fatalf("new token kid %v, want %s", hdr["kid"], newKey.Kid)
	}
	if jwks := string(set1.JWKS()); !strings.Contains(jwks, oldKid) || !strings.Contains(jwks, newKey.Kid) {
		t.Fatalf("JWKS after rotation must list both keys: %s", jwks)
	}
	f.srv.verifier.Now = func() time.Time { return t1 }
	for name, tok := range map[string]string{"old": oldTok, "new": newTok} {
		if _, err := f.srv.Verifier().Verify(t.Context(), tok); err != nil {
			t.Fatalf("%s token after rotation: %v", name, err)
		}
	}
	// Once the old key's tokens have all expired, it leaves the JWKS.
	t2 := t1.Add(retention)
	set2, _ := kr.KeySet(t2)
	if jwks := string(set2.JWKS()); strings.Contains(jwks, oldKid) || !strings.Contains(jwks, newKey.Kid) {
		t.Fatalf("JWKS after the old tokens expired: %s", jwks)
	}
	// A later rotation prunes it from storage too.
	if _, err := kr.Rotate(AlgES256, t2, retention); err != nil {
		t.Fatal(err)
	}
	if len(kr.Keys) != 2 {
		t.Fatalf("keyring keeps %d keys, want the new and the previous one", len(kr.Keys))
	}
}

// CONFORMANCE K3
// A key retired by a rotation keeps verifying as long as any client's
// tokens live, dynamic clients included: a dynamic client's 24-hour JWT
// signed before the rotation still verifies 3 hours after it (with only
// the server's and the configured clients' 2 hours counted, it was refused
// then), and the key goes once that token has expired.
func TestKeyRetentionCountsDynamicClients_K3(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	kr := &Keyring{}
	if _, err := kr.Rotate(AlgES256, t0, 0); err != nil {
		t.Fatal(err)
	}
	set0, err := kr.KeySet(t0)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, uncached, func(c *Config) { c.Keys = set0 })
	if len(set0.Keys()) != 1 {
		t.Fatal("one key before the rotation")
	}
	f.clock.t = t0
	reg := f.srv.Registry()
	view, secret, err := reg.Create(t.Context(), tokenstore.Client{ID: "daily", Grants: []string{GrantClientCredentials},
		Scopes: []string{"api_v3"}, AccessTokenTTL: tokenstore.Duration(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	req := formReq(PathToken, url.Values{"grant_type": {"client_credentials"}})
	req.SetBasicAuth(view.ID, secret)
	rec := f.do(req)
	if rec.Code != 200 {
		t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	tok := decode(t, rec)["access_token"].(string)

	retention, err := f.srv.KeyRetention(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := 24*time.Hour + DefaultSkew; retention != want {
		t.Fatalf("KeyRetention = %v, want %v (the dynamic client's lifetime and the skew)", retention, want)
	}
	if _, err := kr.Rotate(AlgES256, t0.Add(time.Minute), retention); err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) *Error {
		t.Helper()
		now := t0.Add(d)
		set, err := kr.KeySet(now)
		if err != nil {
			t.Fatal(err)
		}
		f.srv.SetKeys(set)
		f.clock.t = now
		_, verr := f.srv.Verifier().Verify(t.Context(), tok)
		return verr
	}
	if err := at(3 * time.Hour); err != nil {
		t.Fatalf("the dynamic client's token 3h after the rotation: %v", err)
	}
	if err := at(23 * time.Hour); err != nil {
		t.Fatalf("the dynamic client's token 23h after the rotation: %v", err)
	}
	if set, _ := kr.KeySet(t0.Add(25 * time.Hour)); strings.Contains(string(set.JWKS()), set0.Signer().Kid) {
		t.Fatal("the retired key is still published once every token it signed has expired")
	}
}

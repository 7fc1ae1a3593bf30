// Tests of token verification: JWT access tokens, forged JWS, clock skew, opaque tokens, disabled clients.

package authz

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

func jwtParts(t *testing.T, tok string) (hdr, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact serialization: %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&hdr, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return hdr, claims
}

// CONFORMANCE K1: RFC 9068 header and claims, for every selectable algorithm,
// and the signature verifies against the published JWKS with jwx itself.
func TestJWTAccessTokens_K1(t *testing.T) {
	for _, alg := range SupportedAlgs {
		t.Run(alg, func(t *testing.T) {
			key, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, func(c *Config) { c.Keys, _ = NewKeySet(key) })
			tok := f.issue(t, "api_v3 bcf_v2_1")
			hdr, cl := jwtParts(t, tok)
			if hdr["typ"] != "at+jwt" || hdr["alg"] != alg || hdr["kid"] != key.Kid {
				t.Fatalf("header %v", hdr)
			}
			for _, c := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
				if _, ok := cl[c]; !ok {
					t.Fatalf("claim %s missing: %v", c, cl)
				}
			}
			if cl["iss"] != testIssuer || cl["sub"] != "svc-reporting" || cl["client_id"] != "reporting" ||
				cl["scope"] != "api_v3 bcf_v2_1" || cl["aud"] != "backend" {
				t.Fatalf("claims %v", cl)
			}
			if cl["exp"].(float64)-cl["iat"].(float64) != 7200 {
				t.Fatalf("lifetime %v", cl["exp"].(float64)-cl["iat"].(float64))
			}
			set, err := jwk.Parse(f.keys.JWKS())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jws.Verify([]byte(tok), jws.WithKeySet(set, jws.WithRequireKid(true))); err != nil {
				t.Fatalf("jwx cannot verify our token with our JWKS: %v", err)
			}
			if _, verr := f.srv.Verifier().Verify(t.Context(), tok); verr != nil {
				t.Fatalf("own verifier: %v", verr)
			}
		})
	}
}

// forge builds a JWS with an arbitrary header and signature function.
func forge(hdr, claims map[string]any, sign func(input string) []byte) string {
	h, _ := json.Marshal(hdr)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign(input))
}

// CONFORMANCE K1: only the configured algorithm verifies — never none, never
// HMAC keyed with the public key; unknown kid, other issuer, expired refused.
func TestJWTVerificationRefuses_K1(t *testing.T) {
	f := newFixture(t)
	good := f.issue(t, "api_v3")
	hdr, cl := jwtParts(t, good)
	pubDER, _ := x509.MarshalPKIXPublicKey(f.keys.Signer().Public())
	hmacWith := func(key []byte) func(string) []byte {
		return func(in string) []byte { m := hmac.New(sha256.New, key); m.Write([]byte(in)); return m.Sum(nil) }
	}
	with := func(m map[string]any, k string, v any) map[string]any {
		out := map[string]any{}
		for a, b := range m {
			out[a] = b
		}
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
		return out
	}
	parts := strings.Split(good, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	tests := map[string]string{
		"alg none":                  forge(with(hdr, "alg", "none"), cl, func(string) []byte { return nil }),
		"alg none, no signature":    strings.Join(parts[:2], ".") + ".",
		"HS256 with the public key": forge(with(hdr, "alg", "HS256"), cl, hmacWith(pubDER)),
		"HS256 with the kid":        forge(with(hdr, "alg", "HS256"), cl, hmacWith([]byte(f.keys.Signer().Kid))),
		"unknown kid":               forge(with(hdr, "kid", "other"), cl, func(string) []byte { return sig }),
		"no kid":                    forge(with(hdr, "kid", nil), cl, func(string) []byte { return sig }),
		"wrong typ":                 forge(with(hdr, "typ", "JWT"), cl, func(string) []byte { return sig }),
		"altered claims":            parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+testIssuer+`","sub":"root"}`)) + "." + parts[2],
		"truncated":                 good[:len(good)-10],
		"two parts":                 parts[0] + "." + parts[1],
		"four parts":                good + ".x",
		"garbage":                   "not-a-token",
		"padding bits in signature": parts[0] + "." + parts[1] + "." + flipPaddingBits(parts[2]),
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := f.srv.Verifier().Verify(t.Context(), tok); err == nil || err.Code != "invalid_token" {
				t.Fatalf("Verify = %v, want invalid_token", err)
			}
		})
	}
}

// flipPaddingBits changes the unused low bits of the last base64url
// character: the same bytes, another spelling.
func flipPaddingBits(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[last^1])
}

// CONFORMANCE R7: expiry and issued-at are checked with the configured skew.
func TestClockSkew_R7(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Skew = 30 * time.Second; c.AccessTokenTTL = time.Minute })
	tok := f.issue(t, "")
	v := f.srv.Verifier()
	f.clock.Advance(time.Minute + 29*time.Second)
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("token within skew after exp refused: %v", err)
	}
	f.clock.Advance(2 * time.Second)
	if _, err := v.Verify(t.Context(), tok); err == nil || err.Code != "invalid_token" {
		t.Fatalf("token past exp+skew accepted: %v", err)
	}
	// A token from a server whose clock is ahead: iat in the future.
	g := newFixture(t, func(c *Config) { c.Keys = f.keys; c.Skew = 30 * time.Second })
	g.clock.Advance(20 * time.Second)
	early := g.issue(t, "")
	if _, err := newVerifierAt(f, g.clock.Now().Add(-20*time.Second)).Verify(t.Context(), early); err != nil {
		t.Fatalf("iat 20s ahead within 30s skew refused: %v", err)
	}
	g.clock.Advance(40 * time.Second)
	later := g.issue(t, "")
	if _, err := newVerifierAt(f, g.clock.Now().Add(-60*time.Second)).Verify(t.Context(), later); err == nil {
		t.Fatal("iat 60s in the future accepted with 30s skew")
	}
}

func newVerifierAt(f *fixture, now time.Time) *Verifier {
	v := *f.srv.Verifier()
	v.Now = func() time.Time { return now }
	return &v
}

// CONFORMANCE K2: opaque tokens: prefix, 256 random bits, checksum; stored
// only by SHA-256; malformed tokens refused without a store lookup.
func TestOpaqueTokens_K2(t *testing.T) {
	f := newFixture(t, opaque)
	tok := f.issue(t, "api_v3")
	if !strings.HasPrefix(tok, PrefixAccess) || len(tok) != opaqueLen {
		t.Fatalf("token %q: want prefix %s and length %d", tok[:6], PrefixAccess, opaqueLen)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok[len(PrefixAccess) : len(PrefixAccess)+opaqueBodyLen])
	if err != nil || len(raw) != 32 {
		t.Fatalf("random part: %d bytes, %v", len(raw), err)
	}
	if len(f.store.puts) != 1 || f.store.puts[0] != tokenstore.KeyOf(tok) {
		t.Fatalf("store keys = %v, want only sha256(token)", f.store.puts)
	}
	g, _ := json.Marshal(f.store.grants[0])
	if strings.Contains(string(g), tok) || strings.Contains(string(g), tok[len(PrefixAccess):len(PrefixAccess)+20]) {
		t.Fatal("the stored record contains the token")
	}
	id, verr := f.srv.Verifier().Verify(t.Context(), tok)
	if verr != nil || id.Subject != "svc-reporting" || strings.Join(id.Scopes, " ") != "api_v3" {
		t.Fatalf("Verify = %+v, %v", id, verr)
	}
	before := f.store.gets
	last := tok[len(tok)-1]
	flipped := tok[:len(tok)-1] + string(map[bool]byte{true: 'A', false: 'B'}[last != 'A'])
	for _, bad := range []string{flipped, tok[:len(tok)-1], tok + "A", "oga_" + strings.Repeat("A", 49), PrefixRefresh + tok[4:]} {
		if _, err := f.srv.Verifier().Verify(t.Context(), bad); err == nil || err.Code != "invalid_token" {
			t.Fatalf("malformed opaque token accepted: %v", err)
		}
	}
	if f.store.gets != before {
		t.Fatalf("malformed tokens cost %d store lookups, want 0", f.store.gets-before)
	}
	// Two tokens are never alike.
	if other := f.issue(t, "api_v3"); other == tok {
		t.Fatal("two issuances returned the same token")
	}
}

// CONFORMANCE M3 (verifier side): a disabled client's tokens stop validating.
func TestDisabledClientTokens_M3(t *testing.T) {
	f := newFixture(t, opaque)
	tok := f.issue(t, "")
	f.clients["reporting"].Disabled = true
	if _, err := f.srv.Verifier().Verify(t.Context(), tok); err == nil || err.Code != "invalid_token" {
		t.Fatalf("token of a disabled client: %v", err)
	}
}

// FuzzVerify: the verifier never panics and accepts nothing but what the
// server signed (the identity of anything accepted equals the original's).
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	good := fx.issue(f, "api_v3")
	ox := newFixture(f, opaque)
	goodOpaque := ox.issue(f, "api_v3")
	parts := strings.Split(good, ".")
	for _, s := range []string{good, goodOpaque, parts[0] + "." + parts[1] + ".", "a.b.c", "oga_x", "", "..", good + good,
		parts[0] + "." + parts[1] + "." + flipPaddingBits(parts[2])} {
		f.Add(s)
	}
	want, _ := fx.srv.Verifier().Verify(context.Background(), good)
	f.Fuzz(func(t *testing.T, tok string) {
		for _, v := range []*Verifier{fx.srv.Verifier(), ox.srv.Verifier()} {
			id, err := v.Verify(context.Background(), tok)
			if err != nil {
				if err.Code != "invalid_token" {
					t.Fatalf("unexpected error code %v", err)
				}
				continue
			}
			if tok != good && tok != goodOpaque && (id.ID != want.ID || id.Subject != want.Subject) {
				t.Fatalf("accepted a token the server never issued: %q", tok)
			}
		}
	})
}

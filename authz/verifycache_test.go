package authz

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"
)

func cached(c *Config) { c.VerifyCacheSize = 1000 }

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
				if _, err := v.Verify(t.Context(), tok); err != nil {
					t.Fatal(err)
				}
			}
			// Revoked through the endpoint: refused at once although cached.
			if rec := f.post(PathRevoke, "reporting", testSecret, url.Values{"token": {tok}}); rec.Code != 200 {
				t.Fatal(rec.Code)
			}
			if _, err := v.Verify(t.Context(), tok); err == nil {
				t.Fatal("a revoked token was served from the cache")
			}
			// Expiry is checked on the cached path with the injected clock.
			tok2 := f.issue(t, "")
			if _, err := v.Verify(t.Context(), tok2); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Hour + DefaultSkew + time.Second)
			if _, err := v.Verify(t.Context(), tok2); err == nil {
				t.Fatal("an expired token was served from the cache")
			}
			// A disabled client's cached token stops validating.
			tok3 := f.issue(t, "")
			v.Verify(t.Context(), tok3)
			f.clients["reporting"].Disabled = true
			if _, err := v.Verify(t.Context(), tok3); err == nil {
				t.Fatal("a disabled client's token was served from the cache")
			}
			f.clients["reporting"].Disabled = false
			// Another instance's revocation reaches the shared store; the
			// cached entry is stale until its notification arrives through
			// NoteRevoked, which is why the Redis store publishes them.
			tok4 := f.issue(t, "")
			id, _ := v.Verify(t.Context(), tok4)
			if err := f.store.Revoke(t.Context(), id.ID, id.ExpiresAt); err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(t.Context(), tok4); err != nil {
				t.Fatalf("cached entry before the notification: %v", err)
			}
			v.NoteRevoked(id.ID)
			if _, err := v.Verify(t.Context(), tok4); err == nil {
				t.Fatal("a token revoked elsewhere was served from the cache")
			}
		})
	}
}

// The cache is keyed by the decoded signature and the exact signing input:
// the same signature under a changed payload is not the cached token.
func TestVerifyCacheKeysOnTheWholeToken(t *testing.T) {
	f := newFixture(t, cached)
	v := f.srv.Verifier()
	tok := f.issue(t, "api_v3")
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+testIssuer+`","sub":"root","client_id":"reporting","jti":"x","exp":9999999999,"scope":"admin"}`)) + "." + parts[2]
	if _, err := v.Verify(t.Context(), forged); err == nil {
		t.Fatal("a cached signature made another payload valid")
	}
	if _, err := v.Verify(t.Context(), parts[0]+"."+parts[1]+"."+flipPaddingBits(parts[2])); err == nil {
		t.Fatal("another spelling of a cached signature was accepted")
	}
}

// The hot path of a cached check allocates nothing.
func TestCachedCheckAllocatesNothing(t *testing.T) {
	for _, format := range []TokenFormat{FormatJWT, FormatOpaque} {
		f := newFixture(t, cached, func(c *Config) { c.Format = format })
		v := f.srv.Verifier()
		tok := f.issue(t, "api_v3")
		p := &Policy{Scopes: []string{"api_v3"}, Audience: []string{"backend"}}
		ctx := context.Background()
		v.Verify(ctx, tok)
		allocs := testing.AllocsPerRun(200, func() {
			id, err := v.Verify(ctx, tok)
			if err != nil || p.Check(id) != nil {
				t.Fatal("cached check failed")
			}
		})
		if allocs != 0 {
			t.Fatalf("%s: cached check allocates %.1f times per call", format, allocs)
		}
	}
}

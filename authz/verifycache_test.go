package authz

import (
	"context"
	"encoding/base64"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"weak"
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
			v.Authenticate(t.Context(), tok3)
			f.clients["reporting"].Disabled = true
			if _, err := v.Authenticate(t.Context(), tok3); err == nil {
				t.Fatal("a disabled client's token was served from the cache")
			}
			f.clients["reporting"].Disabled = false
			// Another instance's revocation reaches the shared store; the
			// cached entry is stale until its notification arrives through
			// NoteRevoked, which is why the Redis store publishes them.
			tok4 := f.issue(t, "")
			if _, err := v.Authenticate(t.Context(), tok4); err != nil {
				t.Fatal(err)
			}
			id, _ := v.Verify(t.Context(), tok4)
			if err := f.store.Revoke(t.Context(), id.ID, id.ExpiresAt); err != nil {
				t.Fatal(err)
			}
			if _, err := v.Authenticate(t.Context(), tok4); err != nil {
				t.Fatalf("cached entry before the notification: %v", err)
			}
			v.NoteRevoked(id.ID)
			if _, err := v.Authenticate(t.Context(), tok4); err == nil {
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

// The hot path of a cached check allocates nothing.
func TestCachedCheckAllocatesNothing(t *testing.T) {
	for _, format := range []TokenFormat{FormatJWT, FormatOpaque} {
		f := newFixture(t, cached, func(c *Config) { c.Format = format })
		v := f.srv.Verifier()
		tok := f.issue(t, "api_v3")
		p := &Policy{Scopes: []string{"api_v3"}, Audience: []string{"backend"}}
		ctx := context.Background()
		v.Authenticate(ctx, tok)
		allocs := testing.AllocsPerRun(200, func() {
			id, err := v.Authenticate(ctx, tok)
			if err != nil || p.Check(id) != nil {
				t.Fatal("cached check failed")
			}
		})
		if allocs != 0 {
			t.Fatalf("%s: cached check allocates %.1f times per call", format, allocs)
		}
	}
}

// CONFORMANCE R5: the cached tokens of one grant share one principal, and a
// cache of many tokens is not many heap objects — the garbage collector
// walks every live object on each cycle, so a cache of 12 objects per token
// made every request on a busy gateway pay for the cache's size.
func TestVerifyCacheIsNotAnObjectPerToken(t *testing.T) {
	for _, format := range []TokenFormat{FormatJWT, FormatOpaque} {
		t.Run(string(format), func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.Format, c.VerifyCacheSize = format, 100_000 })
			v := f.srv.Verifier()
			toks := make([]string, 5000)
			for i := range toks {
				toks[i] = f.issue(t, "api_v3")
			}
			first, err := v.Authenticate(t.Context(), toks[0])
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for _, tok := range toks[1:] {
				p, err := v.Authenticate(t.Context(), tok)
				if err != nil {
					t.Fatal(err)
				}
				if p != first {
					t.Fatal("two tokens of one grant got two principals")
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			perToken := (float64(after.HeapObjects) - float64(before.HeapObjects)) / float64(len(toks)-1)
			t.Logf("%.2f heap objects per cached token", perToken)
			if perToken > 0.2 {
				t.Fatalf("the cache holds %.2f heap objects per token, want next to none", perToken)
			}
			// Cached, each still answers with the principal's whole identity.
			p, err := v.Authenticate(t.Context(), toks[len(toks)-1])
			if err != nil || p.Subject != "svc-reporting" || p.ClientID != "reporting" || p.Scope != "api_v3" ||
				!slices.Equal(p.Audience, []string{"backend"}) || p.AudienceString != "backend" {
				t.Fatalf("cached principal %+v, %v", p, err)
			}
			if sub, cid, scope := p.PlaceholderValues(); sub != "svc-reporting" || cid != "reporting" || scope != "api_v3" {
				t.Fatalf("placeholder values %v %v %v", sub, cid, scope)
			}
		})
	}
}

// CONFORMANCE R4: principals are shared by exact scopes and audience. Two
// audiences that join to the same string ("a b" vs "a", "b") are never
// mixed up, and a principal no cached token holds is collected.
func TestPrincipalTable(t *testing.T) {
	tab := principalTable{m: map[principalKey]weak.Pointer[Principal]{}}
	mk := func(aud ...string) *Principal {
		return newIdentity("alice", "app", []string{"read", "write"}, aud, time.Time{}, time.Time{}, "", "").Principal
	}
	two := tab.intern(mk("a", "b"))
	if got := tab.intern(mk("a", "b")); got != two {
		t.Fatal("equal principals were not shared")
	}
	one := tab.intern(mk("a b"))
	if one == two || !slices.Equal(one.Audience, []string{"a b"}) || !slices.Equal(two.Audience, []string{"a", "b"}) {
		t.Fatalf("audiences mixed up: %q %q", one.Audience, two.Audience)
	}
	if (&Policy{Audience: []string{"a"}}).Check(one) == nil {
		t.Fatal(`audience "a b" passed a policy for "a"`)
	}
	if !slices.Equal(two.Scopes, []string{"read", "write"}) || two.Scope != "read write" || two.Subject != "alice" || two.ClientID != "app" {
		t.Fatalf("packed principal %+v", two)
	}
	// Appending to one list of a packed principal cannot write into the other.
	_ = append(two.Scopes, "x")
	if two.Audience[0] != "a" {
		t.Fatal("the packed scope and audience lists overlap")
	}
	one, two = nil, nil
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		tab.mu.Lock()
		n := len(tab.m)
		tab.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d principals no token holds are still in the table", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

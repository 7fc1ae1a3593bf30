// Benchmarks of verifying tokens (JWT, opaque, cached, stdlib and jwx baselines) and of issuing them.

package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"math/big"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// Micro-benchmarks of the hot paths; `go test ./authz -run '^$' -bench . -benchmem`.

func benchVerify(b *testing.B, opts ...fixtureOpt) {
	f := newFixture(b, opts...)
	toks := make([]string, 64)
	for i := range toks {
		toks[i] = f.issue(b, "api_v3")
	}
	v := f.srv.Verifier()
	p := &Policy{Scopes: []string{"api_v3"}}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id, err := v.Authenticate(ctx, toks[i%len(toks)])
		if err != nil || p.Check(id) != nil {
			b.Fatal(err)
		}
	}
}

func withAlg(alg string) fixtureOpt {
	return func(c *Config) {
		k, err := GenerateKey(alg)
		if err != nil {
			panic(err)
		}
		c.Keys, _ = NewKeySet(k)
	}
}

func BenchmarkVerifyJWTES256(b *testing.B)       { benchVerify(b, withAlg(AlgES256), uncached) }
func BenchmarkVerifyJWTEdDSA(b *testing.B)       { benchVerify(b, withAlg(AlgEdDSA), uncached) }
func BenchmarkVerifyJWTRS256(b *testing.B)       { benchVerify(b, withAlg(AlgRS256), uncached) }
func BenchmarkVerifyOpaqueMemory(b *testing.B)   { benchVerify(b, opaque, uncached) }
func BenchmarkVerifyJWTES256Cached(b *testing.B) { benchVerify(b, withAlg(AlgES256), cached) }
func BenchmarkVerifyOpaqueCached(b *testing.B)   { benchVerify(b, opaque, cached) }

// BenchmarkStdlibVerify is what an uncached JWT check is measured against:
// crypto/ecdsa and crypto/ed25519 alone on the same signatures (the
// signing input hashed, as for ES256), cycling through 64 tokens.
func BenchmarkStdlibVerify(b *testing.B) {
	for _, alg := range []string{AlgES256, AlgEdDSA} {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, withAlg(alg))
			key := f.keys.Signer()
			type signed struct{ input, sig []byte }
			var toks []signed
			for range 64 {
				tok := f.issue(b, "api_v3")
				dot := strings.LastIndexByte(tok, '.')
				sig, err := b64.DecodeString(tok[dot+1:])
				if err != nil {
					b.Fatal(err)
				}
				toks = append(toks, signed{[]byte(tok[:dot]), sig})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				t := toks[i%len(toks)]
				var ok bool
				switch pub := key.Public().(type) {
				case *ecdsa.PublicKey:
					sum := sha256.Sum256(t.input)
					ok = ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(t.sig[:32]), new(big.Int).SetBytes(t.sig[32:]))
				case ed25519.PublicKey:
					ok = ed25519.Verify(pub, t.input, t.sig)
				}
				if !ok {
					b.Fatal("signature refused")
				}
			}
		})
	}
}

// BenchmarkJWXParse is the alternative the verifier's design was measured
// against: jwx's jwt.Parse with validation, on the same tokens as
// BenchmarkVerifyJWTES256, where the verifier uses jws.Verify and decodes
// the claims into a struct (see bench/NOTES.md).
func BenchmarkJWXParse(b *testing.B) {
	f := newFixture(b)
	toks := make([]string, 64)
	for i := range toks {
		toks[i] = f.issue(b, "api_v3")
	}
	set, _ := jwk.Parse(f.keys.JWKS())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := jwt.Parse([]byte(toks[i%len(toks)]), jwt.WithKeySet(set), jwt.WithValidate(true), jwt.WithClock(jwt.ClockFunc(f.clock.Now))); err != nil {
			b.Fatal(err)
		}
	}
}

func benchIssue(b *testing.B, opts ...fixtureOpt) {
	f := newFixture(b, opts...)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"reporting"}, "client_secret": {testSecret}}.Encode()
	h := f.srv.Handler(PathToken)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", PathToken, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

func BenchmarkIssueClientCredentialsJWT(b *testing.B)    { benchIssue(b) }
func BenchmarkIssueClientCredentialsOpaque(b *testing.B) { benchIssue(b, opaque) }

// BenchmarkVerifyCache100k weighs otter against the simplest cache that
// could replace it — a map under a read-write lock, holding the same
// entries — at 100,000 cached tokens, every goroutine cycling through all
// of them. Run with -cpu 2 (the gateway's cores here); bench/NOTES.md has
// the numbers and the conclusion.
func BenchmarkVerifyCache100k(b *testing.B) {
	const n = 100_000
	f := newFixture(b, opaque, func(c *Config) { c.VerifyCacheSize = n })
	v := f.srv.Verifier()
	now := f.clock.Now()
	keys := make([]cacheKey, n)
	simple := struct {
		sync.RWMutex
		m map[cacheKey]*cachedToken
	}{m: make(map[cacheKey]*cachedToken, n)}
	for i := range keys {
		g := tokenstore.Grant{ClientID: "reporting", Subject: "svc-reporting", Scopes: []string{"api_v3"},
			IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		tok, err := f.srv.minter.Mint(context.Background(), &g)
		if err != nil {
			b.Fatal(err)
		}
		if _, aerr := v.Authenticate(context.Background(), tok); aerr != nil {
			b.Fatal(aerr)
		}
		keys[i] = cacheKey(sha256.Sum256([]byte(tok)))
		t, ok := v.cache.get(keys[i], now, v.Skew)
		if !ok {
			b.Fatal("not cached")
		}
		simple.m[keys[i]] = t
	}
	b.Run("otter", func(b *testing.B) {
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for i := int(next.Add(7919)); pb.Next(); i++ {
				if _, ok := v.cache.get(keys[i%n], now, v.Skew); !ok {
					b.Fatal("miss")
				}
			}
		})
	})
	b.Run("rwmutex-map", func(b *testing.B) {
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for i := int(next.Add(7919)); pb.Next(); i++ {
				simple.RLock()
				t, ok := simple.m[keys[i%n]]
				simple.RUnlock()
				if !ok || t.revoked.Load() || !now.Before(t.exp.Add(v.Skew)) {
					b.Fatal("miss")
				}
			}
		})
	})
}

// BenchmarkRegister is RFC 7591 registration (CONFORMANCE G1) into the
// memory store: parse, check, generate a secret, store, answer.
func BenchmarkRegister(b *testing.B) {
	f := newFixture(b, func(c *Config) {
		c.Registration = RegistrationConfig{Mode: RegistrationOpen, Scopes: []string{"api_v3"}, Rate: 1 << 30, MaxClients: 1 << 30}
	})
	h := f.srv.Handler(PathRegister)
	body := `{"redirect_uris":["https://app.example/cb","http://127.0.0.1/cb"],"client_name":"Bench","scope":"api_v3",` +
		`"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"client_secret_basic"}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", PathRegister, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 201 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

package authz

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
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

func BenchmarkVerifyJWTES256(b *testing.B)       { benchVerify(b, withAlg(AlgES256)) }
func BenchmarkVerifyJWTEdDSA(b *testing.B)       { benchVerify(b, withAlg(AlgEdDSA)) }
func BenchmarkVerifyJWTRS256(b *testing.B)       { benchVerify(b, withAlg(AlgRS256)) }
func BenchmarkVerifyOpaqueMemory(b *testing.B)   { benchVerify(b, opaque) }
func BenchmarkVerifyJWTES256Cached(b *testing.B) { benchVerify(b, withAlg(AlgES256), cached) }
func BenchmarkVerifyOpaqueCached(b *testing.B)   { benchVerify(b, opaque, cached) }

// BenchmarkJWXParse is the reference the design decision was taken against:
// jwx's jwt.Parse with verification, on the same token.
func BenchmarkJWXParse(b *testing.B) {
	f := newFixture(b)
	tok := f.issue(b, "api_v3")
	set, _ := jwk.Parse(f.keys.JWKS())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jwt.Parse([]byte(tok), jwt.WithKeySet(set), jwt.WithValidate(true), jwt.WithClock(jwt.ClockFunc(f.clock.Now))); err != nil {
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

// Tests of trusted issuers against issuers on loopback HTTP servers: JWT checks, key isolation, algorithms, JWKS, introspection, claims.

package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// testIdP is an issuer on a loopback HTTP server: discovery, a JWKS whose
// answer a test can change, and an introspection endpoint.
type testIdP struct {
	*httptest.Server
	mu         sync.Mutex
	keys       []jwk.Key // private, as signed with
	jwksBody   func() (int, string, string)
	introspect func(w http.ResponseWriter, r *http.Request)
	jwksHits   atomic.Int64
	introHits  atomic.Int64
}

func newTestIdP(t testing.TB) *testIdP {
	p := &testIdP{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"introspection_endpoint":%q}`, p.URL, p.URL+"/jwks", p.URL+"/introspect")
		case "/jwks":
			p.jwksHits.Add(1)
			p.mu.Lock()
			body := p.jwksBody
			p.mu.Unlock()
			status, ct, b := http.StatusOK, "application/json", p.publicJWKS()
			if body != nil {
				status, ct, b = body()
			}
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(status)
			_, _ = w.Write([]byte(b))
		case "/introspect":
			p.introHits.Add(1)
			p.mu.Lock()
			h := p.introspect
			p.mu.Unlock()
			h(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *testIdP) setJWKS(f func() (int, string, string)) {
	p.mu.Lock()
	p.jwksBody = f
	p.mu.Unlock()
}

func (p *testIdP) setIntrospect(h func(w http.ResponseWriter, r *http.Request)) {
	p.mu.Lock()
	p.introspect = h
	p.mu.Unlock()
}

// addKey generates a key of alg with kid and publishes it.
func (p *testIdP) addKey(t testing.TB, alg jwa.SignatureAlgorithm, kid string) jwk.Key {
	t.Helper()
	var raw any
	var err error
	if strings.HasPrefix(alg.String(), "ES") {
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		raw, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = k.Set(jwk.KeyIDKey, kid)
	_ = k.Set(jwk.AlgorithmKey, alg)
	p.mu.Lock()
	p.keys = append([]jwk.Key{k}, p.keys...)
	p.mu.Unlock()
	return k
}

func (p *testIdP) publicJWKS() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	set := jwk.NewSet()
	for _, k := range p.keys {
		pub, _ := k.PublicKey()
		_ = set.AddKey(pub)
	}
	b, _ := json.Marshal(set)
	return string(b)
}

// sign makes a compact JWS of claims with key k (its alg and kid) and typ.
func sign(t testing.TB, k jwk.Key, typ string, claims map[string]any) string {
	t.Helper()
	payload, _ := json.Marshal(claims)
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, k.KeyID())
	if typ != "" {
		_ = hdr.Set(jws.TypeKey, typ)
	}
	alg := jwa.SignatureAlgorithm(k.Algorithm().String())
	tok, err := jws.Sign(payload, jws.WithKey(alg, k, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

type trustFixture struct {
	v      *Verifier
	clock  *clock
	events chan TrustEvent
}

func newTrustFixture(t *testing.T, cfgs ...TrustConfig) *trustFixture {
	t.Helper()
	f := &trustFixture{clock: &clock{t: time.Now()}, events: make(chan TrustEvent, 1000)}
	tr, err := NewTrust(t.Context(), cfgs, TrustOptions{Now: f.clock.Now, Observe: func(e TrustEvent) {
		select {
		case f.events <- e:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.v = NewGatewayVerifier(tr, 0, 0)
	return f
}

func (f *trustFixture) check(tok string, p *Policy) (*Principal, *Error) {
	if p == nil {
		p = &Policy{}
	}
	return f.v.AuthenticateRoute(context.Background(), tok, testAddr, p)
}

func wantRefused(t *testing.T, what string, p *Principal, e *Error, code, reason string) {
	t.Helper()
	if e == nil {
		t.Fatalf("%s: accepted (%+v), want %s/%s", what, p, code, reason)
	}
	if e.Code != code || (reason != "" && e.Reason != reason) {
		t.Fatalf("%s: got %s/%s (%s), want %s/%s", what, e.Code, e.Reason, e.Description, code, reason)
	}
}

func (f *trustFixture) claims(iss string, kv ...any) map[string]any {
	now := f.clock.Now().Unix()
	m := map[string]any{"iss": iss, "sub": "user-1", "azp": "app-1", "aud": "api://orders",
		"iat": now, "exp": now + 300, "scope": "orders:read orders:write"}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
		} else {
			m[kv[i].(string)] = kv[i+1]
		}
	}
	return m
}

// CONFORMANCE X1
// CONFORMANCE X2
// CONFORMANCE R4: a trusted issuer's JWT is checked with that issuer's
// keys, its iss byte for byte, its times with skew, its aud against the
// trust block's audience or the route's resource; typ at+jwt accepted and
// not required.
func TestTrustJWTChecks(t *testing.T) {
	idp := newTestIdP(t)
	k := idp.addKey(t, jwa.ES256, "k1")
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"},
		Headers: map[string]string{"X-Roles": "realm_access.roles"}})
	iss := idp.URL

	for _, typ := range []string{"", "JWT", "at+jwt", "application/at+jwt"} {
		p, e := f.check(sign(t, k, typ, f.claims(iss, "realm_access", map[string]any{"roles": []string{"a", "b"}})), nil)
		if e != nil {
			t.Fatalf("typ %q: refused: %v", typ, e)
		}
		if p.Subject != "user-1" || p.ClientID != "app-1" || p.Scope != "orders:read orders:write" || p.Issuer != iss {
			t.Fatalf("typ %q: principal %+v", typ, p)
		}
		if len(p.Headers) != 1 || p.Headers[0] != (Header{"X-Roles", "a b"}) {
			t.Fatalf("headers %+v", p.Headers)
		}
		if !strings.Contains(p.DecidedBy, "key k1") {
			t.Fatalf("DecidedBy %q", p.DecidedBy)
		}
	}
	now := f.clock.Now().Unix()
	cases := []struct {
		name            string
		tok             string
		policy          *Policy
		code, reason    string
		acceptedInstead bool
	}{
		{name: "iss with a trailing slash", tok: sign(t, k, "", f.claims(iss+"/")), code: "invalid_token", reason: "untrusted_issuer"},
		{name: "expired", tok: sign(t, k, "", f.claims(iss, "exp", now-31)), code: "invalid_token", reason: "expired"},
		{name: "expired within skew", tok: sign(t, k, "", f.claims(iss, "exp", now-5)), acceptedInstead: true},
		{name: "no exp", tok: sign(t, k, "", f.claims(iss, "exp", nil)), code: "invalid_token", reason: "invalid"},
		{name: "nbf in the future", tok: sign(t, k, "", f.claims(iss, "nbf", now+60)), code: "invalid_token", reason: "invalid"},
		{name: "iat in the future", tok: sign(t, k, "", f.claims(iss, "iat", now+60)), code: "invalid_token", reason: "invalid"},
		{name: "iat within skew", tok: sign(t, k, "", f.claims(iss, "iat", now+10)), acceptedInstead: true},
		{name: "other audience", tok: sign(t, k, "", f.claims(iss, "aud", "api://billing")), code: "invalid_token", reason: "audience"},
		{name: "no audience", tok: sign(t, k, "", f.claims(iss, "aud", nil)), code: "invalid_token", reason: "audience"},
		{name: "aud names the route's resource", tok: sign(t, k, "", f.claims(iss, "aud", []string{"x", "https://api.test/orders"})),
			policy: &Policy{Resource: "https://api.test/orders"}, acceptedInstead: true},
		{name: "resource of another route", tok: sign(t, k, "", f.claims(iss, "aud", "https://api.test/orders")),
			policy: &Policy{Resource: "https://api.test/billing"}, code: "invalid_token", reason: "audience"},
		{name: "typ of another kind", tok: sign(t, k, "dpop+jwt", f.claims(iss)), code: "invalid_token", reason: "invalid"},
		{name: "sender-constrained", tok: sign(t, k, "", f.claims(iss, "cnf", map[string]any{"jkt": "x"})), code: "invalid_token", reason: "invalid"},
		{name: "scope claim not a string", tok: sign(t, k, "", f.claims(iss, "scope", 42)), code: "invalid_token", reason: "invalid"},
		// RFC 6749 §3.3: scope-tokens are separated by spaces only; one
		// joined by other white space is no scope-token, never several.
		{name: "scopes joined by a no-break space", tok: sign(t, k, "", f.claims(iss, "scope", "orders:read\u00a0admin")), code: "invalid_token", reason: "invalid"},
		{name: "scopes joined by a tab", tok: sign(t, k, "", f.claims(iss, "scope", "orders:read\tadmin")), code: "invalid_token", reason: "invalid"},
		{name: "an scp element of two scopes", tok: sign(t, k, "", f.claims(iss, "scope", nil, "scp", []string{"orders:read admin"})), code: "invalid_token", reason: "invalid"},
		{name: "scopes with two spaces between", tok: sign(t, k, "", f.claims(iss, "scope", "orders:read  orders:write")), acceptedInstead: true},
		// What reaches the upstream as an identity header is never altered:
		// a value no header can carry refuses the token.
		{name: "a line break in sub", tok: sign(t, k, "", f.claims(iss, "sub", "alice\r\nX-Admin: 1")), code: "invalid_token", reason: "invalid"},
		{name: "a line break in azp", tok: sign(t, k, "", f.claims(iss, "azp", "app\nx")), code: "invalid_token", reason: "invalid"},
		{name: "a line break in an aud", tok: sign(t, k, "", f.claims(iss, "aud", []string{"api://orders", "evil\r\nX-Y: 1"})), code: "invalid_token", reason: "invalid"},
		{name: "a sub of 3000 bytes", tok: sign(t, k, "", f.claims(iss, "sub", strings.Repeat("s", 3000))), code: "invalid_token", reason: "invalid"},
		{name: "a sub in UTF-8", tok: sign(t, k, "", f.claims(iss, "sub", "jürgen")), acceptedInstead: true},
		{name: "issuer not accepted on the route", tok: sign(t, k, "", f.claims(iss)), policy: &Policy{Issuers: []string{"https://other.test"}},
			code: "invalid_token", reason: "issuer"},
		{name: "missing scope", tok: sign(t, k, "", f.claims(iss, "scope", "orders:read")), policy: &Policy{Scopes: []string{"orders:write"}},
			code: "insufficient_scope"},
	}
	for _, c := range cases {
		p, e := f.check(c.tok, c.policy)
		if c.acceptedInstead {
			if e != nil {
				t.Errorf("%s: refused: %v", c.name, e)
			}
			continue
		}
		wantRefused(t, c.name, p, e, c.code, c.reason)
	}
	// scp as an array (Okta) or a string (Entra), read when scope is absent.
	for _, scp := range []any{[]string{"orders:read", "orders:write"}, "orders:read orders:write"} {
		p, e := f.check(sign(t, k, "", f.claims(iss, "scope", nil, "scp", scp)), &Policy{Scopes: []string{"orders:write"}})
		if e != nil || p.Scope != "orders:read orders:write" {
			t.Fatalf("scp %v: %v %+v", scp, e, p)
		}
	}
}

// CONFORMANCE X1: a key verifies only tokens of the issuer whose JWKS it
// came from — an iss naming issuer A signed with B's key (same kid) is
// refused; an issuer not configured is refused without any fetch.
func TestTrustKeysStayWithTheirIssuer(t *testing.T) {
	a, b := newTestIdP(t), newTestIdP(t)
	ka := a.addKey(t, jwa.ES256, "shared-kid")
	kb := b.addKey(t, jwa.ES256, "shared-kid")
	f := newTrustFixture(t,
		TrustConfig{Issuer: a.URL, Audience: []string{"api://orders"}},
		TrustConfig{Issuer: b.URL, Audience: []string{"api://orders"}})
	if _, e := f.check(sign(t, ka, "", f.claims(a.URL)), nil); e != nil {
		t.Fatalf("A's own token: %v", e)
	}
	if _, e := f.check(sign(t, kb, "", f.claims(b.URL)), nil); e != nil {
		t.Fatalf("B's own token: %v", e)
	}
	p, e := f.check(sign(t, kb, "", f.claims(a.URL)), nil)
	wantRefused(t, "iss A signed with B's key of the same kid", p, e, "invalid_token", "invalid")
	p, e = f.check(sign(t, ka, "", f.claims(b.URL)), nil)
	wantRefused(t, "iss B signed with A's key", p, e, "invalid_token", "invalid")
	other := newTestIdP(t)
	ko := other.addKey(t, jwa.ES256, "k")
	p, e = f.check(sign(t, ko, "", f.claims(other.URL)), nil)
	wantRefused(t, "an issuer not configured", p, e, "invalid_token", "untrusted_issuer")
	if other.jwksHits.Load() != 0 {
		t.Fatal("the JWKS of an issuer not configured was fetched")
	}
}

// CONFORMANCE X2: only the configured algorithms; never none or HMAC (not
// even with the issuer's public key as the secret); a key of another type
// than the algorithm is never used.
func TestTrustAlgorithmConfusion(t *testing.T) {
	idp := newTestIdP(t)
	rk := idp.addKey(t, jwa.RS256, "rsa")
	ek := idp.addKey(t, jwa.ES256, "ec")
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"}, Algorithms: []string{"RS256"}})
	if _, e := f.check(sign(t, rk, "", f.claims(idp.URL)), nil); e != nil {
		t.Fatalf("RS256: %v", e)
	}
	p, e := f.check(sign(t, ek, "", f.claims(idp.URL)), nil)
	wantRefused(t, "ES256 when only RS256 is configured", p, e, "invalid_token", "invalid")

	pub, _ := rk.PublicKey()
	pubJSON, _ := json.Marshal(pub)
	for _, alg := range []string{"HS256", "none", "ES256", "PS256"} {
		tok := testutil.ForgeJWS(map[string]any{"alg": alg, "kid": "rsa"}, f.claims(idp.URL), func(in string) []byte {
			if alg == "none" {
				return nil
			}
			return testutil.HMACSigner(pubJSON)(in)
		})
		if alg == "none" {
			tok = strings.TrimSuffix(tok, ".") + "."
		}
		p, e := f.check(tok, nil)
		if e == nil {
			t.Fatalf("alg %s accepted: %+v", alg, p)
		}
		if e.Code != "invalid_token" {
			t.Fatalf("alg %s: %v", alg, e)
		}
	}
	for _, bad := range []string{"HS256", "none", "RS1"} {
		if _, err := NewTrust(t.Context(), []TrustConfig{{Issuer: idp.URL, Audience: []string{"a"}, Algorithms: []string{bad}}}, TrustOptions{}); err == nil {
			t.Fatalf("algorithms %s accepted in the config", bad)
		}
	}
}

// CONFORMANCE X1: a JWKS that is garbage or holds only HMAC keys never
// loads (503, nothing cached), the last good set keeps serving while the
// issuer is down, an unknown kid refetches at once — at most every
// retryEvery.
func TestTrustJWKSLifecycle(t *testing.T) {
	idp := newTestIdP(t)
	k1 := idp.addKey(t, jwa.ES256, "k1")
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"}})
	tok := sign(t, k1, "", f.claims(idp.URL))

	for name, answer := range map[string]func() (int, string, string){
		"garbage": func() (int, string, string) { return 200, "application/json", "{not json" },
		"HTML":    func() (int, string, string) { return 200, "text/html", "<html>login</html>" },
		"500":     func() (int, string, string) { return 500, "application/json", "{}" },
		"HMAC only": func() (int, string, string) {
			return 200, "application/json", `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"k1","alg":"HS256"}]}`
		},
	} {
		idp.setJWKS(answer)
		p, e := f.check(tok, nil)
		wantRefused(t, "JWKS "+name, p, e, "temporarily_unavailable", "issuer_unavailable")
		f.clock.Advance(retryEvery + time.Second)
	}
	// The same token, once the issuer answers: nothing bad was cached.
	idp.setJWKS(nil)
	if _, e := f.check(tok, nil); e != nil {
		t.Fatalf("after the JWKS recovered: %v", e)
	}
	// Down again, and a refetch fails (an unknown kid asks for one): the
	// last good set keeps serving.
	idp.setJWKS(func() (int, string, string) { return 503, "text/plain", "down" })
	f.clock.Advance(retryEvery + time.Second)
	stranger := newTestIdP(t).addKey(t, jwa.ES256, "not-there")
	p, e := f.check(sign(t, stranger, "", f.claims(idp.URL)), nil)
	wantRefused(t, "unknown kid while the issuer is down", p, e, "invalid_token", "invalid")
	if _, e := f.check(sign(t, k1, "", f.claims(idp.URL, "jti", "2")), nil); e != nil {
		t.Fatalf("with the issuer down: %v", e)
	}
	// A rotation: the unknown kid refetches at once (the recovery above
	// was a refetch too: the rate limit's interval has passed since).
	f.clock.Advance(retryEvery + time.Second)
	idp.setJWKS(nil)
	k2 := idp.addKey(t, jwa.ES256, "k2")
	hits := idp.jwksHits.Load()
	if _, e := f.check(sign(t, k2, "", f.claims(idp.URL)), nil); e != nil {
		t.Fatalf("after a rotation: %v", e)
	}
	if idp.jwksHits.Load() != hits+1 {
		t.Fatalf("JWKS fetched %d times for an unknown kid, want 1", idp.jwksHits.Load()-hits)
	}
	// Unknown kids (forged) do not refetch more than every retryEvery.
	forger := newTestIdP(t)
	for i := range 20 {
		kf := forger.addKey(t, jwa.ES256, fmt.Sprintf("forged-%d", i))
		p, e := f.check(sign(t, kf, "", f.claims(idp.URL)), nil)
		wantRefused(t, "unknown kid", p, e, "invalid_token", "invalid")
	}
	if got := idp.jwksHits.Load() - hits - 1; got != 0 {
		t.Fatalf("20 unknown kids within %v made %d fetches, want 0 (rate limit)", retryEvery, got)
	}
	f.clock.Advance(retryEvery + time.Second)
	kf := forger.addKey(t, jwa.ES256, "forged-late")
	_, _ = f.check(sign(t, kf, "", f.claims(idp.URL)), nil)
	if got := idp.jwksHits.Load() - hits - 1; got != 1 {
		t.Fatalf("after the rate-limit interval: %d fetches, want 1", got)
	}
	// Every fetch was reported, failures with why (what Caddy logs).
	var whys []string
	for len(f.events) > 0 {
		if ev := <-f.events; ev.Kind == "jwks" && ev.Err != nil {
			whys = append(whys, ev.Err.Error())
		}
	}
	all := strings.Join(whys, "\n")
	for _, want := range []string{"not a JWKS", "status 500", "no public signature key", "status 503"} {
		if !strings.Contains(all, want) {
			t.Errorf("no JWKS failure reported as %q in:\n%s", want, all)
		}
	}
}

// introspectWith answers like an RFC 7662 endpoint and checks the
// gateway's client authentication.
func introspectWith(t *testing.T, answer func(token string) (int, string, string)) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id != "gateway" || secret != "gw%2Fsecret" { // form-encoded, RFC 6749 §2.3.1
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		if r.PostFormValue("token_type_hint") != "access_token" {
			t.Errorf("token_type_hint = %q", r.PostFormValue("token_type_hint"))
		}
		status, ct, body := answer(r.PostFormValue("token"))
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// CONFORMANCE X3: opaque tokens of a trusted issuer by authenticated
// introspection, cached until the earliest of `cache` and exp; an
// inactive answer cached briefly; an endpoint slow, failing, answering
// HTML or a string active → 503, never a guess, and nothing cached.
func TestTrustIntrospection(t *testing.T) {
	idp := newTestIdP(t)
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"},
		Introspection: &IntrospectionConfig{ClientID: "gateway", ClientSecret: "gw/secret", Cache: time.Minute, Timeout: 300 * time.Millisecond},
		Headers:       map[string]string{"X-Tenant": "https://example.com/tenant"}})
	exp := f.clock.Now().Add(90 * time.Second).Unix()
	active := func(tok string) (int, string, string) {
		if tok == "revoked-token-0123456789" {
			return 200, "application/json", `{"active":false}`
		}
		return 200, "application/json; charset=utf-8", fmt.Sprintf(`{"active":true,"sub":"u1","client_id":"app","scope":"orders:read",
			"aud":["api://orders"],"iss":%q,"exp":%d,"token_type":"Bearer","https://example.com/tenant":"acme"}`, idp.URL, exp)
	}
	idp.setIntrospect(introspectWith(t, active))
	p, e := f.check("opaque-token-0123456789", nil)
	if e != nil || p.Subject != "u1" || p.ClientID != "app" || p.Issuer != idp.URL || len(p.Headers) != 1 || p.Headers[0].Value != "acme" {
		t.Fatalf("active token: %v %+v", e, p)
	}
	for range 5 {
		if _, e := f.check("opaque-token-0123456789", nil); e != nil {
			t.Fatal(e)
		}
	}
	if n := idp.introHits.Load(); n != 1 {
		t.Fatalf("%d introspections for one token within cache, want 1", n)
	}
	f.clock.Advance(61 * time.Second) // past `cache`, before exp
	if _, e := f.check("opaque-token-0123456789", nil); e != nil || idp.introHits.Load() != 2 {
		t.Fatalf("after cache: %v, %d calls", e, idp.introHits.Load())
	}
	f.clock.Advance(30 * time.Second) // past exp: the cached entry is gone
	idp.setIntrospect(introspectWith(t, func(string) (int, string, string) { return 200, "application/json", `{"active":false}` }))
	p, e = f.check("opaque-token-0123456789", nil)
	wantRefused(t, "past exp", p, e, "invalid_token", "inactive")

	exp = f.clock.Now().Add(90 * time.Second).Unix()
	idp.setIntrospect(introspectWith(t, active))
	hits := idp.introHits.Load()
	for range 3 {
		p, e := f.check("revoked-token-0123456789", nil)
		wantRefused(t, "inactive", p, e, "invalid_token", "inactive")
	}
	if idp.introHits.Load() != hits+1 {
		t.Fatalf("an inactive answer was not remembered: %d calls", idp.introHits.Load()-hits)
	}

	for name, answer := range map[string]func(string) (int, string, string){
		"500":  func(string) (int, string, string) { return 500, "application/json", `{"error":"x"}` },
		"HTML": func(string) (int, string, string) { return 200, "text/html", `<html>{"active":true}</html>` },
		"active as string": func(string) (int, string, string) {
			return 200, "application/json", `{"active":"true","sub":"u1","aud":"api://orders"}`
		},
		"no active":     func(string) (int, string, string) { return 200, "application/json", `{"sub":"u1"}` },
		"not an object": func(string) (int, string, string) { return 200, "application/json", `[true]` },
		"slow": func(string) (int, string, string) {
			time.Sleep(time.Second)
			return active("x")
		},
	} {
		tok := "token-for-" + strings.ReplaceAll(name, " ", "-")
		idp.setIntrospect(introspectWith(t, answer))
		for len(f.events) > 0 {
			<-f.events
		}
		p, e := f.check(tok, nil)
		wantRefused(t, "introspection "+name, p, e, "temporarily_unavailable", "issuer_unavailable")
		// The call is counted once, with its outcome.
		var outcomes []string
		for len(f.events) > 0 {
			if ev := <-f.events; ev.Kind == "introspect" {
				outcomes = append(outcomes, ev.Outcome)
			}
		}
		if len(outcomes) != 1 || outcomes[0] == "ok" {
			t.Errorf("introspection %s counted as %v, want one outcome that is not ok", name, outcomes)
		}
		if name == "slow" && outcomes[0] != "timeout" {
			t.Errorf("the slow introspection was counted as %v, not a timeout", outcomes)
		}
		// Nothing was cached: the next check asks again, and a good answer is taken.
		idp.setIntrospect(introspectWith(t, active))
		if _, e := f.check(tok, nil); e != nil {
			t.Fatalf("after %s: %v", name, e)
		}
	}
	// Wrong gateway credentials: 503 (the issuer refused us), not a token error.
	f2 := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"},
		Introspection: &IntrospectionConfig{ClientID: "gateway", ClientSecret: "wrong-secret"}})
	p, e = f2.check("opaque-token-0123456789", nil)
	wantRefused(t, "gateway credentials refused", p, e, "temporarily_unavailable", "")
	// Answers that must be refused although active.
	for name, body := range map[string]string{
		"another issuer":                    `{"active":true,"iss":"https://evil.test","aud":"api://orders"}`,
		"a refresh token":                   `{"active":true,"token_type":"refresh_token","aud":"api://orders"}`,
		"other audience":                    `{"active":true,"aud":"api://billing"}`,
		"a line break in sub":               `{"active":true,"sub":"u1\r\nX-Admin: 1","aud":"api://orders"}`,
		"scopes joined by a no-break space": `{"active":true,"sub":"u1","aud":"api://orders","scope":"orders:read\u00a0admin"}`,
	} {
		idp.setIntrospect(introspectWith(t, func(string) (int, string, string) { return 200, "application/json", body }))
		p, e := f.check("tok-"+strings.ReplaceAll(name, " ", "-"), nil)
		wantRefused(t, name, p, e, "invalid_token", "")
	}
}

// Concurrent first checks of one opaque token share one introspection.
func TestTrustIntrospectionOncePerToken(t *testing.T) {
	idp := newTestIdP(t)
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"},
		Introspection: &IntrospectionConfig{ClientID: "gateway", ClientSecret: "gw/secret"}})
	idp.setIntrospect(introspectWith(t, func(string) (int, string, string) {
		time.Sleep(50 * time.Millisecond)
		return 200, "application/json", `{"active":true,"sub":"u","aud":"api://orders"}`
	}))
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, e := f.check("burst-token-0123456789", nil); e != nil {
				t.Error(e)
			}
		}()
	}
	wg.Wait()
	if n := idp.introHits.Load(); n != 1 {
		t.Fatalf("50 concurrent checks made %d introspections, want 1", n)
	}
}

// CONFORMANCE X3: a check that missed the cache just before a concurrent
// introspection of its token stored the answer, and reaches the
// introspection only after that one ended, finds the answer instead of
// asking again — for an active and for an inactive token.
func TestTrustIntrospectionAfterConcurrentStore(t *testing.T) {
	idp := newTestIdP(t)
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"},
		Introspection: &IntrospectionConfig{ClientID: "gateway", ClientSecret: "gw/secret"}})
	idp.setIntrospect(introspectWith(t, func(tok string) (int, string, string) {
		if strings.HasPrefix(tok, "gone-") {
			return 200, "application/json", `{"active":false}`
		}
		return 200, "application/json", `{"active":true,"sub":"u","aud":"api://orders"}`
	}))
	for _, tok := range []string{"late-token-0123456789", "gone-late-token-0123456789"} {
		before := idp.introHits.Load()
		key := tokenKey(tok)
		// The late check: it missed the cache (its slot is taken now) …
		late := slot{v: f.v, key: key, now: f.v.Now(), epoch: f.v.cache.begin()}
		// … then another check introspects the token and stores the answer …
		_, first := f.check(tok, nil)
		// … and the late check goes on to introspect.
		id, e := f.v.verifyAny(context.Background(), tok, key, &Policy{}, late)
		if (first == nil) != (e == nil) {
			t.Fatalf("%s: the late check got %v (%+v), the first %v", tok, e, id, first)
		}
		if e == nil && id.Subject != "u" {
			t.Fatalf("%s: the late check's subject %q", tok, id.Subject)
		}
		if n := idp.introHits.Load() - before; n != 1 {
			t.Fatalf("%s: %d introspections for a first and a late check, want 1", tok, n)
		}
	}
	// A late check whose cached answer has ended (the cache interval is
	// over) asks again.
	tok, key := "late-token-0123456789", tokenKey("late-token-0123456789")
	late := slot{v: f.v, key: key, now: f.v.Now(), epoch: f.v.cache.begin()}
	f.clock.Advance(DefaultIntrospectCache + time.Second)
	before := idp.introHits.Load()
	if _, e := f.v.verifyAny(context.Background(), tok, key, &Policy{}, late); e != nil {
		t.Fatal(e)
	}
	if n := idp.introHits.Load() - before; n != 1 {
		t.Fatalf("%d introspections for a check after the cache interval, want 1", n)
	}
}

// CONFORMANCE X3: introspections reuse their connections to the issuer —
// a second burst of concurrent first checks opens (almost) none, where
// net/http's default of two idle connections per host would open one per
// introspection again.
func TestTrustIntrospectionKeepsConnections(t *testing.T) {
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(introspectWith(t, func(string) (int, string, string) {
		time.Sleep(20 * time.Millisecond) // the burst's calls overlap
		return 200, "application/json", `{"active":true,"sub":"u","aud":"api://orders"}`
	})))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	f := newTrustFixture(t, TrustConfig{Issuer: srv.URL, Audience: []string{"api://orders"},
		Introspection: &IntrospectionConfig{Endpoint: srv.URL + "/introspect", ClientID: "gateway", ClientSecret: "gw/secret"}})
	const burst = 40
	wave := func(n int) int64 {
		before := opened.Load()
		var wg sync.WaitGroup
		for i := range burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, e := f.check(fmt.Sprintf("wave-%d-token-%02d-0123456789", n, i), nil); e != nil {
					t.Error(e)
				}
			}()
		}
		wg.Wait()
		time.Sleep(100 * time.Millisecond) // the connections go back to the idle pool
		return opened.Load() - before
	}
	if first := wave(1); first < 2 {
		t.Fatalf("the first burst opened %d connections: the calls did not overlap", first)
	}
	if again := wave(2); again > 4 {
		t.Fatalf("a second burst of %d introspections opened %d new connections, want them reused", burst, again)
	}
}

// A config's connections to its issuers end when it is unloaded (Close),
// not 90 s later: every reload would otherwise leave its pool open. An
// introspection under way at Close closes its connection as it ends; one
// that starts after Close (a request the old config's server is still
// finishing) pools its connection, closed once the longest call timeout
// has passed.
func TestTrustCloseEndsIdleConnections(t *testing.T) {
	slow := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(introspectWith(t, func(tok string) (int, string, string) {
		if strings.HasPrefix(tok, "slow-") {
			<-slow
		}
		return 200, "application/json", `{"active":true,"sub":"u","aud":"api://orders"}`
	})))
	open := testutil.OpenConns(srv.Config)
	srv.Start()
	t.Cleanup(srv.Close)
	f := newTrustFixture(t, TrustConfig{Issuer: srv.URL, Audience: []string{"api://orders"},
		Introspection: &IntrospectionConfig{Endpoint: srv.URL + "/introspect", ClientID: "gateway", ClientSecret: "gw/secret", Timeout: 8 * time.Second}})
	var delay time.Duration
	var closeLater func()
	f.v.Trust.later = func(d time.Duration, f func()) { delay, closeLater = d, f }
	settled := func(want int64, what string) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); open.Load() != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d connections open to the issuer, want %d", what, open.Load(), want)
			}
		}
	}
	var release sync.Once
	unblock := func() { release.Do(func() { close(slow) }) }
	t.Cleanup(unblock) // before srv.Close, which waits for the slow call
	done := make(chan *Error, 1)
	go func() { _, e := f.check("slow-token-0123456789", nil); done <- e }()
	settled(1, "during a slow introspection")
	if _, e := f.check("close-token-0123456789", nil); e != nil {
		t.Fatal(e)
	}
	settled(2, "after a second, concurrent introspection, kept idle")
	f.v.Trust.Close()
	settled(1, "after Close, with the slow introspection under way")
	unblock()
	if e := <-done; e != nil {
		t.Fatal(e)
	}
	settled(0, "once the call under way at Close ended")
	if _, e := f.check("late-token-0123456789", nil); e != nil {
		t.Fatal(e)
	}
	settled(1, "after a call that started after Close")
	if closeLater == nil || delay <= 8*time.Second {
		t.Fatalf("a later close after %v, want one after the 8 s introspection timeout", delay)
	}
	closeLater()
	settled(0, "once the longest timeout has passed")
	(*Trust)(nil).Close() // a config without trust blocks
}

// The config is checked without any network: plain http only on loopback,
// audience required, introspection authenticated.
func TestTrustConfigChecks(t *testing.T) {
	for name, c := range map[string]TrustConfig{
		"http issuer":        {Issuer: "http://idp.example.com", Audience: []string{"a"}},
		"http jwks_uri":      {Issuer: "https://idp.example.com", JWKSURI: "http://10.0.0.1/keys", Audience: []string{"a"}},
		"no audience":        {Issuer: "https://idp.example.com"},
		"unauthenticated":    {Issuer: "https://idp.example.com", Audience: []string{"a"}, Introspection: &IntrospectionConfig{ClientID: "x"}},
		"http introspect":    {Issuer: "https://idp.example.com", Audience: []string{"a"}, Introspection: &IntrospectionConfig{Endpoint: "http://idp.example.com/i", ClientID: "x", ClientSecret: "y"}},
		"unknown claim":      {Issuer: "https://idp.example.com", Audience: []string{"a"}, Claims: map[string][]string{"email": {"email"}}},
		"bad header name":    {Issuer: "https://idp.example.com", Audience: []string{"a"}, Headers: map[string]string{"X Bad": "x"}},
		"fragment in issuer": {Issuer: "https://idp.example.com/#x", Audience: []string{"a"}},
	} {
		if _, err := NewTrust(t.Context(), []TrustConfig{c}, TrustOptions{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, ok := range []string{"http://127.0.0.1:8080/realms/x", "http://[::1]:9000", "http://localhost:1", "https://idp.example.com/realms/main"} {
		if err := CheckTrustURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// CONFORMANCE X4: claim paths go into objects, arrays are joined by
// spaces, a namespaced claim with dots (Auth0) is found whole.
func TestTrustClaimPaths(t *testing.T) {
	m, _ := decodeClaims([]byte(`{"realm_access":{"roles":["a","b"]},"https://ex.com/roles":["x","y"],"n":{"deep":{"v":3}},"flag":true,"o":{"k":"v"}}`))
	for path, want := range map[string]string{
		"realm_access.roles":   "a b",
		"https://ex.com/roles": "x y",
		"n.deep.v":             "3",
		"flag":                 "true",
		"o":                    `{"k":"v"}`,
		"realm_access.missing": "",
		"missing":              "",
	} {
		if got := claimString(claimAt(m, path)); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if got := headerSafe("a\r\nInjected: x"); strings.ContainsAny(got, "\r\n") {
		t.Fatalf("header value kept a line break: %q", got)
	}
}

// FuzzTrustVerify: no input makes the trusted-issuer path panic or accept
// a token not signed by the issuer's key.
func FuzzTrustVerify(f *testing.F) {
	idp := httptest.NewServer(nil)
	defer idp.Close()
	iss := idp.URL
	f.Add("eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln")
	f.Add(testutil.ForgeJWS(map[string]any{"alg": "none"}, map[string]any{"iss": iss, "aud": "a", "exp": 1 << 40}, func(string) []byte { return nil }))
	f.Add("a.b.c.d.e")
	f.Add("opaque")
	tr, err := NewTrust(context.Background(), []TrustConfig{{Issuer: iss, JWKSURI: iss + "/jwks", Audience: []string{"a"}}}, TrustOptions{})
	if err != nil {
		f.Fatal(err)
	}
	v := NewGatewayVerifier(tr, 0, 0)
	f.Fuzz(func(t *testing.T, tok string) {
		if p, e := v.AuthenticateRoute(context.Background(), tok, testAddr, &Policy{}); e == nil {
			t.Fatalf("accepted %q: %+v", tok, p)
		}
		_, _ = peekIssuer(tok)
	})
}

// CONFORMANCE X1: our own keys and a trusted issuer's never stand in for
// each other — iss ours signed with the trusted issuer's key, or iss the
// trusted issuer's signed with ours (same kid), are refused; both issuers'
// own tokens pass side by side, and a route's issuers choose between them.
func TestTrustBesideOurOwnTokens(t *testing.T) {
	fx := newFixture(t)
	own := fx.issue(t, "api_v3")
	idp := newTestIdP(t)
	ownKid := fx.keys.Signer().Kid
	k := idp.addKey(t, jwa.ES256, ownKid) // a kid collision with our own key
	tr, err := NewTrust(t.Context(), []TrustConfig{{Issuer: idp.URL, Audience: []string{"api://orders"}}}, TrustOptions{Now: fx.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	v := fx.srv.Verifier()
	v.Trust = tr
	check := func(tok string, p *Policy) (*Principal, *Error) {
		if p == nil {
			p = &Policy{}
		}
		return v.AuthenticateRoute(context.Background(), tok, testAddr, p)
	}
	now := fx.clock.Now().Unix()
	claims := func(iss string) map[string]any {
		return map[string]any{"iss": iss, "sub": "s", "client_id": "reporting", "aud": []string{"api://orders", "backend"},
			"iat": now, "exp": now + 300, "jti": "j1", "scope": "api_v3"}
	}
	if p, e := check(own, nil); e != nil || p.Issuer != testIssuer {
		t.Fatalf("our own token: %v %+v", e, p)
	}
	if p, e := check(sign(t, k, "at+jwt", claims(idp.URL)), nil); e != nil || p.Issuer != idp.URL {
		t.Fatalf("the trusted issuer's token: %v %+v", e, p)
	}
	p, e := check(sign(t, k, "at+jwt", claims(testIssuer)), nil)
	wantRefused(t, "iss ours, signed with the trusted issuer's key of our kid", p, e, "invalid_token", "invalid")
	p, e = check(sign(t, mustPrivateJWK(t, fx.keys.Signer().Private, ownKid), "at+jwt", claims(idp.URL)), nil)
	wantRefused(t, "iss the trusted issuer's, signed with our key", p, e, "invalid_token", "invalid")
	p, e = check(own, &Policy{Issuers: []string{idp.URL}})
	wantRefused(t, "our token where only the trusted issuer is accepted", p, e, "invalid_token", "issuer")
	p, e = check(sign(t, k, "at+jwt", claims(idp.URL)), &Policy{Issuers: []string{testIssuer}})
	wantRefused(t, "the trusted token where only ours is accepted", p, e, "invalid_token", "issuer")
	if e.Issuer != idp.URL {
		t.Fatalf("the refusal's issuer label = %q", e.Issuer)
	}
}

func mustPrivateJWK(t *testing.T, priv any, kid string) jwk.Key {
	t.Helper()
	k, err := jwk.FromRaw(priv)
	if err != nil {
		t.Fatal(err)
	}
	_ = k.Set(jwk.KeyIDKey, kid)
	_ = k.Set(jwk.AlgorithmKey, jwa.ES256)
	return k
}

// CONFORMANCE X1: with jwks_uri (and an introspection endpoint)
// configured, no discovery is needed: an issuer whose discovery document
// is missing still works.
func TestTrustWithoutDiscovery(t *testing.T) {
	idp := newTestIdP(t)
	k := idp.addKey(t, jwa.ES256, "k1")
	// The issuer's URL has a path under which nothing is served: no discovery.
	iss := idp.URL + "/tenant"
	f := newTrustFixture(t, TrustConfig{Issuer: iss, JWKSURI: idp.URL + "/jwks", Audience: []string{"api://orders"},
		Introspection: &IntrospectionConfig{Endpoint: idp.URL + "/introspect", ClientID: "gateway", ClientSecret: "gw/secret"}})
	if _, e := f.check(sign(t, k, "", f.claims(iss)), nil); e != nil {
		t.Fatalf("JWT: %v", e)
	}
	idp.setIntrospect(introspectWith(t, func(string) (int, string, string) {
		return 200, "application/json", `{"active":true,"sub":"u","aud":"api://orders"}`
	}))
	if p, e := f.check("opaque-0123456789", nil); e != nil || p.Subject != "u" {
		t.Fatalf("opaque: %v", e)
	}
}

// A cached trusted JWT costs what a cached token of our own does
// (BenchmarkVerifyJWTES256Cached): a hash, a lookup, the policy.
func BenchmarkTrustedJWTCached(b *testing.B) {
	idp := newTestIdP(b)
	k := idp.addKey(b, jwa.ES256, "k1")
	tr, err := NewTrust(context.Background(), []TrustConfig{{Issuer: idp.URL, Audience: []string{"api://orders"}}}, TrustOptions{})
	if err != nil {
		b.Fatal(err)
	}
	v := NewGatewayVerifier(tr, 0, 0)
	now := time.Now().Unix()
	toks := make([]string, 64)
	for i := range toks {
		toks[i] = sign(b, k, "at+jwt", map[string]any{"iss": idp.URL, "sub": "s", "aud": "api://orders", "exp": now + 3600,
			"iat": now, "jti": fmt.Sprint(i), "scope": "api_v3"})
	}
	p := &Policy{Scopes: []string{"api_v3"}}
	ctx := context.Background()
	for _, tok := range toks {
		if _, e := v.AuthenticateRoute(ctx, tok, testAddr, p); e != nil {
			b.Fatal(e)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, e := v.AuthenticateRoute(ctx, toks[i%len(toks)], testAddr, p); e != nil {
			b.Fatal(e)
		}
	}
}

// CONFORMANCE X1: a trusted issuer's token is never one of ours. Once it
// has passed a protected route (and so sits in the shared verified-token
// cache), the checks that take only our own tokens — userinfo — still
// refuse it, even when its sub and azp name one of our clients and users.
func TestTrustedTokenIsNeverOurs(t *testing.T) {
	idp := newTestIdP(t)
	k := idp.addKey(t, jwa.ES256, "k1")
	f := newFixture(t)
	tr, err := NewTrust(t.Context(), []TrustConfig{{Issuer: idp.URL, Audience: []string{"api://orders"}}}, TrustOptions{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	v := f.srv.Verifier()
	v.Trust = tr
	now := f.clock.Now()
	tok := sign(t, k, "", map[string]any{"iss": idp.URL, "sub": "svc-reporting", "azp": "reporting", "client_id": "reporting",
		"aud": "api://orders", "scope": "openid api_v3", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	userinfo := func() int {
		req := httptest.NewRequest(http.MethodGet, PathUserInfo, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return f.do(req).Code
	}
	if _, e := v.Authenticate(t.Context(), tok); e == nil {
		t.Fatal("Authenticate took a trusted issuer's token as ours")
	}
	if code := userinfo(); code != http.StatusUnauthorized {
		t.Fatalf("userinfo with a trusted issuer's token: %d, want 401", code)
	}
	if p, e := v.AuthenticateRoute(t.Context(), tok, testAddr, &Policy{}); e != nil || p.Issuer != idp.URL {
		t.Fatalf("the route check: %v %+v", e, p)
	}
	if p, e := v.Authenticate(t.Context(), tok); e == nil {
		t.Fatalf("after a route check, Authenticate took the trusted token (cached) as ours: %+v", p)
	}
	if code := userinfo(); code != http.StatusUnauthorized {
		t.Fatalf("userinfo with a trusted issuer's token after a route check: %d, want 401", code)
	}
}

// CONFORMANCE X3: an opaque token with two dots (a PASETO, v4.local.…) is
// not taken for a JWT: it is introspected like any other opaque token.
func TestTrustOpaqueTokenWithDots(t *testing.T) {
	idp := newTestIdP(t)
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"},
		Introspection: &IntrospectionConfig{ClientID: "gateway", ClientSecret: "gw/secret"}})
	idp.setIntrospect(introspectWith(t, func(tok string) (int, string, string) {
		if tok != "v4.local.c29tZS1wYXNldG8tdG9rZW4tYm9keQ" {
			return 200, "application/json", `{"active":false}`
		}
		return 200, "application/json", `{"active":true,"sub":"u1","aud":"api://orders"}`
	}))
	if p, e := f.check("v4.local.c29tZS1wYXNldG8tdG9rZW4tYm9keQ", nil); e != nil || p.Subject != "u1" {
		t.Fatalf("a PASETO-shaped opaque token: %v %+v", e, p)
	}
	if n := idp.introHits.Load(); n != 1 {
		t.Fatalf("%d introspections, want 1", n)
	}
}

// A trusted issuer's JWT access tokens: discovery, its key set through
// jwx's jwk.Cache, and the checks of RFC 9068 / RFC 7519.

package authz

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// peekIssuer reads the unverified iss of a compact JWS, only to choose
// whose keys may verify it. isJWT is false for anything not shaped like
// one (opaque tokens of other issuers).
func peekIssuer(tok string) (iss string, isJWT bool) {
	h64, rest, ok := strings.Cut(tok, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(s64, ".") || h64 == "" || p64 == "" {
		return "", false
	}
	// Three segments are not enough (a PASETO is v4.local.…): a JWS header
	// is a JSON object with an alg.
	var h struct {
		Alg string `json:"alg"`
	}
	if hdr, err := base64.RawURLEncoding.DecodeString(h64); err != nil || json.Unmarshal(hdr, &h) != nil || h.Alg == "" {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(p64)
	if err != nil {
		return "", true
	}
	var c struct {
		Iss string `json:"iss"`
	}
	_ = json.Unmarshal(payload, &c)
	return c.Iss, true
}

// endpoints returns the issuer's JWKS and introspection URLs, from the
// configuration or discovery (OpenID Connect Discovery, then RFC 8414);
// a failed discovery is retried at most every retryEvery.
func (ti *TrustedIssuer) endpoints(ctx context.Context) (jwksURI, introURL string, err error) {
	ti.mu.Lock()
	if ti.discovered {
		defer ti.mu.Unlock()
		return ti.jwksURI, ti.introURL, nil
	}
	if !ti.lastDiscover.IsZero() && ti.t.now().Sub(ti.lastDiscover) < retryEvery {
		defer ti.mu.Unlock()
		return "", "", ti.discoverErr
	}
	ti.mu.Unlock()
	_, err, _ = ti.calls.Do("discovery", func() (any, error) {
		start := time.Now()
		// Shared by concurrent callers: one of them going away must not
		// fail it for the others (fetchDoc bounds it).
		doc, err := ti.discover(context.WithoutCancel(ctx))
		ti.observe("discovery", start, err)
		ti.mu.Lock()
		defer ti.mu.Unlock()
		ti.lastDiscover, ti.discoverErr = ti.t.now(), err
		if err == nil {
			if ti.jwksURI == "" {
				ti.jwksURI = doc.JWKSURI
			}
			if ti.introURL == "" {
				ti.introURL = doc.IntrospectionEndpoint
			}
			ti.discovered = true
		}
		return nil, err
	})
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return ti.jwksURI, ti.introURL, err
}

// discoveryDoc is what the gateway reads of an issuer's metadata.
type discoveryDoc struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// discover reads {issuer}/.well-known/openid-configuration, else the RFC
// 8414 §3.1 location; the document's issuer must be ours byte for byte.
func (ti *TrustedIssuer) discover(ctx context.Context) (*discoveryDoc, error) {
	iss := ti.cfg.Issuer
	u, _ := url.Parse(iss)
	candidates := []string{strings.TrimSuffix(iss, "/") + "/.well-known/openid-configuration",
		u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + strings.TrimSuffix(u.EscapedPath(), "/")}
	var errs []string
	for _, c := range candidates {
		doc, err := ti.fetchDoc(ctx, c)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if doc.Issuer != iss {
			return nil, fmt.Errorf("discovery at %s names the issuer %q, not %q", c, doc.Issuer, iss)
		}
		if doc.JWKSURI != "" {
			if err := CheckTrustURL(doc.JWKSURI); err != nil {
				return nil, fmt.Errorf("discovery at %s: jwks_uri %v", c, err)
			}
		}
		if doc.IntrospectionEndpoint != "" {
			if err := CheckTrustURL(doc.IntrospectionEndpoint); err != nil {
				return nil, fmt.Errorf("discovery at %s: introspection_endpoint %v", c, err)
			}
		}
		if ti.jwksURI == "" && doc.JWKSURI == "" && (ti.intro == nil || doc.IntrospectionEndpoint == "") {
			return nil, fmt.Errorf("discovery at %s names no jwks_uri: set `jwks_uri` in the trust block", c)
		}
		if ti.intro != nil && ti.introURL == "" && doc.IntrospectionEndpoint == "" {
			return nil, fmt.Errorf("discovery at %s names no introspection_endpoint: set `endpoint` in the introspect block", c)
		}
		return doc, nil
	}
	return nil, fmt.Errorf("discovery failed: %s", strings.Join(errs, "; "))
}

func (ti *TrustedIssuer) fetchDoc(ctx context.Context, u string) (*discoveryDoc, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ti.t.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil, fmt.Errorf("GET %s: not JSON (Content-Type %q)", u, resp.Header.Get("Content-Type"))
	}
	var doc discoveryDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("GET %s: %v", u, err)
	}
	return &doc, nil
}

// jwksClient makes every JWKS fetch of an issuer — the first, jwk.Cache's
// background refreshes, the refetches for an unknown kid — and reports
// each with its outcome: a transport error, a status other than 200, or a
// body that is not a JWKS with a public signature key. Those are handed
// to jwk.Cache as a failed fetch, so it keeps the last good set. The
// client's Timeout bounds each fetch (jwk.Cache's carry no deadline).
type jwksClient struct{ ti *TrustedIssuer }

func (c jwksClient) Get(u string) (*http.Response, error) {
	start := time.Now()
	resp, err := c.ti.t.client.Get(u)
	if err != nil {
		c.ti.observe("jwks", start, err)
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	switch {
	case err != nil:
	case resp.StatusCode != http.StatusOK:
		err = fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	case len(body) > maxDocBytes:
		err = fmt.Errorf("GET %s: larger than %d bytes", u, maxDocBytes)
	default:
		var set jwk.Set
		if set, err = jwk.Parse(body); err == nil {
			_, err = signingKeysOnly(u, set)
		} else {
			err = fmt.Errorf("GET %s: not a JWKS: %v", u, err)
		}
	}
	c.ti.observe("jwks", start, err)
	status := http.StatusOK
	if err != nil {
		status = http.StatusBadGateway
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Request: resp.Request}, nil
}

// signingKeysOnly keeps the public signature keys of a fetched set: no
// HMAC (oct) key, no encryption key, never private material. A set with
// none left is an error, and jwk.Cache keeps the last good one.
func signingKeysOnly(u string, set jwk.Set) (jwk.Set, error) {
	out := jwk.NewSet()
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		if k.KeyType() == jwa.OctetSeq || (k.KeyUsage() != "" && k.KeyUsage() != string(jwk.ForSignature)) {
			continue
		}
		pub, err := k.PublicKey()
		if err != nil {
			continue
		}
		_ = out.AddKey(pub)
	}
	if out.Len() == 0 {
		return nil, fmt.Errorf("the JWKS at %s has no public signature key (HMAC and encryption keys are never used)", u)
	}
	return out, nil
}

// An issuer's keys on the request path (CONFORMANCE X1): the last good
// set, read without waiting on any fetch. jwk.Cache fetches and refreshes
// the set (at once, on its cache headers, on an unknown kid); httprc holds
// an entry's lock for a whole fetch, so the request path never reads
// jwk.Cache itself: every set jwk.Cache takes in is handed over through
// its post fetcher (keepKeys), and the fetches a request asks for run in
// a goroutine of their own (fetchKeys).
//
// keyState is one issuer's last good key set and the fetch under way.
type keyState struct {
	uri string                   // the JWKS the set comes from (fixed)
	set atomic.Pointer[goodKeys] // nil until a set was loaded once
	mu  sync.Mutex               // guards run; never held across a fetch
	run *keyFetch                // the fetch under way, or nil
}

type goodKeys struct{ set jwk.Set }

// keyFetch is one fetch of an issuer's set; err is set before done closes.
type keyFetch struct {
	done chan struct{}
	err  error
}

func (st *keyState) current() jwk.Set {
	if g := st.set.Load(); g != nil {
		return g.set
	}
	return nil
}

// loadedKeys returns the issuer's keyState, nil when it has none yet.
func (ti *TrustedIssuer) loadedKeys() *keyState { return ti.keys.Load() }

// keyState returns the issuer's keyState, made for its JWKS at uri.
func (ti *TrustedIssuer) keyState(uri string) *keyState {
	if st := ti.keys.Load(); st != nil {
		return st
	}
	ti.keys.CompareAndSwap(nil, &keyState{uri: uri})
	return ti.keys.Load()
}

// keepKeys is jwk.Cache's post fetcher of every JWKS: it keeps the public
// signature keys of a fetched set and makes them the current set of each
// issuer whose JWKS is at u (their own URL, configured or discovered:
// never another issuer's keys). A refresh of jwk.Cache's own reaches the
// request path here.
func (t *Trust) keepKeys(u string, set jwk.Set) (jwk.Set, error) {
	out, err := signingKeysOnly(u, set)
	if err != nil {
		return nil, err
	}
	for _, ti := range t.list {
		if st := ti.loadedKeys(); st != nil && st.uri == u {
			st.set.Store(&goodKeys{out})
		}
	}
	return out, nil
}

// errKeysRateLimited: no set was ever loaded and the last try was less
// than retryEvery ago.
var errKeysRateLimited = errors.New("the key set could not be loaded; it is tried again at most every " + retryEvery.String())

// keySet returns the issuer's current keys. A set loaded once is returned
// at once, whatever fetch is under way. With refetch (an unknown kid), a
// refetch is started — at most every retryEvery per issuer, concurrent
// callers sharing one — and waited for until it ends or ctx does; when no
// set was ever loaded, the first fetch likewise. A failed refetch leaves
// the last good set serving.
func (ti *TrustedIssuer) keySet(ctx context.Context, refetch bool) (jwk.Set, error) {
	if st := ti.loadedKeys(); st != nil && !refetch {
		if set := st.current(); set != nil {
			return set, nil
		}
	}
	uri := ti.cfg.JWKSURI // configured: no discovery needed for keys
	if uri == "" {
		var err error
		if uri, _, err = ti.endpoints(ctx); err != nil {
			return nil, err
		}
	}
	if uri == "" {
		return nil, errors.New("the issuer publishes no jwks_uri")
	}
	st := ti.keyState(uri)
	c := ti.t.jwks
	if !c.IsRegistered(uri) {
		ti.mu.Lock()
		if !c.IsRegistered(uri) {
			_ = c.Register(uri, jwk.WithHTTPClient(jwksClient{ti}), jwk.WithPostFetcher(jwk.PostFetchFunc(ti.t.keepKeys)),
				jwk.WithMinRefreshInterval(jwksMinRefresh))
		}
		ti.mu.Unlock()
	}
	set := st.current()
	if set != nil && !refetch {
		return set, nil
	}
	f := ti.fetchKeys(ctx, st)
	if f == nil { // rate-limited
		if set == nil {
			return nil, errKeysRateLimited
		}
		return set, nil
	}
	select {
	case <-f.done:
		if set := st.current(); set != nil {
			return set, nil
		}
		return nil, f.err
	case <-ctx.Done():
		// The fetch goes on, and swaps its set in for later requests.
		if set := st.current(); set != nil {
			return set, nil
		}
		return nil, ctx.Err()
	}
}

// fetchKeys joins the fetch of the issuer's set under way, or starts one:
// the first (jwk.Cache's Get), or a refetch (its Refresh) at most every
// retryEvery — a failed first fetch counts as one, so it is not repeated
// at once. It returns nil when the rate limit allows none now. The fetch
// runs in a goroutine bounded by DefaultFetchTimeout, not by ctx: a
// caller may stop waiting for it, and it still serves those after.
func (ti *TrustedIssuer) fetchKeys(ctx context.Context, st *keyState) *keyFetch {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.run != nil {
		return st.run
	}
	first := !ti.fetched.Load()
	if !first {
		ti.mu.Lock()
		limited := !ti.lastRefetch.IsZero() && ti.t.now().Sub(ti.lastRefetch) < retryEvery
		if !limited {
			ti.lastRefetch = ti.t.now()
		}
		ti.mu.Unlock()
		if limited {
			return nil
		}
	}
	ti.fetched.Store(true)
	f := &keyFetch{done: make(chan struct{})}
	st.run = f
	go func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultFetchTimeout)
		defer cancel()
		c := ti.t.jwks
		var set jwk.Set
		var err error
		// However the fetch ends — a panic in the library included — its
		// waiters are released and the next fetch may start.
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("fetching the key set panicked: %v", p)
			}
			st.mu.Lock()
			st.run = nil
			st.mu.Unlock()
			f.err = err
			close(f.done)
		}()
		if first {
			set, err = c.Get(fctx, st.uri)
		} else {
			set, err = c.Refresh(fctx, st.uri)
		}
		switch {
		case err == nil:
			// keepKeys has stored what a fetch brought in (perhaps newer
			// than set, should a refresh of jwk.Cache's have come since):
			// set is stored only for an issuer with none yet — a JWKS
			// another issuer of the same URL had loaded.
			st.set.CompareAndSwap(nil, &goodKeys{set})
		case first:
			ti.mu.Lock()
			ti.lastRefetch = ti.t.now()
			ti.mu.Unlock()
		}
	}()
	return f
}

// keyProvider hands jwx the keys of this issuer's set that may have made
// sig: its alg must be one configured, the key's type must fit it, and
// its kid (when the token names one) must match. No key is ever taken
// from the token (jwk, jku, x5u are ignored).
func (ti *TrustedIssuer) keyProvider(set jwk.Set, unknownKid *bool, kidSeen *string) jws.KeyProviderFunc {
	return func(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
		h := sig.ProtectedHeaders()
		if _, ok := h.Get(jws.CriticalKey); ok {
			return headerError("unsupported critical header")
		}
		if _, ok := h.Get("b64"); ok {
			return headerError("unsupported b64 header")
		}
		switch strings.ToLower(h.Type()) {
		case "", "jwt", "at+jwt", "application/at+jwt":
		default:
			return headerError("not an access token (typ " + h.Type() + ")")
		}
		alg := h.Algorithm()
		if !ti.algs[alg] {
			return headerError("algorithm " + alg.String() + " is not accepted for this issuer")
		}
		kid, found := h.KeyID(), false
		*kidSeen = kid
		for i := 0; i < set.Len(); i++ {
			k, _ := set.Key(i)
			if kid != "" && k.KeyID() != kid {
				continue
			}
			if ka := k.Algorithm().String(); ka != "" && ka != alg.String() {
				continue
			}
			if k.KeyType() != trustAlgorithms[alg.String()] {
				continue
			}
			sink.Key(alg, k)
			found = true
		}
		if !found {
			*unknownKid = true
			return headerError("unknown signing key")
		}
		return nil
	}
}

// verifyJWT checks a JWT whose iss names this issuer (CONFORMANCE X1, X2).
func (ti *TrustedIssuer) verifyJWT(ctx context.Context, tok string, key cacheKey, now time.Time, skew time.Duration) (*Identity, *Error) {
	if !canonicalJWS(tok) {
		return nil, ErrInvalidToken.WithDescription("the access token is invalid").WithReason("malformed")
	}
	set, err := ti.keySet(ctx, false)
	if err != nil {
		return nil, unavailable(ti, "the signing keys")
	}
	var unknown bool
	var kid string
	payload, err := jws.Verify([]byte(tok), jws.WithCompact(), jws.WithKeyProvider(ti.keyProvider(set, &unknown, &kid)))
	if err != nil && unknown {
		// A kid not in the set: maybe a rotation at the issuer.
		if set, ferr := ti.keySet(ctx, true); ferr == nil {
			unknown = false
			payload, err = jws.Verify([]byte(tok), jws.WithCompact(), jws.WithKeyProvider(ti.keyProvider(set, &unknown, &kid)))
		}
	}
	if err != nil {
		var he headerError
		if errors.As(err, &he) {
			return nil, invalidJWT(string(he))
		}
		return nil, invalidJWT("bad signature")
	}
	m, err := decodeClaims(payload)
	if err != nil {
		return nil, invalidJWT("malformed claims")
	}
	if iss, _ := m["iss"].(string); iss != ti.cfg.Issuer {
		return nil, invalidJWT("issued by another issuer")
	}
	exp, ok := numericDate(m["exp"])
	if !ok {
		return nil, invalidJWT("no exp")
	}
	if !now.Before(exp.Add(skew)) {
		return nil, ErrInvalidToken.WithDescription("the access token expired").WithReason("expired")
	}
	iat, hasIat := numericDate(m["iat"])
	if hasIat && iat.After(now.Add(skew)) {
		return nil, invalidJWT("issued in the future")
	}
	if nbf, ok := numericDate(m["nbf"]); ok && nbf.After(now.Add(skew)) {
		return nil, invalidJWT("not yet valid")
	}
	if _, bound := m["cnf"]; bound {
		return nil, invalidJWT("sender-constrained tokens (cnf) are not supported")
	}
	id, e := ti.identity(m, key, iat, exp)
	if e != nil {
		return nil, e
	}
	if kid == "" {
		kid = "(no kid)"
	}
	id.DecidedBy = fmt.Sprintf("signature by key %s of %s's JWKS (%s)", kid, ti.cfg.Issuer, ti.jwksURIOf())
	return id, nil
}

func (ti *TrustedIssuer) jwksURIOf() string {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return ti.jwksURI
}

// decodeClaims decodes a JSON object keeping numbers exact.
func decodeClaims(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not an object")
	}
	return m, nil
}

// numericDate reads a NumericDate (RFC 7519 §2), possibly fractional.
func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

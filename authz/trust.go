// Tokens of other issuers (`trust`): which issuer a token names, that
// issuer's keys and introspection, and the claims the gateway forwards.

package authz

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/sync/singleflight"
)

// DefaultTrustAlgorithms are the JWS algorithms accepted from a trusted
// issuer unless configured otherwise. none and HMAC are never accepted:
// a gateway holds no secret shared with another issuer.
var DefaultTrustAlgorithms = []string{"RS256", "ES256", "PS256", "EdDSA"}

// trustAlgorithms are the asymmetric algorithms a trust block may name.
var trustAlgorithms = map[string]jwa.KeyType{
	"RS256": jwa.RSA, "RS384": jwa.RSA, "RS512": jwa.RSA,
	"PS256": jwa.RSA, "PS384": jwa.RSA, "PS512": jwa.RSA,
	"ES256": jwa.EC, "ES384": jwa.EC, "ES512": jwa.EC,
	"EdDSA": jwa.OKP,
}

// Timeouts and rates of the calls made to trusted issuers.
const (
	DefaultFetchTimeout      = 5 * time.Second // discovery and JWKS
	DefaultIntrospectTimeout = 3 * time.Second
	DefaultIntrospectCache   = 5 * time.Minute
	// DefaultIntrospectInFlight is one call per idle connection kept to
	// an issuer (issuerIdleConns).
	DefaultIntrospectInFlight = issuerIdleConns
	// DefaultIntrospectInactive: a client sends a token that is no longer
	// active now and then (an expired one before its refresh); a hundred a
	// minute from one address is someone guessing, or flooding the issuer
	// with random tokens through the gateway.
	DefaultIntrospectInactive = 100
	// inactiveTTL bounds how long an "active": false answer is remembered.
	inactiveTTL = 10 * time.Second
	// retryEvery rate-limits discovery retries and the JWKS refetches that
	// an unknown kid (or a set never loaded) triggers, per issuer.
	retryEvery = 10 * time.Second
	// jwksMinRefresh is the shortest interval jwk.Cache refreshes a set in
	// the background; longer when the JWKS response's cache headers say so.
	jwksMinRefresh = 5 * time.Minute
	maxDocBytes    = 1 << 20
)

// TrustConfig is one `trust <issuer> { … }` block.
type TrustConfig struct {
	// Issuer must equal the tokens' iss byte for byte.
	Issuer string
	// JWKSURI skips discovery of the key set.
	JWKSURI string
	// Audience: a token's aud must contain one of these (or the route's resource).
	Audience []string
	// Algorithms accepted (default DefaultTrustAlgorithms).
	Algorithms []string
	// Introspection of opaque tokens (RFC 7662); nil: JWTs only.
	Introspection *IntrospectionConfig
	// Claims maps "subject", "client_id" and "scope" to the claims read for
	// them, the first present winning; absent fields keep their defaults.
	Claims map[string][]string
	// Headers maps extra upstream header names to claim paths.
	Headers map[string]string
}

// IntrospectionConfig is a trust block's `introspect { … }`.
type IntrospectionConfig struct {
	// Endpoint; empty: the introspection_endpoint of discovery.
	Endpoint string
	// ClientID and ClientSecret authenticate the gateway (client_secret_basic).
	ClientID, ClientSecret string
	// Cache bounds how long an active answer is reused (never past the token's exp).
	Cache time.Duration
	// Timeout bounds each call (default DefaultIntrospectTimeout), and
	// how long a check waits for one of MaxInFlight.
	Timeout time.Duration
	// MaxInFlight bounds the calls under way to this issuer (default
	// DefaultIntrospectInFlight); a check finding none free within Timeout
	// is a 503 with Retry-After.
	MaxInFlight int
	// MaxInactive is how many answers refusing a token (inactive, or
	// active but not one the gateway takes: a refresh token, expired,
	// another iss, a cnf binding, unusable claims) one client address (an
	// IPv6 /64) may cause per minute (default DefaultIntrospectInactive;
	// < 0: no limit): past it, that address's tokens not in the cache are
	// refused with 429 until the minute ends, without asking the issuer.
	MaxInactive int
}

// defaultClaims are where subject, client id and scope are read.
var defaultClaims = map[string][]string{
	"subject":   {"sub"},
	"client_id": {"azp", "client_id"},
	"scope":     {"scope", "scp"},
}

// TrustEvent reports one call to a trusted issuer: discovery, a JWKS fetch
// or an introspection. Err never holds a token or secret.
type TrustEvent struct {
	Issuer   string
	Kind     string // "discovery", "jwks", "introspect"
	Outcome  string // "ok", "error", "timeout"
	Err      error
	Duration time.Duration
}

// TrustOptions are the settings shared by every trusted issuer.
type TrustOptions struct {
	// Observe is told of every call to an issuer (metrics, logs).
	Observe func(TrustEvent)
	// Client makes the calls (default: one with DefaultFetchTimeout).
	Client *http.Client
	Now    func() time.Time
}

// Trust is the set of trusted issuers of one config.
type Trust struct {
	list   []*TrustedIssuer
	byIss  map[string]*TrustedIssuer
	jwks   *jwk.Cache
	client *http.Client
	// own is the transport NewTrust made for client, closed by Close; a
	// client passed in TrustOptions is its owner's to close.
	own *http.Transport
	// later runs f after d (time.AfterFunc; tests replace it).
	later   func(d time.Duration, f func())
	observe func(TrustEvent)
	now     func() time.Time
}

// TrustedIssuer is one issuer the gateway accepts tokens of.
type TrustedIssuer struct {
	cfg    TrustConfig
	t      *Trust
	algs   map[jwa.SignatureAlgorithm]bool
	claims map[string][]string
	// headers in configuration order, names canonical.
	headers []Header

	mu           sync.Mutex
	jwksURI      string
	introURL     string
	discovered   bool
	lastDiscover time.Time
	discoverErr  error
	lastRefetch  time.Time
	fetched      atomic.Bool // the key set was asked for once
	calls        singleflight.Group
	// keys is the last good key set and the fetch under way (trust_jwt.go),
	// made once the JWKS URL is known.
	keys atomic.Pointer[keyState]

	intro *introspector
}

// reservedHeaders are never set from a claim (and so never stripped from
// every request either).
var reservedHeaders = map[string]bool{"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "Host": true,
	"Content-Length": true, "Content-Type": true, "Transfer-Encoding": true, "Connection": true, "Upgrade": true,
	"Te": true, "Trailer": true, "Keep-Alive": true}

// Header is one extra identity header of a trusted issuer's token.
type Header struct{ Name, Value string }

// NewTrust checks the trust blocks (no network: discovery and key fetches
// happen on Start or the first token). ctx bounds the key cache's
// background refreshes.
func NewTrust(ctx context.Context, cfgs []TrustConfig, opts TrustOptions) (*Trust, error) {
	t := &Trust{byIss: map[string]*TrustedIssuer{}, observe: opts.Observe, now: opts.Now, client: opts.Client,
		later: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
	if t.observe == nil {
		t.observe = func(TrustEvent) {}
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.client == nil {
		t.own = issuerTransport()
		t.client = &http.Client{Timeout: DefaultFetchTimeout, Transport: t.own}
	}
	t.client = noRedirects(t.client)
	for _, c := range cfgs {
		ti, err := newTrustedIssuer(t, c)
		if err != nil {
			return nil, fmt.Errorf("trust %s: %v", c.Issuer, err)
		}
		if _, dup := t.byIss[c.Issuer]; dup {
			return nil, fmt.Errorf("trust %s is configured twice", c.Issuer)
		}
		t.byIss[c.Issuer] = ti
		t.list = append(t.list, ti)
	}
	t.jwks = jwk.NewCache(ctx, jwk.WithRefreshWindow(30*time.Second))
	return t, nil
}

// issuerIdleConns is how many idle connections to one issuer are kept:
// concurrent first checks of many opaque tokens (a burst, or the tokens a
// restart has forgotten) each introspect at once, and with net/http's
// default of two idle connections per host every burst would open and
// close its connections again — a TCP, and for a real issuer a TLS,
// handshake per introspection.
const issuerIdleConns = 64

// issuerTransport is net/http's default transport with issuerIdleConns
// kept per issuer.
func issuerTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = issuerIdleConns
	tr.MaxIdleConns = max(tr.MaxIdleConns, issuerIdleConns)
	return tr
}

// Close closes the idle connections to the issuers, kept for the calls of
// this config, when it is unloaded: a reload would otherwise leave them
// open until the transport's idle timeout (90 s), one pool per reload.
// Calls under way at Close close their connections as they end (net/http
// keeps no newly idle connection after CloseIdleConnections); a call that
// starts later, for a request the old config's server is still finishing,
// pools its connection again: those are closed once the longest call
// timeout has passed.
func (t *Trust) Close() {
	if t == nil || t.own == nil {
		return
	}
	t.own.CloseIdleConnections()
	longest := DefaultFetchTimeout
	for _, ti := range t.list {
		if ti.intro != nil {
			longest = max(longest, ti.intro.cfg.Timeout)
		}
	}
	t.later(longest+time.Second, t.own.CloseIdleConnections)
}

// noRedirects copies c so that it follows no redirect: a key set or an
// introspection answer comes from the configured URL or not at all.
func noRedirects(c *http.Client) *http.Client {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

func newTrustedIssuer(t *Trust, c TrustConfig) (*TrustedIssuer, error) {
	if err := CheckTrustURL(c.Issuer); err != nil {
		return nil, fmt.Errorf("issuer: %v", err)
	}
	if c.JWKSURI != "" {
		if err := CheckTrustURL(c.JWKSURI); err != nil {
			return nil, fmt.Errorf("jwks_uri: %v", err)
		}
	}
	if len(c.Audience) == 0 {
		return nil, errors.New("audience is required: name the aud its tokens carry for this gateway, e.g. `audience api://orders`")
	}
	ti := &TrustedIssuer{cfg: c, t: t, algs: map[jwa.SignatureAlgorithm]bool{}, jwksURI: c.JWKSURI,
		claims: map[string][]string{}}
	algs := c.Algorithms
	if len(algs) == 0 {
		algs = DefaultTrustAlgorithms
	}
	for _, a := range algs {
		if _, ok := trustAlgorithms[a]; !ok {
			return nil, fmt.Errorf("algorithm %q is not accepted from another issuer: use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA (never none or HMAC)", a)
		}
		ti.algs[jwa.SignatureAlgorithm(a)] = true
	}
	for f, paths := range defaultClaims {
		ti.claims[f] = paths
	}
	for f, paths := range c.Claims {
		if _, ok := defaultClaims[f]; !ok {
			return nil, fmt.Errorf("claim %q: the fields are subject, client_id and scope (use `header` for more)", f)
		}
		if len(paths) == 0 || slices.Contains(paths, "") {
			return nil, fmt.Errorf("claim %s needs at least one claim name", f)
		}
		ti.claims[f] = paths
	}
	for name, path := range c.Headers {
		if !httpguts.ValidHeaderFieldName(name) || path == "" {
			return nil, fmt.Errorf("header %q %q: usage `header <Header-Name> <claim.path>`", name, path)
		}
		if reservedHeaders[http.CanonicalHeaderKey(name)] {
			return nil, fmt.Errorf("header %s: a protocol header cannot carry a claim; name an identity header such as X-OAuth-Roles", name)
		}
		ti.headers = append(ti.headers, Header{Name: http.CanonicalHeaderKey(name), Value: path})
	}
	slices.SortFunc(ti.headers, func(a, b Header) int { return strings.Compare(a.Name, b.Name) })
	if ic := c.Introspection; ic != nil {
		if ic.Endpoint != "" {
			if err := CheckTrustURL(ic.Endpoint); err != nil {
				return nil, fmt.Errorf("introspect endpoint: %v", err)
			}
		}
		if ic.ClientID == "" || ic.ClientSecret == "" {
			return nil, errors.New("introspect needs client_id and client_secret: introspection calls are authenticated")
		}
		ti.introURL = ic.Endpoint
		ti.intro = newIntrospector(ti, *ic)
	}
	ti.discovered = ti.jwksURI != "" && (ti.intro == nil || ti.introURL != "")
	return ti, nil
}

// CheckTrustURL accepts https URLs, and plain http only on a loopback
// address (tests, sidecars): a key set or introspection answer read in the
// clear from anywhere else could be anyone's.
func CheckTrustURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must be an absolute https URL without fragment or user info", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("%q uses plain http: use https (plain http is accepted only on a loopback address)", s)
	}
	return fmt.Errorf("%q must be an https URL", s)
}

// Issuers returns the trusted issuers in configuration order.
func (t *Trust) Issuers() []string {
	out := make([]string, len(t.list))
	for i, ti := range t.list {
		out[i] = ti.cfg.Issuer
	}
	return out
}

// Introspecting returns the trusted issuers with an introspect block that a
// route taking the issuers named (all when none) asks about an opaque
// token, in the order they are asked.
func (t *Trust) Introspecting(issuers []string) []string {
	var out []string
	for ti := range t.introspectors(&Policy{Issuers: issuers}) {
		out = append(out, ti.cfg.Issuer)
	}
	return out
}

// introspectors are the trusted issuers that a route with policy p asks
// about an opaque token, in configuration order.
func (t *Trust) introspectors(p *Policy) iter.Seq[*TrustedIssuer] {
	return func(yield func(*TrustedIssuer) bool) {
		for _, ti := range t.list {
			if ti.intro != nil && p.accepts(ti.cfg.Issuer) && !yield(ti) {
				return
			}
		}
	}
}

// HeaderNames returns every extra header name of every trusted issuer:
// they are removed from every incoming request, like identity headers.
func (t *Trust) HeaderNames() []string {
	var out []string
	for _, ti := range t.list {
		for _, h := range ti.headers {
			if !slices.Contains(out, h.Name) {
				out = append(out, h.Name)
			}
		}
	}
	return out
}

// Warm discovers every issuer and loads its keys once, reporting failures
// through Observe; tokens of an issuer not ready yet get 503 and retry.
func (t *Trust) Warm(ctx context.Context) {
	var wg sync.WaitGroup
	for _, ti := range t.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if uri, _, err := ti.endpoints(ctx); err == nil && uri != "" {
				_, _ = ti.keySet(ctx, false)
			}
		}()
	}
	wg.Wait()
}

// Issuer returns a trusted issuer by its URL.
func (t *Trust) Issuer(iss string) *TrustedIssuer { return t.byIss[iss] }

// Name is the issuer URL.
func (ti *TrustedIssuer) Name() string { return ti.cfg.Issuer }

// observe times one call and reports it.
func (ti *TrustedIssuer) observe(kind string, start time.Time, err error) {
	outcome := "ok"
	var ne net.Error
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		outcome = "timeout"
	default:
		outcome = "error"
	}
	ti.t.observe(TrustEvent{Issuer: ti.cfg.Issuer, Kind: kind, Outcome: outcome, Err: err, Duration: time.Since(start)})
}

// unavailable is the 503 of a trusted issuer that cannot be asked.
func unavailable(ti *TrustedIssuer, what string) *Error {
	return ErrTemporarilyUnavailable.WithDescription(what + " of the issuer " + ti.cfg.Issuer + " are unavailable").WithReason("issuer_unavailable")
}

// tokenID is the verified-token cache's id of a trusted issuer's token:
// those are never revoked by id here, but the cache indexes every entry.
func tokenID(k cacheKey) string { return "trusted:" + hex.EncodeToString(k[:16]) }

// AuthenticateRoute checks tok for a route with policy p: our own tokens
// as Authenticate does, a trusted issuer's JWT with that issuer's keys
// only, an opaque token of another issuer by introspection at the issuers
// p accepts. Verified tokens of every issuer share the verified-token
// cache. The error's Issuer names who decided (a metrics label). from is
// the client's address, which introspection's limits count per.
func (v *Verifier) AuthenticateRoute(ctx context.Context, tok, from string, p *Policy) (*Principal, *Error) {
	if v.Trust == nil {
		id, e := v.Authenticate(ctx, tok)
		if e == nil {
			e = p.Check(id)
		}
		if e != nil {
			return nil, e.withIssuer("self")
		}
		return id, nil
	}
	if len(tok) > maxTokenLen {
		return nil, ErrInvalidToken.WithDescription("the access token is invalid").WithReason("malformed")
	}
	now, key := v.Now(), tokenKey(tok)
	if v.cache != nil {
		if t, ok := v.cache.get(key, now, v.Skew); ok && (!t.p.introspected || now.Before(t.exp)) {
			if t.p.trusted == nil {
				if cerr := v.clientActive(ctx, t.p.ClientID, t.iat); cerr != nil {
					return nil, cerr.withIssuer("self")
				}
			}
			if e := p.Check(t.p); e != nil {
				return nil, e.withIssuer(t.p.label())
			}
			return t.p, nil
		}
	}
	s := slot{v: v, key: key, now: now, from: from}
	if v.cache != nil {
		s.epoch = v.cache.begin()
	}
	id, e := v.verifyAny(ctx, tok, key, p, s)
	if e != nil {
		return nil, e
	}
	s.store(id)
	if e := p.Check(id.Principal); e != nil {
		return nil, e.withIssuer(id.label())
	}
	return id.Principal, nil
}

// slot is one token's place in the verified-token cache, for a check
// that may share an introspection with concurrent checks of that token.
type slot struct {
	v     *Verifier
	key   cacheKey
	now   time.Time
	epoch uint64
	from  string // the client's address (limits on introspection)
}

// store caches a verified identity; a second store of one token is a no-op.
func (s slot) store(id *Identity) {
	if s.v.cache != nil {
		s.v.cache.put(s.key, id, s.now, s.epoch)
	}
}

// load returns the token's identity when the cache holds it now: a check
// that missed the cache just before a concurrent introspection stored its
// answer finds it here instead of asking the issuer again.
func (s slot) load() *Identity {
	if s.v.cache == nil {
		return nil
	}
	now := s.v.Now()
	t, ok := s.v.cache.get(s.key, now, s.v.Skew)
	if !ok || !now.Before(t.exp) {
		return nil
	}
	return &Identity{Principal: t.p, IssuedAt: t.iat, ExpiresAt: t.exp, ID: t.id, FamilyID: t.family}
}

// label is the principal's issuer as a metrics label.
func (p *Principal) label() string {
	if p.trusted != nil {
		return p.trusted.cfg.Issuer
	}
	return "self"
}

func (e *Error) withIssuer(label string) *Error {
	c := *e
	c.Issuer = label
	return &c
}

// verifyAny picks who decides tok: ours (our opaque prefix, or a JWT whose
// iss is our issuer), the trusted issuer its iss names, or — an opaque
// token of no known form — introspection at the issuers p accepts.
//
// s caches an introspected identity before concurrent callers sharing its
// introspection return, and is looked up again inside that introspection,
// so a token is introspected once per cache interval however its checks
// interleave.
func (v *Verifier) verifyAny(ctx context.Context, tok string, key cacheKey, p *Policy, s slot) (*Identity, *Error) {
	self := v.Keys != nil && v.Issuer != ""
	if strings.HasPrefix(tok, PrefixAccess) && self {
		if !p.accepts(v.Issuer) {
			return nil, errIssuerNotAccepted().withIssuer("self")
		}
		id, e := v.Verify(ctx, tok)
		return id, e.orNil("self")
	}
	if iss, isJWT := peekIssuer(tok); isJWT {
		if self && iss == v.Issuer {
			if !p.accepts(v.Issuer) {
				return nil, errIssuerNotAccepted().withIssuer("self")
			}
			id, e := v.Verify(ctx, tok)
			return id, e.orNil("self")
		}
		ti := v.Trust.byIss[iss]
		if ti == nil {
			return nil, ErrInvalidToken.WithDescription("the access token is from an issuer not trusted here").WithReason("untrusted_issuer")
		}
		if !p.accepts(iss) {
			return nil, errIssuerNotAccepted().withIssuer(iss)
		}
		id, e := ti.verifyJWT(ctx, tok, key, v.Now(), v.Skew)
		return id, e.orNil(iss)
	}
	var down, refused *Error
	asked, found := false, false
	for ti := range v.Trust.introspectors(p) {
		asked = true
		done, e := ti.intro.admit(s.from)
		if e == nil {
			var id *Identity
			var called bool
			id, e, called = ti.intro.introspect(ctx, tok, key, v.Now(), s)
			refused := called && e != nil && !e.Is(ErrTemporarilyUnavailable)
			// Counted once every issuer has answered: an issuer later in
			// the list may find the token active.
			defer func() { done(refused && !found) }()
			if e == nil {
				found = true
				return id, nil
			}
		}
		if e.Is(ErrTemporarilyUnavailable) && down == nil {
			down = e.withIssuer(ti.cfg.Issuer)
		} else if refused == nil {
			refused = e.withIssuer(ti.cfg.Issuer)
		}
	}
	if down != nil {
		return nil, down // one issuer could not answer: never a guess
	}
	if !asked {
		return nil, ErrInvalidToken.WithDescription("the access token is invalid").WithReason("malformed")
	}
	return nil, refused
}

// orNil labels a non-nil error; a nil one stays nil.
func (e *Error) orNil(label string) *Error {
	if e == nil {
		return nil
	}
	return e.withIssuer(label)
}

func errIssuerNotAccepted() *Error {
	return ErrInvalidToken.WithDescription("the access token's issuer is not accepted on this route").WithReason("issuer")
}

// accepts reports whether the route takes tokens of iss.
func (p *Policy) accepts(iss string) bool {
	return len(p.Issuers) == 0 || slices.Contains(p.Issuers, iss)
}

// namesResource: the token's aud names this route's resource (RFC 9728).
func (p *Policy) namesResource(id *Principal) bool {
	return p.Resource != "" && slices.Contains(id.Audience, p.Resource)
}

// checkTrust applies the route's issuers, and a trusted issuer's audience
// (CONFORMANCE R4: its tokens always need it, or the route's resource).
func (p *Policy) checkTrust(id *Principal) *Error {
	if !p.accepts(id.Issuer) {
		return errIssuerNotAccepted()
	}
	if id.trusted != nil && !intersects(id.Audience, id.trusted.cfg.Audience) && !p.namesResource(id) {
		return ErrInvalidToken.WithDescription("the access token is not for this audience").WithReason("audience")
	}
	return nil
}

// NewGatewayVerifier is the verifier of a config without an issuer of its
// own: it accepts only tokens of trusted issuers.
func NewGatewayVerifier(t *Trust, skew time.Duration, cacheSize int) *Verifier {
	if skew == 0 {
		skew = DefaultSkew
	}
	v := &Verifier{Trust: t, Skew: skew, Now: t.now}
	if cacheSize == 0 {
		cacheSize = DefaultVerifyCacheSize
	}
	if cacheSize > 0 {
		v.cache = newVerifyCache(cacheSize)
		v.cache.setLive(true) // no store, no revocation feed to wait for
	}
	return v
}

// Client ID Metadata Documents: an https client_id URL fetched (bounded, no redirects, public addresses only), checked and cached.

package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// FetchOptions bound how metadata documents are fetched and cached.
type FetchOptions struct {
	// Timeout of one fetch, connection included (default 5 s).
	Timeout time.Duration
	// MaxBytes of a document (default 16 KiB); a larger one is refused.
	MaxBytes int64
	// MinTTL and MaxTTL bound how long a document is cached (default 1 min
	// and 24 h); DefaultTTL applies without Cache-Control max-age (5 min).
	MinTTL, MaxTTL, DefaultTTL time.Duration
	// MaxEntries bounds the cache (default 10000).
	MaxEntries int
	// Loopback accepts client_id URLs on a loopback host (127.0.0.1,
	// [::1], localhost; http or https), fetched on loopback only: for
	// tests and local development, never the default — on a server it
	// would let anyone have the gateway send GETs to its own local ports.
	Loopback bool
}

func (o FetchOptions) withDefaults() FetchOptions {
	setDefault(&o.Timeout, 5*time.Second)
	setDefault(&o.MinTTL, time.Minute)
	setDefault(&o.MaxTTL, 24*time.Hour)
	setDefault(&o.DefaultTTL, 5*time.Minute)
	if o.MaxBytes <= 0 {
		o.MaxBytes = 16 << 10
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 10_000
	}
	return o
}

// DocumentError says why a client_id URL gave no client. It is shown on the
// authorization endpoint's error page (never a redirect: the document's
// redirect URIs are not trusted) and in invalid_client at the token endpoint.
//
// RetryAfter, when set, means the document was not looked at: the fetch was
// refused for now (too many fetches), and the caller may try again then.
type DocumentError struct {
	Reason     string
	RetryAfter time.Duration
}

func (e *DocumentError) Error() string { return "client metadata document: " + e.Reason }

func docError(format string, args ...any) *DocumentError {
	return &DocumentError{Reason: fmt.Sprintf(format, args...)}
}

// MetadataDocuments resolves client ids that are URLs (CONFORMANCE G4).
type MetadataDocuments struct {
	opts   FetchOptions
	reg    RegistrationConfig
	now    func() time.Time
	client *http.Client
	cache  *otter.Cache[string, *cachedDocument]
	// fetching holds a slot per fetch under way; refetching too, for
	// documents that were good when last fetched only, so that strangers
	// holding every other slot with slow documents do not keep known
	// clients out.
	fetching, refetching chan struct{}
	calls                singleflight.Group
	// perAddress counts the fetches made for each caller's address;
	// inFlight bounds those under way at once, inFlightSite those of an
	// IPv6 /48 (their failures never count).
	perAddress, inFlight, inFlightSite *Throttle
	// Fetches counts the documents fetched, for tests and metrics.
	Fetches atomic.Int64
}

type cachedDocument struct {
	client  *Client
	err     *DocumentError // a document that failed, remembered briefly
	expires time.Time
}

// Bounds on what strangers can make the gateway fetch: a URL whose
// document failed is not fetched again for failedDocumentTTL, at most
// maxConcurrentFetches documents are being fetched at once (and
// reservedRefetches more, of documents that were good when last fetched),
// and requests from one address (an IPv6 /64) may make at most
// fetchesPerAddress fetches per fetchWindow, inFlightPerAddress at once —
// documents cached already cost nothing.
const (
	failedDocumentTTL    = 30 * time.Second
	maxConcurrentFetches = 32
	reservedRefetches    = 8
	fetchesPerAddress    = 30
	inFlightPerAddress   = 2
	inFlightPerSite      = 4 // an IPv6 /48
	fetchWindow          = time.Minute
	// keptAfterExpiry: an entry stays in the cache this long past its
	// longest lifetime, only to tell that its document was good when
	// last fetched (reserved slots).
	keptAfterExpiry = 7 * 24 * time.Hour
)

// callerKey carries the address of the request a client is looked up for.
type callerKey struct{}

// withCaller marks ctx with the requesting address: documents fetched for
// it count against that address.
func withCaller(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, callerKey{}, addr)
}

// loopbackAllowed marks a fetch of a URL on a loopback host: only then
// may the dialer reach a loopback address, and then nothing else.
type loopbackAllowed struct{}

// NewMetadataDocuments returns the resolver for rc's grants and scopes.
func NewMetadataDocuments(rc RegistrationConfig, now func() time.Time) *MetadataDocuments {
	opts := rc.Fetch.withDefaults()
	m := &MetadataDocuments{opts: opts, reg: rc, now: now,
		fetching: make(chan struct{}, maxConcurrentFetches), refetching: make(chan struct{}, reservedRefetches),
		perAddress: NewThrottle(fetchesPerAddress, fetchWindow, now), inFlight: NewThrottle(inFlightPerAddress, fetchWindow, now),
		inFlightSite: NewThrottle(inFlightPerSite, fetchWindow, now)}
	transport := &http.Transport{
		Proxy:                  nil, // a proxy would dial for us, past the address check
		DialContext:            m.dial,
		TLSHandshakeTimeout:    opts.Timeout,
		ResponseHeaderTimeout:  opts.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConns:           16,
		IdleConnTimeout:        90 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	m.client = &http.Client{Transport: transport, Timeout: opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	m.cache = otter.Must(&otter.Options[string, *cachedDocument]{
		MaximumSize:      opts.MaxEntries,
		ExpiryCalculator: otter.ExpiryWriting[string, *cachedDocument](opts.MaxTTL + keptAfterExpiry),
	})
	return m
}

// IsDocumentID reports whether a client id is a URL, to be resolved as a
// metadata document (client ids of configured and registered clients never
// contain ':').
func IsDocumentID(id string) bool {
	return strings.HasPrefix(id, "https://") || strings.HasPrefix(id, "http://")
}

// Client returns the client a document describes, from the cache while its
// cache lifetime lasts. Every failure is a *DocumentError.
func (m *MetadataDocuments) Client(ctx context.Context, id string) (*Client, error) {
	d, cached := m.cache.GetIfPresent(id)
	if cached && m.now().Before(d.expires) {
		if d.err != nil {
			return nil, d.err
		}
		return d.client, nil
	}
	wasGood := cached && d.err == nil // its cache lifetime is over
	u, allowLoopback, derr := documentURL(id)
	if derr == nil && allowLoopback && !m.opts.Loopback {
		derr = docError("a client_id URL on a loopback host is accepted only with `metadata_documents loopback` (tests, local development)")
	}
	if derr != nil {
		return nil, derr
	}
	addr, _ := ctx.Value(callerKey{}).(string)
	if addr == "" {
		return m.fetchShared(ctx, id, u, allowLoopback, wasGood)
	}
	// The address's limits refuse here, before any fetch, and are not
	// remembered as the URL's failure: one address's excess never fails a
	// document for others.
	block := addressBlock(addr)
	ks := []throttled{{m.inFlight, block}}
	if site := siteBlock(addr); site != "" {
		ks = append(ks, throttled{m.inFlightSite, site})
	}
	var c *Client
	var err error
	if _, busy := attemptAll(ks, func() bool {
		if wait, blocked := m.perAddress.Take(block); blocked {
			err = &DocumentError{Reason: "too many client metadata documents were fetched for this address; try again in a minute", RetryAfter: wait}
		} else {
			c, err = m.fetchShared(ctx, id, u, allowLoopback, wasGood)
		}
		return false // in-flight counts only: nothing is recorded
	}); busy {
		return nil, &DocumentError{Reason: "this address has client metadata documents being fetched already; try again shortly", RetryAfter: busyWait}
	}
	return c, err
}

// fetchShared fetches the document of id, one fetch per URL at a time
// (not tied to one caller's cancellation), and caches what it finds.
func (m *MetadataDocuments) fetchShared(ctx context.Context, id string, u *url.URL, allowLoopback, wasGood bool) (*Client, error) {
	v, err, _ := m.calls.Do(id, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.Timeout)
		defer cancel()
		if allowLoopback {
			fctx = context.WithValue(fctx, loopbackAllowed{}, true)
		}
		slots, ok := m.slot(wasGood)
		if !ok {
			return nil, &DocumentError{Reason: "too many client metadata documents are being fetched; try again shortly", RetryAfter: busyWait}
		}
		defer func() { <-slots }()
		c, ttl, err := m.fetch(fctx, id, u)
		if err != nil {
			var de *DocumentError
			if errors.As(err, &de) {
				m.cache.Set(id, &cachedDocument{err: de, expires: m.now().Add(failedDocumentTTL)})
			}
			return nil, err
		}
		if ttl > 0 {
			m.cache.Set(id, &cachedDocument{client: c, expires: m.now().Add(ttl)})
		}
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Client), nil
}

// slot takes a fetch slot — one of the shared ones, or for a document
// that was good when last fetched one of the reserved ones — and returns
// where to give it back.
func (m *MetadataDocuments) slot(wasGood bool) (chan struct{}, bool) {
	select {
	case m.fetching <- struct{}{}:
		return m.fetching, true
	default:
	}
	if wasGood {
		select {
		case m.refetching <- struct{}{}:
			return m.refetching, true
		default:
		}
	}
	return nil, false
}

// documentURL checks a client_id URL (the draft's §3): https with a host
// and a path, no fragment, user information or dot segments; a loopback
// host (tests, local tools; only with FetchOptions.Loopback) by http or
// https, reached on loopback only. An IP literal that is not public is
// refused here, before any connection.
func documentURL(id string) (*url.URL, bool, *DocumentError) {
	if len(id) > maxRedirectURILen {
		return nil, false, docError("the client_id URL is longer than %d bytes", maxRedirectURILen)
	}
	u, err := url.Parse(id)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return nil, false, docError("the client_id is not a URL with a host")
	case u.User != nil || u.Fragment != "" || strings.Contains(id, "#"):
		return nil, false, docError("the client_id URL may not carry user information or a fragment")
	case u.Path == "" || u.Path == "/":
		return nil, false, docError("the client_id URL needs a path")
	}
	for seg := range strings.SplitSeq(u.Path, "/") {
		if seg == "." || seg == ".." {
			return nil, false, docError("the client_id URL may not have . or .. segments")
		}
	}
	host := u.Hostname()
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, false, docError("the client_id URL must use https")
	}
	if loopbackHost(host) {
		// Tests and local tools: http or https (MCP clients insist on
		// https), dialled on loopback only, never the network.
		return u, true, nil
	}
	if u.Scheme == "http" {
		return nil, false, docError("the client_id URL must use https (plain http only on a loopback host)")
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && !publicAddr(ip) {
		return nil, false, docError("the client_id URL names a private, loopback or link-local address")
	}
	return u, false, nil
}

// nonPublic are ranges outside IsPrivate and friends that still do not
// reach the public internet, or embed an IPv4 address that may not.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001::/32"), // Teredo
	netip.MustParsePrefix("2002::/16"), // 6to4
}

// publicAddr: an address a fetch may connect to.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

var errForbiddenAddress = errors.New("the address is private, loopback or link-local")

// dial connects only to public addresses — checked on the resolved address
// at connect time, so a name that resolves elsewhere later (DNS rebinding)
// cannot get past it — and, for an http loopback URL, only to loopback.
func (m *MetadataDocuments) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	allowLoopback := ctx.Value(loopbackAllowed{}) != nil
	d := net.Dialer{Timeout: m.opts.Timeout, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return errForbiddenAddress
		}
		ip, err := netip.ParseAddr(host)
		switch {
		case err != nil:
			return errForbiddenAddress
		case allowLoopback: // a loopback host: loopback only, never the network
			if !ip.Unmap().IsLoopback() {
				return errForbiddenAddress
			}
		case !publicAddr(ip):
			return errForbiddenAddress
		}
		return nil
	}}
	return d.DialContext(ctx, network, addr)
}

// clientDocument is a Client ID Metadata Document: client metadata (RFC
// 7591 §2) with its own client_id.
type clientDocument struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	ClientMetadata
}

// fetch gets and checks the document, and says how long it may be cached.
func (m *MetadataDocuments) fetch(ctx context.Context, id string, u *url.URL) (*Client, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return nil, 0, docError("the client_id URL cannot be fetched")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "oauthgate")
	m.Fetches.Add(1)
	resp, err := m.client.Do(req)
	if err != nil {
		if errors.Is(err, errForbiddenAddress) {
			return nil, 0, docError("%s resolves to a private, loopback or link-local address", u.Host)
		}
		return nil, 0, docError("%s could not be fetched", u.Host)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, 0, docError("the document at %s redirects (HTTP %d); redirects are not followed", u.Host, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, 0, docError("the document at %s answered HTTP %d", u.Host, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, m.opts.MaxBytes+1))
	if err != nil {
		return nil, 0, docError("the document at %s could not be read", u.Host)
	}
	if int64(len(body)) > m.opts.MaxBytes {
		return nil, 0, docError("the document at %s is larger than %d bytes", u.Host, m.opts.MaxBytes)
	}
	c, derr := m.check(id, u, body)
	if derr != nil {
		return nil, 0, derr
	}
	return c, m.ttl(resp.Header), nil
}

// check validates a document and makes its client: public, PKCE S256,
// within the grants and scopes registered clients may have.
func (m *MetadataDocuments) check(id string, u *url.URL, body []byte) (*Client, *DocumentError) {
	var doc clientDocument
	if why := decodeStrict(body, &doc); why != "" {
		return nil, docError("%s", why)
	}
	if doc.ClientID != id {
		return nil, docError("its client_id is not the URL it was fetched from")
	}
	if doc.ClientSecret != "" {
		return nil, docError("it carries a client_secret, which a metadata document must not")
	}
	switch doc.TokenEndpointAuthMethod {
	case "", "none":
	case "client_secret_basic", "client_secret_post", "client_secret_jwt":
		return nil, docError("token_endpoint_auth_method %s needs a shared secret; a metadata document's client is public (none)", doc.TokenEndpointAuthMethod)
	default:
		return nil, docError("token_endpoint_auth_method %q is not supported; use none", truncate(doc.TokenEndpointAuthMethod, 64))
	}
	var rec tokenstore.Client
	if e := checkMetadata(doc.ClientMetadata, true, m.reg, &rec); e != nil {
		return nil, docError("%s", e.Description)
	}
	c := &Client{ID: id, Name: rec.Name, Public: true, RedirectURIs: rec.RedirectURIs, Grants: rec.Grants, Scopes: rec.Scopes,
		Registered: true, DocumentHost: u.Host, ClientURI: rec.ClientURI, LogoURI: rec.LogoURI}
	if c.Name == "" {
		c.Name = u.Host
	}
	return c, nil
}

// ttl is how long a response may be cached: no-store or no-cache not at
// all, else max-age (or DefaultTTL) within MinTTL and MaxTTL.
func (m *MetadataDocuments) ttl(h http.Header) time.Duration {
	ttl := m.opts.DefaultTTL
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n >= 0 {
					ttl = time.Duration(min(n, int64(m.opts.MaxTTL/time.Second))) * time.Second
				}
			}
		}
	}
	return min(max(ttl, m.opts.MinTTL), m.opts.MaxTTL)
}

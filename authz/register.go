// RFC 7591 dynamic client registration at /oauth/register: checks, limits, the 201 answer, unused clients' expiry.

package authz

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// PathRegister is the RFC 7591 client registration endpoint.
const PathRegister = "/oauth/register"

// Registration modes (CONFORMANCE G1).
const (
	RegistrationOff   = "off"
	RegistrationOpen  = "open"  // anyone may register
	RegistrationToken = "token" // a request needs the initial access token
)

// Registration defaults.
const (
	DefaultMaxRegisteredClients = 100_000
	DefaultRegistrationRate     = 20
	DefaultRegistrationWindow   = 10 * time.Minute
	// MaxRegistrationBody bounds a registration request.
	MaxRegistrationBody = 16 << 10
	// maxRegisteredURIs bounds the redirect URIs of one registered client.
	maxRegisteredURIs = 20
	// siteRateFactor: an IPv6 /48 may register this many times the rate
	// of one address (a /64).
	siteRateFactor = 5
	// DefaultUnusedAfter: in mode open, a registered client never issued
	// a token is removed after this long unless unused_after says
	// otherwise, so registrations nobody uses cannot fill max_clients
	// for good.
	DefaultUnusedAfter = 7 * 24 * time.Hour
	// recountEvery is how often the number of registered clients is read
	// from the store again (the registrations of other instances, and the
	// sweep of expired unused clients); between, this instance counts its own.
	recountEvery = time.Minute
)

// RegistrationConfig configures self-registered clients: RFC 7591 at
// /oauth/register (Mode) and Client ID Metadata Documents (MetadataDocuments).
type RegistrationConfig struct {
	// Mode: "" or off (no endpoint), open, token.
	Mode string
	// InitialAccessToken is the Bearer token mode token requires.
	InitialAccessToken string
	// MetadataDocuments resolves https client_id URLs (cimd.go).
	MetadataDocuments bool
	// Grants registered clients may have (default authorization_code and
	// refresh_token); client_credentials never in mode open.
	Grants []string
	// Scopes registered clients may have (default: the catalog's defaults).
	Scopes []string
	// UnusedAfter: a registered client never issued a token is gone after
	// this long (0: DefaultUnusedAfter in mode open, else kept until
	// deleted; negative: kept until deleted).
	UnusedAfter time.Duration
	// MaxClients bounds the registered clients (default 100000).
	MaxClients int
	// Rate registrations per Window are accepted from one address
	// (default 20 per 10 minutes).
	Rate   int
	Window time.Duration
	// Fetch configures how metadata documents are fetched (zero: defaults).
	Fetch FetchOptions
}

// Enabled reports whether /oauth/register is served.
func (rc RegistrationConfig) Enabled() bool {
	return rc.Mode == RegistrationOpen || rc.Mode == RegistrationToken
}

// Check validates the configuration against the catalog: it names the fix.
func (rc RegistrationConfig) Check(cat *Catalog) error {
	switch rc.Mode {
	case "", RegistrationOff, RegistrationOpen:
	case RegistrationToken:
		if rc.InitialAccessToken == "" {
			return errors.New("registration: mode token needs `initial_access_token {env.VAR}`")
		}
	default:
		return fmt.Errorf("registration: mode %q: use open, token or off", rc.Mode)
	}
	for _, g := range rc.Grants {
		switch g {
		case GrantAuthorizationCode, GrantRefreshToken:
		case GrantClientCredentials:
			if rc.Mode != RegistrationToken {
				return errors.New("registration: client_credentials cannot be granted to clients that register themselves in mode open (anyone could get a token without a user); remove it or use mode token")
			}
		default:
			return fmt.Errorf("registration: unknown grant %q; use authorization_code, refresh_token (or client_credentials in mode token)", g)
		}
	}
	if len(rc.Grants) > 0 && !slices.Contains(rc.Grants, GrantAuthorizationCode) && !slices.Contains(rc.Grants, GrantClientCredentials) {
		return errors.New("registration: grants need authorization_code (or client_credentials in mode token)")
	}
	for _, s := range rc.Scopes {
		if _, ok := cat.Lookup(s); !ok {
			return fmt.Errorf("registration: scope %q is not in the catalog; declare it with `scope %s \"description\"`", s, s)
		}
	}
	if rc.MaxClients < 0 || rc.Rate < 0 || rc.Window < 0 {
		return errors.New("registration: max_clients and rate cannot be negative")
	}
	return nil
}

// withDefaults fills the zero fields.
func (rc RegistrationConfig) withDefaults(cat *Catalog) RegistrationConfig {
	if len(rc.Grants) == 0 {
		rc.Grants = []string{GrantAuthorizationCode, GrantRefreshToken}
	}
	if len(rc.Scopes) == 0 {
		rc.Scopes = cat.Defaults()
	}
	if rc.MaxClients == 0 {
		rc.MaxClients = DefaultMaxRegisteredClients
	}
	if rc.Rate == 0 {
		rc.Rate = DefaultRegistrationRate
	}
	if rc.UnusedAfter == 0 && rc.Mode == RegistrationOpen {
		rc.UnusedAfter = DefaultUnusedAfter
	}
	setDefault(&rc.Window, DefaultRegistrationWindow)
	return rc
}

// registrar serves /oauth/register.
type registrar struct {
	s    *Server
	cfg  RegistrationConfig
	rate *Throttle // every attempt counts, per address (an IPv6 /64)
	// siteRate: per IPv6 /48, siteRateFactor × rate.
	siteRate *Throttle
	token    [sha256.Size]byte

	mu        sync.Mutex
	count     int       // registered clients, as last counted plus ours since
	countedAt time.Time // zero: never counted
}

func newRegistrar(s *Server, rc RegistrationConfig) *registrar {
	l, now := s.cfg.Limits, s.cfg.Now
	r := &registrar{s: s, cfg: rc, rate: l.throttle("registration-address", rc.Rate, rc.Window, 0, RunningAlways, now),
		siteRate: l.throttle("registration-site", siteRateFactor*rc.Rate, rc.Window, 0, RunningAlways, now)}
	r.token = sha256.Sum256([]byte(rc.InitialAccessToken))
	return r
}

// ClientMetadata is a registration request and, with the client id and
// secret, its answer (RFC 7591 §2, §3.2.1).
type ClientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
}

// registrationResponse is the RFC 7591 §3.2.1 answer.
type registrationResponse struct {
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	ClientMetadata
}

// RFC 7591 §3.2.2 errors.
var (
	ErrInvalidRedirectURI    = &Error{Code: "invalid_redirect_uri", Status: http.StatusBadRequest}
	ErrInvalidClientMetadata = &Error{Code: "invalid_client_metadata", Status: http.StatusBadRequest}
)

func metadataError(format string, args ...any) *Error {
	return ErrInvalidClientMetadata.WithDescription(fmt.Sprintf(format, args...))
}

func (g *registrar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		e := ErrInvalidRequest.WithDescription("use POST")
		e.Status = http.StatusMethodNotAllowed
		WriteError(w, e)
		return
	}
	ip := g.s.cfg.ClientIP(r)
	// Every attempt counts, accepted or not; the check and the count are
	// one step, so concurrent registrations cannot pass the rate together.
	// An IPv6 /64 is one source, and its /48 has siteRateFactor times its
	// rate: a /48 holds 65,536 /64s.
	wait, blocked := g.rate.Take("register\x00" + addressBlock(ip))
	if site := siteBlock(ip); !blocked && site != "" {
		wait, blocked = g.siteRate.Take("register\x00" + site)
	}
	if blocked {
		e := &Error{Code: "too_many_requests", Status: http.StatusTooManyRequests,
			Description: "too many registrations from this address; retry later", retryAfter: wait}
		g.refuse(w, e)
		return
	}
	if g.cfg.Mode == RegistrationToken && !g.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		g.refuse(w, ErrInvalidToken.WithDescription("registration needs the initial access token as a Bearer token"))
		return
	}
	md, e := readClientMetadata(w, r)
	if e != nil {
		g.refuse(w, e)
		return
	}
	rec, e := g.client(md)
	if e != nil {
		g.refuse(w, e)
		return
	}
	resp, e := g.create(r.Context(), rec)
	if e != nil {
		g.refuse(w, e)
		return
	}
	g.s.cfg.Observe(Event{Kind: EventRegistered, Grant: "registration", ClientID: resp.ClientID, Scopes: rec.Scopes,
		Address: g.s.cfg.ClientIP(r)})
	writeJSON(w, http.StatusCreated, resp)
}

func (g *registrar) refuse(w http.ResponseWriter, e *Error) {
	g.s.cfg.Observe(Event{Kind: EventRefused, Grant: "registration", Error: e.Code, Reason: e.Description})
	WriteError(w, e)
}

// authorized compares the Bearer token in constant time (of its hash, so
// the length does not tell either).
func (g *registrar) authorized(r *http.Request) bool {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return false
	}
	scheme, tok, _ := strings.Cut(vals[0], " ")
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare(sum[:], g.token[:]) == 1
}

// readClientMetadata reads one JSON object of at most MaxRegistrationBody
// bytes, nothing after it. Members this server does not know are ignored
// (RFC 7591 §2); the known ones must have their types.
func readClientMetadata(w http.ResponseWriter, r *http.Request) (ClientMetadata, *Error) {
	var md ClientMetadata
	mt := strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0])
	if !strings.EqualFold(mt, "application/json") {
		return md, metadataError("send the client metadata as application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRegistrationBody))
	if err != nil {
		return md, metadataError("the request body is larger than %d bytes", MaxRegistrationBody)
	}
	if e := decodeStrict(body, &md); e != "" {
		return md, metadataError("%s", e)
	}
	return md, nil
}

// decodeStrict decodes one JSON object into v, refusing anything else
// (not an object, a wrong type, invalid UTF-8, trailing data); the reason
// is "" on success.
func decodeStrict(body []byte, v any) string {
	if !utf8.Valid(body) {
		return "the body is not UTF-8"
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return "the body must be a JSON object"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return "the member " + te.Field + " has the wrong type"
		}
		return "the body is not valid JSON"
	}
	if _, err := dec.Token(); err != io.EOF {
		return "the body has data after the JSON object"
	}
	return ""
}

// client checks a registration request against the configuration and makes
// the client record it asks for (nothing is stored yet).
func (g *registrar) client(md ClientMetadata) (tokenstore.Client, *Error) {
	rec := tokenstore.Client{Registered: true}
	switch md.TokenEndpointAuthMethod {
	case "":
		md.TokenEndpointAuthMethod = "client_secret_basic" // RFC 7591 §2
	case "none", "client_secret_basic", "client_secret_post":
	default:
		return rec, metadataError("token_endpoint_auth_method %q is not supported: use none, client_secret_basic or client_secret_post", truncate(md.TokenEndpointAuthMethod, 64))
	}
	rec.Public = md.TokenEndpointAuthMethod == "none"
	rec.TokenEndpointAuthMethod = md.TokenEndpointAuthMethod
	if e := checkMetadata(md, rec.Public, g.cfg, &rec); e != nil {
		return rec, e
	}
	if g.cfg.UnusedAfter > 0 {
		rec.UnusedUntil = g.s.cfg.Now().Add(g.cfg.UnusedAfter).UTC()
	}
	return rec, nil
}

// checkMetadata checks what a registration request and a metadata
// document share — grants, redirect URIs, scope, the self-asserted texts
// and URIs — against what registered clients may have, and sets them on rec.
func checkMetadata(md ClientMetadata, public bool, rc RegistrationConfig, rec *tokenstore.Client) *Error {
	grants, e := checkGrants(md, public, rc.Grants)
	if e != nil {
		return e
	}
	rec.Grants = grants
	if e := checkRegisteredURIs(md.RedirectURIs, slices.Contains(grants, GrantAuthorizationCode)); e != nil {
		return e
	}
	rec.RedirectURIs = md.RedirectURIs
	if md.Scope == "" {
		rec.Scopes = slices.Clone(rc.Scopes)
	} else {
		scopes, perr := ParseScope(md.Scope)
		if perr != nil {
			return metadataError("scope is malformed")
		}
		for _, s := range scopes {
			if !slices.Contains(rc.Scopes, s) {
				return metadataError("scope %q may not be registered; allowed: %s", truncate(s, 64), strings.Join(rc.Scopes, " "))
			}
		}
		rec.Scopes = scopes
	}
	for _, f := range []struct {
		name, v string
		dst     *string
	}{{"client_name", md.ClientName, &rec.Name}, {"software_id", md.SoftwareID, &rec.SoftwareID},
		{"software_version", md.SoftwareVersion, &rec.SoftwareVersion}} {
		if !plainText(f.v, 200) {
			return metadataError("%s must be at most 200 characters of text", f.name)
		}
		*f.dst = f.v
	}
	for _, f := range []struct {
		name, v string
		dst     *string
	}{{"client_uri", md.ClientURI, &rec.ClientURI}, {"logo_uri", md.LogoURI, &rec.LogoURI}} {
		if f.v != "" && !webURI(f.v) {
			return metadataError("%s must be an https URL", f.name)
		}
		*f.dst = f.v
	}
	return nil
}

// checkGrants checks grant_types and response_types (RFC 7591 §2.1: the
// two must agree) against the grants registered clients may have.
func checkGrants(md ClientMetadata, public bool, allowed []string) ([]string, *Error) {
	grants := md.GrantTypes
	if len(grants) == 0 {
		grants = []string{GrantAuthorizationCode}
	}
	for _, gt := range grants {
		if !slices.Contains(allowed, gt) {
			return nil, metadataError("grant type %q may not be registered here; allowed: %s", truncate(gt, 64), strings.Join(allowed, " "))
		}
	}
	if public && slices.Contains(grants, GrantClientCredentials) {
		return nil, metadataError("client_credentials needs a confidential client (token_endpoint_auth_method client_secret_basic or client_secret_post)")
	}
	if slices.Contains(grants, GrantRefreshToken) && !slices.Contains(grants, GrantAuthorizationCode) {
		return nil, metadataError("refresh_token needs authorization_code among the grant_types")
	}
	rts := md.ResponseTypes
	if len(rts) == 0 && slices.Contains(grants, GrantAuthorizationCode) {
		rts = []string{"code"}
	}
	for _, rt := range rts {
		if rt != "code" {
			return nil, metadataError("response type %q is not supported: use code", truncate(rt, 64))
		}
	}
	if slices.Contains(rts, "code") != slices.Contains(grants, GrantAuthorizationCode) {
		return nil, metadataError("response_types code and grant_types authorization_code go together (RFC 7591 §2.1)")
	}
	return slices.Compact(slices.Clone(grants)), nil
}

// checkRegisteredURIs: what a client that registers itself may use — https,
// http to a loopback host, or a reverse-domain private-use scheme; not the
// out-of-band URN, whose code page would hand the code to whoever asks.
func checkRegisteredURIs(uris []string, need bool) *Error {
	if need && len(uris) == 0 {
		return ErrInvalidRedirectURI.WithDescription("redirect_uris is required for the authorization_code grant")
	}
	if len(uris) > maxRegisteredURIs {
		return ErrInvalidRedirectURI.WithDescription(fmt.Sprintf("at most %d redirect URIs", maxRegisteredURIs))
	}
	for _, u := range uris {
		if u == OOBRedirect {
			return ErrInvalidRedirectURI.WithDescription("a registered client may not use " + OOBRedirect)
		}
		if err := ValidRedirectURI(u); err != nil {
			var e *Error
			if errors.As(err, &e) {
				return ErrInvalidRedirectURI.WithDescription(e.Description)
			}
			return ErrInvalidRedirectURI.WithDescription("a redirect URI is not valid")
		}
	}
	return nil
}

// plainText: at most n characters, none of them control characters.
func plainText(s string, n int) bool {
	if utf8.RuneCountInString(s) > n {
		return false
	}
	for _, r := range s {
		// Controls, and format characters and separators that change how
		// the rest reads (bidi overrides, zero-width characters): a
		// self-asserted name must show as what it is.
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return false
		}
	}
	return true
}

// addressBlock is what per-address limits count per: an IPv4 address,
// or the /64 of an IPv6 one (a single host commonly holds a whole /64).
func addressBlock(ip string) string { return prefixOf(ip, 64) }

// siteBlock is the IPv6 /48 of ip (a site's allocation, which a tunnel
// broker hands out for free), "" for IPv4.
func siteBlock(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Unmap().Is6() {
		return ""
	}
	p, _ := a.Prefix(48)
	return p.String()
}

// prefixOf is ip's IPv6 prefix of bits; an IPv4 address (also written
// IPv4-mapped) is itself.
func prefixOf(ip string, bits int) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); !a.Is6() {
		return a.String()
	}
	p, _ := a.Prefix(bits)
	return p.String()
}

// webURI: an absolute https URL with a host, no user information.
func webURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && len(s) <= maxRedirectURILen && u.Scheme == "https" && u.Host != "" && u.User == nil
}

// create stores the client, within max_clients, and makes the answer.
func (g *registrar) create(ctx context.Context, rec tokenstore.Client) (*registrationResponse, *Error) {
	id, err := newClientID(g.s.cfg.Rand)
	if err != nil {
		return nil, ErrServerError.WithDescription("could not make a client id")
	}
	rec.ID = id
	// The registry's own checks, before anything is counted or stored (a
	// confidential client's secret is generated by Create; any will do here).
	probe := rec
	if !probe.Public {
		probe.SecretHash = HashSecret(id).String()
	}
	if _, err := g.s.registry.check(probe); err != nil {
		return nil, metadataError("%s", strings.TrimPrefix(err.Error(), fmt.Sprintf("client %q: ", id)))
	}
	if e := g.reserve(ctx); e != nil {
		return nil, e
	}
	shown, secret, err := g.s.registry.Create(ctx, rec)
	if err != nil {
		g.release()
		if errors.Is(err, tokenstore.ErrFull) {
			return nil, errStoreFull
		}
		return nil, ErrTemporarilyUnavailable.WithDescription("the client store is unavailable")
	}
	resp := &registrationResponse{ClientID: shown.ID, ClientSecret: secret, ClientIDIssuedAt: shown.CreatedAt.Unix(),
		ClientMetadata: ClientMetadata{RedirectURIs: shown.RedirectURIs, ClientName: rec.Name,
			TokenEndpointAuthMethod: shown.TokenEndpointAuthMethod, GrantTypes: shown.Grants, Scope: strings.Join(shown.Scopes, " "),
			ClientURI: shown.ClientURI, LogoURI: shown.LogoURI, SoftwareID: shown.SoftwareID, SoftwareVersion: shown.SoftwareVersion}}
	if resp.ClientName == "" {
		resp.ClientName = shown.Name
	}
	if slices.Contains(shown.Grants, GrantAuthorizationCode) {
		resp.ResponseTypes = []string{"code"}
	}
	if secret != "" {
		never := int64(0)
		resp.ClientSecretExpiresAt = &never
	}
	return resp, nil
}

// reserve counts a registration against max_clients. The count is read from
// the store at most once a minute (which also removes the registered
// clients that expired unused); in between each instance adds its own, so
// instances sharing a store may together pass the bound by what the others
// registered within that minute.
func (g *registrar) reserve(ctx context.Context) *Error {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.s.cfg.Now()
	if g.countedAt.IsZero() || now.Sub(g.countedAt) >= recountEvery {
		n, err := g.s.registry.sweepRegistered(ctx, now)
		if err != nil {
			return ErrTemporarilyUnavailable.WithDescription("the client store is unavailable")
		}
		g.count, g.countedAt = n, now
	}
	if g.count >= g.cfg.MaxClients {
		return ErrTemporarilyUnavailable.WithDescription("this server has as many registered clients as it accepts")
	}
	g.count++
	return nil
}

func (g *registrar) release() {
	g.mu.Lock()
	g.count--
	g.mu.Unlock()
}

// sweepRegistered deletes the registered clients that expired unused and
// returns how many registered clients remain.
func (r *Registry) sweepRegistered(ctx context.Context, now time.Time) (int, error) {
	recs, err := r.Records.ListClients(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rec := range recs {
		switch {
		case !rec.Registered:
		case unusedExpired(rec, now):
			if err := r.Records.DeleteClient(ctx, rec.ID); err != nil && !errors.Is(err, tokenstore.ErrNotFound) {
				return 0, err
			}
			r.changed(ctx, rec.ID)
		default:
			n++
		}
	}
	return n, nil
}

// unusedExpired: a registered client never used whose time ran out.
func unusedExpired(rec tokenstore.Client, now time.Time) bool {
	return rec.Registered && !rec.UnusedUntil.IsZero() && !now.Before(rec.UnusedUntil)
}

// markUsed clears a registered client's UnusedUntil after its first token:
// the one store write a client's use costs; every later token sees it clear
// in the record the token endpoint read anyway.
func (r *Registry) markUsed(ctx context.Context, c *Client) {
	if !c.Registered || c.unused.IsZero() || c.DocumentHost != "" {
		return
	}
	rec, err := r.Records.GetClient(ctx, c.ID)
	if err != nil || rec.UnusedUntil.IsZero() {
		return
	}
	rec.UnusedUntil = time.Time{}
	_ = r.Records.UpdateClient(ctx, rec) // a failure leaves the next token to try again
}

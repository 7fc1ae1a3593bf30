// The OAuth Server: its Config, defaults, events, the endpoints it routes and the revocation feed it follows.

package authz

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// Endpoint paths served by Server.
const (
	PathAuthorize    = "/oauth/authorize"
	PathToken        = "/oauth/token"
	PathJWKS         = "/oauth/jwks"
	PathMetadata     = "/.well-known/oauth-authorization-server"
	PathOIDCMetadata = "/.well-known/openid-configuration"
)

// Defaults applied by NewServer to zero Config fields.
const (
	DefaultAccessTokenTTL  = 2 * time.Hour // seed 000
	DefaultRefreshTokenTTL = 720 * time.Hour
	DefaultCodeTTL         = 2 * time.Minute // seed 001
	DefaultSessionTTL      = 12 * time.Hour
	DefaultConsentTTL      = 90 * 24 * time.Hour
	DefaultSkew            = 30 * time.Second
)

// EventKind is what an Event reports.
type EventKind string

// The kinds of Event.
const (
	EventIssued           EventKind = "issued"             // an access token
	EventRefused          EventKind = "refused"            // a token or authorization request
	EventLoginFailed      EventKind = "login_failed"       // the built-in login form
	EventClientAuthFailed EventKind = "client_auth_failed" // a client's credentials refused
	EventCodeIssued       EventKind = "code_issued"        // an authorization code
	EventRevoked          EventKind = "revoked"            // one token, by its client or an operator
	EventFamilyRevoked    EventKind = "family_revoked"     // a reused code or refresh token
	EventRegistered       EventKind = "client_registered"  // a client registered itself (RFC 7591)
)

// RevokedKind is what a revocation ended.
type RevokedKind string

// The kinds of RevokedKind, as the revocation metric labels them.
const (
	RevokedAccessToken  RevokedKind = "access_token"
	RevokedRefreshToken RevokedKind = "refresh_token"
	RevokedFamily       RevokedKind = "family"
)

// Event is something the server did that operators want to see: a token
// issued or a request refused. It never carries a token, code or secret.
type Event struct {
	Kind      EventKind
	Grant     string
	ClientID  string
	Subject   string
	Scopes    []string
	Error     string // an RFC 6749 error code, for EventRefused
	Reason    string // words for logs, never parsed
	ExpiresIn time.Duration
	// Revoked says what EventRevoked and EventFamilyRevoked ended;
	// ByOperator that the admin API or CLI did it.
	Revoked    RevokedKind
	ByOperator bool
	// Address is the caller's address, for failed sign-ins and client
	// authentications.
	Address string
}

// Config is everything the OAuth core needs; caddymodule builds it.
type Config struct {
	Issuer string
	Format TokenFormat
	Keys   *KeySet
	Scopes *Catalog
	// Clients are the configured clients; the dynamic ones (admin API, CLI)
	// are kept in Store. Both are served by the server's Registry.
	Clients StaticClients
	Store   tokenstore.Store
	// AccessTokenTTL and RefreshTokenTTL apply to clients without their own.
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// CodeTTL is the authorization code lifetime (default 2 minutes).
	CodeTTL time.Duration
	// IDTokenTTL is the OpenID Connect ID token lifetime (default 5 minutes).
	IDTokenTTL time.Duration
	// SessionTTL is the built-in login's session lifetime; ConsentTTL how
	// long a granted consent is remembered.
	SessionTTL time.Duration
	ConsentTTL time.Duration
	// PKCEAllClients requires PKCE of confidential clients too (public
	// clients always need it); PKCEAllowPlain accepts the plain method.
	PKCEAllClients bool
	PKCEAllowPlain bool
	// ExtendedFields adds status, refresh_token_expires_in,
	// refresh_token_issued_at and refresh_count to token responses (seed 003).
	ExtendedFields bool
	// Users are the built-in login form's accounts.
	Users Users
	// SessionKey signs session cookies and CSRF tokens (≥ 32 bytes); shared
	// by instances so a login on one is valid on all.
	SessionKey []byte
	// DefaultAudience is the aud of tokens whose client sets none; empty means the issuer.
	DefaultAudience []string
	// Resources are the resources an RFC 8707 resource parameter may name;
	// a token requested for some has exactly those as its aud (CONFORMANCE G2).
	Resources *Resources
	Skew      time.Duration
	Now       func() time.Time
	Rand      io.Reader
	// LenientRevocation: see Verifier.LenientRevocation.
	LenientRevocation bool
	// VerifyCacheSize bounds the verified-token cache (0: the default,
	// DefaultVerifyCacheSize; negative: no cache). The cache answers once
	// FollowRevocations has the store's feed up.
	VerifyCacheSize int
	// ClientIP returns the caller's address for throttling (default: RemoteAddr's host).
	ClientIP func(*http.Request) string
	// ClientAuthLimit and IPAuthLimit are the failed client authentications
	// allowed per (client id, IP) and per IP within AuthWindow before that
	// pair or IP is refused for the rest of the window (defaults 20, 100,
	// 10 minutes). Past 2 × ClientAuthLimit failures from anywhere, a client id
	// is only delayed (1 s, 2 s, … at most 30 s), never locked.
	ClientAuthLimit, IPAuthLimit int
	AuthWindow                   time.Duration
	// Limits are the failure counters of this issuer (nil: new ones);
	// give a reloaded config the Limits of the config it replaces.
	Limits *Limits
	// Registration configures clients that register themselves (RFC 7591)
	// and Client ID Metadata Documents (CONFORMANCE G1, G4); off when zero.
	Registration RegistrationConfig
	// Observe, when set, is told of issuance and refusals.
	Observe func(Event)
}

// Server serves the OAuth endpoints and owns the token verifier.
type Server struct {
	cfg      Config
	registry *Registry
	minter   *Minter
	verifier *Verifier
	grants   map[string]grantHandler
	metadata []byte
	signer   signer
	keys     *keyHolder
	prefix   string // the issuer's path, see EndpointPath
	// register serves /oauth/register; nil when registration is off.
	register *registrar

	pairFailures, ipFailures, clientFailures *Throttle
	// knownClients: (client, address) pairs that authenticated lately,
	// which do not wait on clientFailures.
	knownClients knownSources
}

// remoteHost is the host part of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// grantHandler serves one grant type for an authenticated client that is allowed it.
type grantHandler func(ctx context.Context, r *http.Request, c *Client, p Params) (*TokenResponse, *Error)

// NewServer checks cfg, applies defaults and builds the server.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("issuer is required")
	}
	if cfg.Format == "" {
		cfg.Format = FormatJWT
	}
	if cfg.Format != FormatJWT && cfg.Format != FormatOpaque {
		return nil, fmt.Errorf("token_format %q: use jwt or opaque", cfg.Format)
	}
	if cfg.Keys == nil || cfg.Store == nil || cfg.Scopes == nil {
		return nil, errors.New("keys, store and scopes are required")
	}
	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = DefaultAccessTokenTTL
	}
	setDefault(&cfg.RefreshTokenTTL, DefaultRefreshTokenTTL)
	setDefault(&cfg.CodeTTL, DefaultCodeTTL)
	setDefault(&cfg.IDTokenTTL, DefaultIDTokenTTL)
	setDefault(&cfg.SessionTTL, DefaultSessionTTL)
	setDefault(&cfg.ConsentTTL, DefaultConsentTTL)
	if len(cfg.SessionKey) == 0 {
		cfg.SessionKey = make([]byte, 32)
		if _, err := io.ReadFull(rand.Reader, cfg.SessionKey); err != nil {
			return nil, err
		}
	}
	if len(cfg.SessionKey) < 32 {
		return nil, errors.New("the session key must have at least 32 bytes")
	}
	if cfg.Users == nil {
		cfg.Users = &StaticUsers{}
	}
	if cfg.Skew == 0 {
		cfg.Skew = DefaultSkew
	}
	if len(cfg.DefaultAudience) == 0 {
		cfg.DefaultAudience = []string{cfg.Issuer}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Observe == nil {
		cfg.Observe = func(Event) {}
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = remoteHost
	}
	if cfg.ClientAuthLimit <= 0 {
		cfg.ClientAuthLimit = 20
	}
	if cfg.IPAuthLimit <= 0 {
		cfg.IPAuthLimit = 100
	}
	setDefault(&cfg.AuthWindow, 10*time.Minute)
	if cfg.Limits == nil {
		cfg.Limits = NewLimits()
	}
	keys := &keyHolder{}
	keys.Store(cfg.Keys)
	s := &Server{
		cfg:    cfg,
		keys:   keys,
		prefix: issuerPath(cfg.Issuer),
		minter: &Minter{Issuer: cfg.Issuer, Format: cfg.Format, Keys: keys, Store: cfg.Store, Rand: cfg.Rand},
	}
	s.registry = &Registry{Static: cfg.Clients, Records: cfg.Store, Catalog: cfg.Scopes, Rand: cfg.Rand, Now: cfg.Now,
		OnChange: s.clientChanged}
	if err := cfg.Registration.Check(cfg.Scopes); err != nil {
		return nil, err
	}
	rc := cfg.Registration.withDefaults(cfg.Scopes)
	if rc.Enabled() {
		s.register = newRegistrar(s, rc)
	}
	if rc.MetadataDocuments {
		s.registry.Documents = NewMetadataDocuments(rc, cfg.Now)
	}
	s.verifier = &Verifier{Issuer: cfg.Issuer, Keys: keys, Store: cfg.Store, Clients: s.registry,
		DocumentClients: s.registry.Documents != nil, Skew: cfg.Skew, Now: cfg.Now, LenientRevocation: cfg.LenientRevocation}
	s.grants = map[string]grantHandler{
		GrantClientCredentials: s.clientCredentials,
		GrantAuthorizationCode: s.authorizationCode,
		GrantRefreshToken:      s.refreshToken,
	}
	s.signer = signer{key: cfg.SessionKey}
	if cfg.VerifyCacheSize == 0 {
		cfg.VerifyCacheSize = DefaultVerifyCacheSize
	}
	if cfg.VerifyCacheSize > 0 {
		s.verifier.cache = newVerifyCache(cfg.VerifyCacheSize)
	}
	// Clients authenticate in parallel: their attempts under way count
	// only after a failure. The client id alone (anyone can name it) does
	// not hold up the addresses it authenticated from lately (knownClients).
	l := cfg.Limits
	s.pairFailures = l.throttle("client-address", cfg.ClientAuthLimit, cfg.AuthWindow, 0, RunningAfterFailure, cfg.Now)
	s.clientFailures = l.throttle("client", 2*cfg.ClientAuthLimit, cfg.AuthWindow, maxAccountDelay, RunningAfterFailure, cfg.Now)
	s.knownClients = l.knownSources("clients")
	s.ipFailures = l.throttle("client-auth-address", cfg.IPAuthLimit, cfg.AuthWindow, 0, RunningAfterFailure, cfg.Now)
	md, err := json.Marshal(s.Metadata())
	if err != nil {
		return nil, err
	}
	s.metadata = md
	return s, nil
}

// clientChanged drops a changed client from this verifier's cache and, when
// the store shares revocations with other instances, announces it on the
// feed (a short-lived entry: it only needs to outlive the caches).
func (s *Server) clientChanged(ctx context.Context, id string) {
	s.verifier.NoteRevoked(ClientChanged(id))
	if s.cfg.Store != nil {
		_ = s.cfg.Store.Revoke(ctx, ClientChanged(id), s.cfg.Now().Add(clientCacheTTL))
	}
}

// KeyRetention is how long a key retired now must keep verifying: the
// longest access-token lifetime any client has — configured or dynamic —
// plus the clock skew.
func (s *Server) KeyRetention(ctx context.Context) (time.Duration, error) {
	longest := s.cfg.AccessTokenTTL
	for _, c := range s.registry.Static {
		longest = max(longest, c.AccessTokenTTL)
	}
	recs, err := s.registry.Records.ListClients(ctx)
	if err != nil {
		return 0, err
	}
	for _, r := range recs {
		longest = max(longest, time.Duration(r.AccessTokenTTL))
	}
	return longest + s.cfg.Skew, nil
}

// FollowRevocations keeps the verified-token cache in step with the
// revocations made through every instance sharing the store, until ctx is
// done (tokenstore.RevocationFeed); until the feed is up the cache does not
// answer. Without a cache there is nothing to follow.
func (s *Server) FollowRevocations(ctx context.Context) {
	if s.verifier.cache != nil {
		s.cfg.Store.FollowRevocations(ctx, s.verifier)
	}
}

// Verifier returns the server's token verifier, for the bearer handler.
func (s *Server) Verifier() *Verifier { return s.verifier }

// Issuer returns the configured issuer, byte for byte.
func (s *Server) Issuer() string { return s.cfg.Issuer }

// Handler returns the endpoint for path, or nil when path is not one of ours.
func (s *Server) Handler(path string) http.Handler {
	switch path {
	case PathToken:
		return http.HandlerFunc(s.serveToken)
	case PathRevoke:
		return http.HandlerFunc(s.serveRevoke)
	case PathIntrospect:
		return http.HandlerFunc(s.serveIntrospect)
	case PathJWKS:
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			getOnly(s.keys.Load().JWKS(), "application/jwk-set+json").ServeHTTP(w, r)
		})
	case PathMetadata, PathOIDCMetadata:
		return getOnly(s.metadata, "application/json")
	case PathUserInfo:
		return http.HandlerFunc(s.serveUserInfo)
	case PathRegister:
		if s.register != nil {
			return s.register
		}
	}
	return nil
}

// getOnly serves a fixed public document.
func getOnly(doc []byte, contentType string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, ErrInvalidRequest.WithDescription("use GET"))
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(doc)
	})
}

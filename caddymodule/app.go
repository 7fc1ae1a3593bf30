// Package caddymodule is the only package of oauthgate that imports Caddy: it
// turns configuration into an authz.Server and serves it through Caddy's
// HTTP handlers, store modules and Caddyfile directives.
package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"go.uber.org/zap"

	"github.com/oauthgate/caddy-oauthgate/authz"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the `oauthgate` app: the authorization server's issuer, keys,
// scopes, clients and token store. Every oauthgate handler reaches it with
// ctx.App("oauthgate"); there is one per config.
type App struct {
	// Issuer identifies this authorization server, byte for byte, in the
	// metadata, the iss claim and the iss authorization response parameter.
	// Required, except in a pure gateway that only accepts tokens of
	// trusted issuers (Trust); e.g. "https://api.example.com".
	Issuer string `json:"issuer,omitempty"`

	// Trust lists other authorization servers whose access tokens
	// oauthgate_protect accepts (trust.go).
	Trust []TrustConfig `json:"trust,omitempty"`

	// StoreRaw keeps codes, opaque tokens and revocations. Default: memory.
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=oauthgate.stores inline_key=module"`

	// TokenFormat of access tokens: "jwt" (default, RFC 9068) or "opaque".
	TokenFormat string `json:"token_format,omitempty"`

	// SigningKeys sign and verify JWTs: the first signs, the rest only
	// verify. When empty, an ES256 key is generated once and kept in Caddy's
	// storage, so every instance sharing that storage uses the same key.
	SigningKeys []SigningKeyConfig `json:"signing_keys,omitempty"`

	// AccessTokenTTL is the default access-token lifetime (default 2h).
	AccessTokenTTL caddy.Duration `json:"access_token_ttl,omitempty"`

	// RefreshTokenTTL is the default refresh-token lifetime (default 720h).
	RefreshTokenTTL caddy.Duration `json:"refresh_token_ttl,omitempty"`

	// CodeTTL is the authorization-code lifetime (default 2m).
	CodeTTL caddy.Duration `json:"code_ttl,omitempty"`

	// SessionTTL is how long a sign-in on the built-in login form lasts (default 12h).
	SessionTTL caddy.Duration `json:"session_ttl,omitempty"`

	// ResponseFields of token responses: "standard" (default) or "extended"
	// (adds status, refresh_token_expires_in, refresh_token_issued_at,
	// refresh_count as Apigee-style clients expect).
	ResponseFields string `json:"response_fields,omitempty"`

	// PKCE says who must use PKCE: "public_clients" (default) or "all_clients".
	PKCE string `json:"pkce,omitempty"`

	// PKCEAllowPlain accepts code_challenge_method=plain (off: S256 only).
	PKCEAllowPlain bool `json:"pkce_allow_plain,omitempty"`

	// Users are the built-in login form's accounts: user name → bcrypt hash
	// (as `caddy hash-password` makes).
	Users map[string]string `json:"users,omitempty"`

	// UserClaims are the OpenID Connect claims of the users' accounts, by
	// user name (the users block's nested lines).
	UserClaims map[string]UserClaimsConfig `json:"user_claims,omitempty"`

	// IDTokenTTL is the OpenID Connect ID token lifetime (default 5m).
	IDTokenTTL caddy.Duration `json:"id_token_ttl,omitempty"`

	// VerifyCache bounds the cache of verified access tokens (default
	// 100000; 0 turns it off). A revocation made on this instance, or
	// published by another through a shared store, removes the tokens it
	// denies at once; with a shared store the cache answers only while this
	// instance is subscribed to its revocations.
	VerifyCache *int `json:"verify_cache,omitempty"`

	// KeyRefresh is how often generated signing keys are re-read from Caddy's
	// storage, so a rotation on one instance reaches all (default 1m).
	KeyRefresh caddy.Duration `json:"key_refresh,omitempty"`

	// ClockSkew is how far token times may be off (default 30s).
	ClockSkew caddy.Duration `json:"clock_skew,omitempty"`

	// RevocationCheck decides what JWT checks do when the store cannot be
	// reached for the jti deny-list: "strict" (default) answers 503,
	// "lenient" accepts signature-valid, unexpired tokens. Opaque tokens
	// always need the store.
	RevocationCheck string `json:"revocation_check,omitempty"`

	// Audience is the aud of tokens whose client sets none (default: the issuer).
	Audience []string `json:"audience,omitempty"`

	// Resources are RFC 8707 resources that a token may be requested for,
	// besides the `resource` of every oauthgate_protect (absolute URIs
	// without a fragment). A token requested for some carries exactly
	// those as its aud and passes only the routes that protect them.
	Resources []string `json:"resources,omitempty"`

	// Scopes is the scope catalog.
	Scopes []ScopeConfig `json:"scopes,omitempty"`

	// Clients are the statically configured OAuth clients, each the one
	// client object (tokenstore.Client) that the admin API and the CLI
	// also read and write.
	Clients []tokenstore.Client `json:"clients,omitempty"`

	// Registration lets clients register themselves (RFC 7591) and names
	// clients by metadata document URLs; off by default.
	Registration *RegistrationConfig `json:"registration,omitempty"`

	server  *authz.Server
	store   tokenstore.Store
	users   int
	oidc    *atomic.Bool // a client may be granted openid: the ring holds an RS256 key (keys_oidc.go)
	storage keyStorage
	ctx     caddy.Context
	metrics *metrics
	events  *caddyevents.App
	format  authz.TokenFormat
	logger  *zap.Logger
	// warned holds the start-time warnings already given in this config
	// (firstWarning), so each is given once.
	warned map[string]bool

	reread *rereadState // rereadKeys; set in Provision

	trust        *authz.Trust
	trustHeaders []string
	trustMetrics *trustMetrics
	gateway      *authz.Verifier // the verifier of a config without an issuer
	resources    *resources
	bound        *authz.Resources // RFC 8707: every resource a token may be for
	limitsKey    string           // this config's reference in limitsPool; "" when none
	proxyWarned  *atomic.Bool     // clientIP's warning about trusted_proxies_strict was given
}

// limitsPool keeps each issuer's failure counters (authz.Limits) across
// config reloads: the new config is provisioned before the old one is
// cleaned up, so the reference count never drops to zero and a reload
// clears no lock; every site block serving the issuer shares them.
var limitsPool = caddy.NewUsagePool()

type pooledLimits struct{ *authz.Limits }

func (pooledLimits) Destruct() error { return nil }

// limits takes this config's issuer's counters from limitsPool.
func (a *App) limits() (*authz.Limits, error) {
	key := "oauthgate.limits:" + a.Issuer
	v, _, err := limitsPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		return pooledLimits{authz.NewLimits()}, nil
	})
	if err != nil {
		return nil, err
	}
	a.limitsKey = key
	return v.(pooledLimits).Limits, nil
}

type rereadState struct {
	sync.Mutex
	at time.Time
}

// SigningKeyConfig names a PEM private key file and its algorithm.
type SigningKeyConfig struct {
	// Algorithm: ES256 (default), EdDSA, RS256 or PS256.
	Algorithm string `json:"algorithm,omitempty"`
	// File is the path of a PEM private key (PKCS#8, SEC 1 or PKCS#1).
	File string `json:"file,omitempty"`
}

// ScopeConfig is one catalog entry.
type ScopeConfig struct {
	// Name as requested on the wire, e.g. "api_v3".
	Name string `json:"name,omitempty"`
	// Description shown to users on the consent page.
	Description string `json:"description,omitempty"`
	// Default scopes are granted when a request names none.
	Default bool `json:"default,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "oauthgate",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision builds the OAuth core from the configuration.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.proxyWarned = new(atomic.Bool)
	a.ctx = ctx
	a.reread = &rereadState{}
	a.storage = ctx.Storage()
	a.bound = authz.NewResources()
	for _, r := range a.Resources {
		if msg := authz.CheckResourceURI(r); msg != "" {
			return fmt.Errorf("resources: %s (RFC 8707 §2)", msg)
		}
		a.bound.Add(r)
	}
	if a.Issuer == "" && len(a.Trust) > 0 {
		return a.provisionGateway(ctx)
	}
	if err := a.checkIssuer(); err != nil {
		return err
	}
	format, err := tokenFormat(a.TokenFormat)
	if err != nil {
		return err
	}
	a.format = format
	lenient, err := revocationCheck(a.RevocationCheck)
	if err != nil {
		return err
	}
	cat, clients, err := a.catalogAndClients()
	if err != nil {
		return err
	}
	extended, err := responseFields(a.ResponseFields)
	if err != nil {
		return err
	}
	pkceAll, err := pkcePolicy(a.PKCE)
	if err != nil {
		return err
	}
	users, err := a.staticUsers()
	if err != nil {
		return err
	}
	a.users = users.Len()
	sessionKey, err := loadOrCreate(ctx, ctx.Storage(), sessionKeyPath, newSessionKey)
	if err != nil {
		return fmt.Errorf("the session key in Caddy's storage is unusable: %v", err)
	}
	a.oidc = new(atomic.Bool)
	// Clients that register themselves may be allowed openid too.
	a.oidc.Store(oidcInUse(clients) || a.Registration != nil && slices.Contains(a.Registration.Scopes, authz.ScopeOpenID))
	keys, err := a.loadKeys(ctx)
	if err != nil {
		return err
	}
	if keys, err = a.withRSAKey(ctx, keys); err != nil {
		return err
	}
	if a.StoreRaw == nil {
		a.StoreRaw = json.RawMessage(`{"module":"memory"}`)
	}
	mod, err := ctx.LoadModule(a, "StoreRaw")
	if err != nil {
		return fmt.Errorf("store: %v", err)
	}
	if a.metrics, err = newMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("metrics: %v", err)
	}
	if dl, ok := a.store.(interface{ DataLosses() uint64 }); ok {
		if err := registerDataLosses(ctx.GetMetricsRegistry(), dl.DataLosses); err != nil {
			return fmt.Errorf("metrics: %v", err)
		}
	}
	// Only the measured store is kept: every operation, from any part of
	// the app, is timed and counted.
	a.store = measuredStore{s: mod.(StoreModule).TokenStore(), m: a.metrics, log: a.logger, full: &fullNotice{logger: a.logger, now: time.Now}}
	if ev, err := ctx.App("events"); err == nil {
		a.events = ev.(*caddyevents.App)
	}
	registration, err := a.Registration.config(caddy.NewReplacer())
	if err != nil {
		return err
	}
	limits, err := a.limits()
	if err != nil {
		return err
	}
	a.server, err = authz.NewServer(authz.Config{
		Issuer:            a.Issuer,
		Limits:            limits,
		Format:            format,
		Keys:              keys,
		Scopes:            cat,
		Clients:           clients,
		Store:             a.store,
		AccessTokenTTL:    time.Duration(a.AccessTokenTTL),
		RefreshTokenTTL:   time.Duration(a.RefreshTokenTTL),
		CodeTTL:           time.Duration(a.CodeTTL),
		IDTokenTTL:        time.Duration(a.IDTokenTTL),
		SessionTTL:        time.Duration(a.SessionTTL),
		PKCEAllClients:    pkceAll,
		PKCEAllowPlain:    a.PKCEAllowPlain,
		ExtendedFields:    extended,
		Users:             users,
		SessionKey:        sessionKey,
		DefaultAudience:   a.Audience,
		Resources:         a.bound,
		Skew:              time.Duration(a.ClockSkew),
		LenientRevocation: lenient,
		Observe:           a.observe,
		ClientIP:          a.clientIP,
		VerifyCacheSize:   a.cacheSize(),
		Registration:      registration,
	})
	if err != nil {
		return err
	}
	if err := a.checkIDTokenKeys(clients); err != nil {
		return err
	}
	a.dynamicOIDC(ctx)
	shadowed, err := a.server.Registry().Shadowed(ctx)
	if len(shadowed) > 0 {
		return fmt.Errorf("client %q is configured here and also exists as a dynamic client (created through the admin API or the CLI); "+
			"the configured one would hide it, so its secret would stop working and its record could no longer be deleted: "+
			"rename the configured client, or first delete the dynamic one (`caddy oauthgate client delete %s`)", shadowed[0], shadowed[0])
	}
	if err != nil {
		a.logger.Warn("could not check the configured client ids against the dynamic clients in the store", zap.Error(err))
	}
	return a.provisionTrust(ctx)
}

func (a *App) checkIssuer() error {
	if a.Issuer == "" {
		return errors.New("issuer is required: add `issuer https://your.host` to the oauthgate global option (or only `trust` blocks for a pure gateway)")
	}
	u, err := url.Parse(a.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("issuer %q must be an absolute http(s) URL without query or fragment (RFC 8414 §2)", a.Issuer)
	}
	if strings.HasSuffix(u.Path, "/") {
		a.logger.Warn("the issuer ends with a slash: clients compare it byte for byte with the metadata, the iss claim and "+
			"the iss parameter (RFC 8414 §3.3, RFC 9207), and most are configured without one; write it without the trailing slash "+
			"unless your clients were given it so", zap.String("issuer", a.Issuer))
	}
	return nil
}

func tokenFormat(s string) (authz.TokenFormat, error) {
	switch authz.TokenFormat(s) {
	case "", authz.FormatJWT:
		return authz.FormatJWT, nil
	case authz.FormatOpaque:
		return authz.FormatOpaque, nil
	}
	return "", fmt.Errorf("token_format %q is not known: use `token_format jwt` or `token_format opaque`", s)
}

// choice reads a two-valued option: "" or off gives false, on gives true.
func choice(option, value, off, on string) (bool, error) {
	switch value {
	case "", off:
		return false, nil
	case on:
		return true, nil
	}
	return false, fmt.Errorf("%s %q is not known: use `%s %s` or `%s %s`", option, value, option, off, option, on)
}

func responseFields(s string) (extended bool, err error) {
	return choice("response_fields", s, "standard", "extended")
}

func pkcePolicy(s string) (all bool, err error) {
	return choice("pkce", s, "public_clients", "all_clients")
}

func revocationCheck(s string) (lenient bool, err error) {
	return choice("revocation_check", s, "strict", "lenient")
}

func (a *App) catalogAndClients() (*authz.Catalog, authz.StaticClients, error) {
	scopes := make([]authz.Scope, len(a.Scopes))
	for i, s := range a.Scopes {
		scopes[i] = authz.Scope{Name: s.Name, Description: s.Description, Default: s.Default}
	}
	cat, err := authz.NewCatalog(scopes)
	if err != nil {
		return nil, nil, fmt.Errorf("scope: %v", err)
	}
	repl := caddy.NewReplacer()
	clients := make(authz.StaticClients, len(a.Clients))
	for i := range a.Clients {
		c, err := buildClient(a.Clients[i], repl)
		if err != nil {
			return nil, nil, err
		}
		if err := c.Validate(cat); err != nil {
			return nil, nil, err
		}
		if _, dup := clients[c.ID]; dup {
			return nil, nil, fmt.Errorf("client %q is defined twice", c.ID)
		}
		clients[c.ID] = c
	}
	return cat, clients, nil
}

// hasScope reports whether the catalog declares scope s.
func (a *App) hasScope(s string) bool {
	return slices.ContainsFunc(a.Scopes, func(sc ScopeConfig) bool { return sc.Name == s })
}

// clientsWithAudience lists the configured clients that are given an
// audience of their own.
func (a *App) clientsWithAudience() []string {
	var ids []string
	for _, c := range a.Clients {
		if len(c.Audience) > 0 {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// observe turns what the OAuth core reports into logs, metrics and Caddy
// events (CONFORMANCE O1, O2): identities and reasons, never a token, code
// or secret.
func (a *App) observe(ev authz.Event) {
	fields := []zap.Field{zap.String("client_id", ev.ClientID)}
	if ev.Subject != "" {
		fields = append(fields, zap.String("subject", ev.Subject))
	}
	data := map[string]any{"client_id": ev.ClientID, "subject": ev.Subject}
	switch ev.Kind {
	case authz.EventIssued:
		a.metrics.issued.WithLabelValues(ev.Grant, string(a.format)).Inc()
		a.logger.Debug("token issued", append(fields, zap.String("grant", ev.Grant),
			zap.String("scope", strings.Join(ev.Scopes, " ")), zap.Duration("expires_in", ev.ExpiresIn))...)
		data["grant"], data["scope"] = ev.Grant, strings.Join(ev.Scopes, " ")
		a.emit("token_issued", data)
	case authz.EventRefused, authz.EventClientAuthFailed:
		a.metrics.refused.WithLabelValues(ev.Error).Inc()
		msg := "token request refused"
		if ev.Kind == authz.EventClientAuthFailed {
			// The id is the one presented, not authenticated: whoever guesses
			// secrets for a client shows up under its id, with their address.
			msg = "client authentication failed"
			fields = append(fields, zap.String("remote_ip", ev.Address))
			data["remote_ip"] = ev.Address
		}
		a.logger.Debug(msg, append(fields, zap.String("grant", ev.Grant),
			zap.String("error", ev.Error), zap.String("reason", ev.Reason))...)
		data["error"], data["reason"] = ev.Error, ev.Reason
		a.emit("token_refused", data)
	case authz.EventLoginFailed:
		a.metrics.refused.WithLabelValues("login_failed").Inc()
		a.logger.Debug("sign-in failed", append(fields, zap.String("remote_ip", ev.Address), zap.String("reason", ev.Reason))...)
		data["error"], data["reason"], data["remote_ip"] = "login_failed", ev.Reason, ev.Address
		a.emit("login_failed", data)
	case authz.EventRevoked, authz.EventFamilyRevoked:
		kind := string(ev.Revoked)
		a.metrics.revocations.WithLabelValues(kind).Inc()
		log := a.logger.Info
		if ev.Kind == authz.EventFamilyRevoked {
			log = a.logger.Warn // reuse of a code or refresh token: possibly a stolen credential
		}
		log("token revoked", append(fields, zap.String("kind", kind), zap.String("reason", ev.Reason))...)
		data["kind"], data["reason"] = kind, ev.Reason
		a.emit("token_revoked", data)
	case authz.EventCodeIssued:
		a.logger.Debug("authorization code issued", fields...)
	case authz.EventRegistered:
		a.logger.Debug("client registered", append(fields, zap.String("remote_ip", ev.Address),
			zap.String("scope", strings.Join(ev.Scopes, " ")))...)
		data["remote_ip"], data["scope"] = ev.Address, strings.Join(ev.Scopes, " ")
		a.emit("client_registered", data)
	}
}

// followRevocations keeps the verified-token cache in step with revocations
// made on other instances (CONFORMANCE S6): each one removes the tokens it
// denies as it is published, and while the feed is down the cache does
// not answer (see tokenstore.RevocationFeed).
func (a *App) followRevocations() {
	a.server.FollowRevocations(a.ctx)
}

// cacheSize is the verified-token cache's bound for authz.Config (0: the
// default; -1: off).
func (a *App) cacheSize() int {
	switch {
	case a.VerifyCache == nil:
		return authz.DefaultVerifyCacheSize
	case *a.VerifyCache <= 0:
		return -1
	}
	return *a.VerifyCache
}

// emit sends a Caddy event (oauthgate.<name>) so other modules can react.
func (a *App) emit(name string, data map[string]any) {
	if a.events != nil {
		a.events.Emit(a.ctx, "oauthgate."+name, data)
	}
}

// Start implements caddy.App: with generated keys, it keeps them in step
// with storage until the config is unloaded.
func (a *App) Start() error {
	a.startTrust()
	if a.server == nil {
		return nil // a pure gateway: no keys or revocations of its own
	}
	a.followRevocations()
	if len(a.SigningKeys) > 0 {
		return nil
	}
	every := time.Duration(a.KeyRefresh)
	if every <= 0 {
		every = DefaultKeyRefresh
	}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-a.ctx.Done():
				return
			case <-t.C:
				a.refreshKeys(a.ctx)
			}
		}
	}()
	return nil
}

// Stop implements caddy.App.
func (a *App) Stop() error { return nil }

// Cleanup implements caddy.CleanerUpper: the config is unloaded (or failed
// to load), so its connections to trusted issuers are closed now, and its
// reference to the issuer's failure counters is given back.
func (a *App) Cleanup() error {
	a.trust.Close()
	if key := a.limitsKey; key != "" {
		a.limitsKey = "" // once: a second Cleanup must not release the next config's reference
		_, err := limitsPool.Delete(key)
		return err
	}
	return nil
}

// hasAuthCodeClients reports whether a static client uses the browser flow.
func (a *App) hasAuthCodeClients() bool {
	for _, c := range a.Clients {
		if slices.Contains(c.Grants, authz.GrantAuthorizationCode) {
			return true
		}
	}
	return false
}

// Server returns the provisioned OAuth core.
func (a *App) Server() *authz.Server { return a.server }

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)

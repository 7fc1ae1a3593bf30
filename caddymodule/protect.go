package caddymodule

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

func init() {
	caddy.RegisterModule(Protect{})
}

// Protect is the `oauthgate_protect` handler: it admits only requests that
// carry a valid access token with the required scopes and audience, tells
// the upstream who the caller is in headers, and refuses the rest with
// RFC 6750 errors.
type Protect struct {
	// Scopes the token must carry: all of them, or one when Any is set.
	Scopes []string `json:"scopes,omitempty"`
	// Any makes Scopes any-of instead of all-of.
	Any bool `json:"any,omitempty"`
	// Audience: the token's aud must contain one of these (seed 002: front-
	// end and back-end tokens are not interchangeable).
	Audience []string `json:"audience,omitempty"`
	// TokenHeader is an extra header carrying the raw token, e.g. "sessionID" (seed 001).
	TokenHeader string `json:"token_header,omitempty"`
	// AllowQueryToken accepts the access_token query parameter (RFC 6750 §2.3).
	// Off by default: URLs end up in logs.
	AllowQueryToken bool `json:"allow_query_token,omitempty"`
	// PassAuthorization keeps the token headers for the upstream; by default
	// they are removed.
	PassAuthorization bool `json:"pass_authorization,omitempty"`
	// HeaderPrefix of the identity headers (default "X-OAuth-"). Every
	// incoming header with this prefix is removed before they are set.
	HeaderPrefix string `json:"header_prefix,omitempty"`
	// Realm of the WWW-Authenticate challenge (default: the issuer).
	Realm string `json:"realm,omitempty"`

	verifier *authz.Verifier
	policy   authz.Policy
	source   authz.BearerSource
	hSubject string
	hClient  string
	hScope   string
	hAud     string
}

// CaddyModule returns the Caddy module information.
func (Protect) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.oauthgate_protect",
		New: func() caddy.Module { return new(Protect) },
	}
}

// DefaultHeaderPrefix prefixes the identity headers sent upstream.
const DefaultHeaderPrefix = "X-OAuth-"

// Provision reaches the app and fixes defaults.
func (p *Protect) Provision(ctx caddy.Context) error {
	app, err := oauthgateApp(ctx)
	if err != nil {
		return err
	}
	p.verifier = app.Server().Verifier()
	if p.HeaderPrefix == "" {
		p.HeaderPrefix = DefaultHeaderPrefix
	}
	if p.Realm == "" {
		p.Realm = app.Server().Issuer()
	}
	p.HeaderPrefix = http.CanonicalHeaderKey(p.HeaderPrefix)
	p.hSubject = http.CanonicalHeaderKey(p.HeaderPrefix + "Subject")
	p.hClient = http.CanonicalHeaderKey(p.HeaderPrefix + "Client-Id")
	p.hScope = http.CanonicalHeaderKey(p.HeaderPrefix + "Scope")
	p.hAud = http.CanonicalHeaderKey(p.HeaderPrefix + "Audience")
	p.policy = authz.Policy{Scopes: p.Scopes, Any: p.Any, Audience: p.Audience}
	p.source = authz.BearerSource{Header: p.TokenHeader, Query: p.AllowQueryToken}
	return nil
}

// Validate checks the handler's own settings.
func (p *Protect) Validate() error {
	for _, s := range p.Scopes {
		if err := authz.ValidScopeName(s); err != nil {
			return errors.New("oauthgate_protect: " + err.Error())
		}
	}
	if p.Any && len(p.Scopes) < 2 {
		return errors.New("oauthgate_protect: `any` needs at least two scopes to choose from")
	}
	if strings.EqualFold(p.TokenHeader, "Authorization") {
		return errors.New("oauthgate_protect: token_header Authorization is always read; name another header such as sessionID")
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler (CONFORMANCE R1–R5, R7).
func (p *Protect) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// A request verified by an earlier oauthgate_protect (e.g. a general one
	// followed by `oauthgate_protect @writes api_write`) has lost its token
	// already; its identity is checked against this handler's policy.
	if id, ok := caddyhttp.GetVar(r.Context(), identityVar).(*authz.Identity); ok {
		if perr := p.policy.Check(id); perr != nil {
			return p.refuse(w, perr.Status, perr, perr)
		}
		p.forward(r, id)
		return next.ServeHTTP(w, r)
	}
	tok, err := p.source.Extract(r)
	if err != nil {
		if errors.Is(err, authz.ErrNoToken) {
			return p.refuse(w, http.StatusUnauthorized, nil, err)
		}
		e := err.(*authz.Error)
		return p.refuse(w, e.Status, e, e)
	}
	id, verr := p.verifier.Verify(r.Context(), tok)
	if verr == nil {
		verr = p.policy.Check(id)
	}
	if verr != nil {
		if verr.Is(authz.ErrTemporarilyUnavailable) {
			return caddyhttp.Error(http.StatusServiceUnavailable, verr)
		}
		return p.refuse(w, verr.Status, verr, verr)
	}
	caddyhttp.SetVar(r.Context(), identityVar, id)
	p.forward(r, id)
	return next.ServeHTTP(w, r)
}

// identityVar holds the verified identity in the request's variables; a
// client cannot set it.
const identityVar = "oauthgate.identity"

// refuse sets the RFC 6750 challenge and hands the status to Caddy's error
// handling, so `handle_errors` can shape the body.
func (p *Protect) refuse(w http.ResponseWriter, status int, e *authz.Error, cause error) error {
	w.Header().Set("WWW-Authenticate", authz.Challenge(p.Realm, e, p.Scopes))
	return caddyhttp.Error(status, cause)
}

// forward rewrites the request for the upstream: forged identity headers go,
// the token goes unless passed through, the identity is set.
func (p *Protect) forward(r *http.Request, id *authz.Identity) {
	for name := range r.Header {
		if strings.HasPrefix(name, p.HeaderPrefix) {
			delete(r.Header, name)
		}
	}
	if !p.PassAuthorization {
		r.Header.Del("Authorization")
		if p.TokenHeader != "" {
			r.Header.Del(p.TokenHeader)
		}
	}
	if p.AllowQueryToken {
		if q := r.URL.Query(); q.Has("access_token") {
			q.Del("access_token")
			r.URL.RawQuery = q.Encode()
		}
	}
	scope := authz.JoinScopes(id.Scopes)
	r.Header.Set(p.hSubject, id.Subject)
	r.Header.Set(p.hClient, id.ClientID)
	r.Header.Set(p.hScope, scope)
	r.Header.Set(p.hAud, strings.Join(id.Audience, " "))

	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Set("http.auth.user.id", id.Subject)
	repl.Set("oauth.subject", id.Subject)
	repl.Set("oauth.client_id", id.ClientID)
	repl.Set("oauth.scope", scope)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Protect)(nil)
	_ caddy.Validator             = (*Protect)(nil)
	_ caddyhttp.MiddlewareHandler = (*Protect)(nil)
)

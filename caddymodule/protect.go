// The oauthgate_protect handler (RFC 6750): token checks against a route's policy, identity headers upstream.

package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

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
	// CORS answers preflights before any token check and sets CORS headers
	// on every answer, 401 and 403 included. Off when absent.
	CORS *CORS `json:"cors,omitempty"`
	// ReportOnly decides as usual but lets every request through, telling
	// the upstream the decision in X-OAuth-Decision, and logs and counts
	// what would have been refused: enforcement can be turned on for an
	// existing API without breaking its clients.
	ReportOnly bool `json:"report_only,omitempty"`
	// Issuers whose tokens pass: trusted issuers' URLs and "self" for this
	// server's own (default: every trusted issuer and self).
	Issuers []string `json:"issuers,omitempty"`
	// Resource is the route's RFC 9728 protected-resource identifier: its
	// 401s point to its metadata (served by oauthgate_server), and tokens
	// whose aud names it are for this route.
	Resource string `json:"resource,omitempty"`
	// ResourceName is the human-readable resource_name of that metadata.
	ResourceName string `json:"resource_name,omitempty"`

	app      *App
	logger   *zap.Logger
	allowed  prometheus.Counter
	verifier *authz.Verifier
	policy   authz.Policy
	// introspects: some issuer of the route introspects, whose limits
	// count per client address (read only then: it is a context lookup).
	introspects bool
	source      authz.BearerSource
	hSubject    string
	hClient     string
	hScope      string
	hAud        string
	hIssuer     string
	byIssuer    map[string][2]prometheus.Counter // allowed, refused
	// resourceMetadata is the URL of the route's RFC 9728 document.
	resourceMetadata string
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
	p.app = app
	p.logger = ctx.Logger()
	if p.TokenHeader != "" {
		app.warnTokenHeaderLogged(ctx.Logger(), p.TokenHeader)
	}
	p.allowed = app.metrics.decisions.WithLabelValues("allowed", "ok")
	p.verifier = app.verifier()
	if p.CORS != nil {
		if err := p.CORS.provision(p.TokenHeader); err != nil {
			return fmt.Errorf("oauthgate_protect: %v", err)
		}
	}
	if p.HeaderPrefix == "" {
		p.HeaderPrefix = DefaultHeaderPrefix
	}
	if err := p.provisionTrust(app); err != nil {
		return err
	}
	p.HeaderPrefix = http.CanonicalHeaderKey(p.HeaderPrefix)
	p.hSubject = http.CanonicalHeaderKey(p.HeaderPrefix + "Subject")
	p.hClient = http.CanonicalHeaderKey(p.HeaderPrefix + "Client-Id")
	p.hScope = http.CanonicalHeaderKey(p.HeaderPrefix + "Scope")
	p.hAud = http.CanonicalHeaderKey(p.HeaderPrefix + "Audience")
	p.policy = authz.Policy{Scopes: p.Scopes, Any: p.Any, Audience: p.Audience, Issuers: p.policy.Issuers, Resource: p.Resource, Bound: app.bound}
	if len(p.Audience) == 0 {
		if ids := app.clientsWithAudience(); len(ids) > 0 {
			ctx.Logger().Warn("oauthgate_protect without `audience` accepts tokens of every audience this server issues, "+
				"but some clients are given audiences; if this route's tokens must be meant for it, add `audience <name>` "+
				"to its oauthgate_protect block (RFC 9068 §4)", zap.Strings("scopes", p.Scopes), zap.Strings("clients_with_audience", ids))
		}
	}
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
	for _, sc := range p.Scopes {
		if p.app == nil {
			break
		}
		if !p.app.hasScope(sc) && !p.acceptsTrusted() { // other issuers have scopes of their own
			// Every request on the route would get 403: a typo, or a scope
			// declared nowhere.
			return fmt.Errorf("oauthgate_protect: scope %q is not in the catalog, so no token could ever carry it; "+
				"declare it with `scope %s \"description\"` in the oauthgate global option or correct the name", sc, sc)
		}
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler (CONFORMANCE R1–R5, R7, R8).
func (p *Protect) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if p.CORS.apply(w, r) {
		return nil // a preflight: answered before any token check (R8)
	}
	start := time.Now()
	id, status, e := p.decide(r)
	p.app.metrics.checks.Observe(time.Since(start).Seconds())
	p.countIssuer(id, e)
	if e == nil {
		p.allowed.Inc()
		caddyhttp.SetVar(r.Context(), identityVar, id)
		p.forward(r, id)
		if p.ReportOnly {
			r.Header.Set(decisionHeader, "allow")
		}
		return next.ServeHTTP(w, r)
	}
	reason := e.Reason
	if reason == "" {
		reason = e.Code
	}
	// Per request only at Debug: the decisions metric counts every refusal
	// by reason, and a store outage is logged once by the app (feed lost).
	if e.Is(authz.ErrTemporarilyUnavailable) {
		p.logger.Debug("the token store or a trusted issuer is unavailable; refusing (fail closed)",
			zap.String("reason", e.Description), zap.String("issuer", p.app.issuerLabel(e.Issuer)))
	}
	if p.ReportOnly {
		p.app.metrics.decisions.WithLabelValues("report_only", reason).Inc()
		p.logger.Debug("report_only: would refuse", zap.Int("status", status),
			zap.String("error", e.Code), zap.String("reason", reason), zap.String("path", r.URL.Path),
			zap.String("issuer", p.app.issuerLabel(e.Issuer)))
		p.stripIdentity(r)
		p.dropToken(r) // as for an allowed request: the upstream never sees the token
		decision := fmt.Sprintf(`refuse; status=%d; error="%s"; reason="%s"`, status, e.Code, reason)
		r.Header.Set(decisionHeader, decision)
		w.Header().Set(decisionHeader, decision)
		return next.ServeHTTP(w, r)
	}
	p.app.metrics.decisions.WithLabelValues("refused", reason).Inc()
	p.app.emit("access_refused", map[string]any{"status": status, "error": e.Code, "reason": reason, "issuer": p.app.issuerLabel(e.Issuer)})
	if e.Is(authz.ErrTemporarilyUnavailable) {
		// 503, or 429 for an address that sent too many inactive tokens:
		// not an answer about the token, so no challenge.
		authz.SetRetryAfter(w, e.RetryAfter())
		return caddyhttp.Error(e.Status, e)
	}
	var challenge *authz.Error
	if e.Code != "" && reason != "no_token" {
		challenge = e
	}
	w.Header().Set("WWW-Authenticate", p.withResourceMetadata(authz.Challenge(p.Realm, challenge, p.Scopes)))
	return caddyhttp.Error(status, e)
}

// decisionHeader carries report_only decisions.
const decisionHeader = "X-OAuth-Decision"

// decide checks the request's token against the route's policy.
func (p *Protect) decide(r *http.Request) (*authz.Principal, int, *authz.Error) {
	// A request verified by an earlier oauthgate_protect (e.g. a general one
	// followed by `oauthgate_protect @writes api_write`) has lost its token
	// already; its identity is checked against this handler's policy.
	if id, ok := caddyhttp.GetVar(r.Context(), identityVar).(*authz.Principal); ok {
		if e := p.policy.Check(id); e != nil {
			return nil, e.Status, e
		}
		return id, 0, nil
	}
	tok, err := p.source.Extract(r)
	if err != nil {
		if errors.Is(err, authz.ErrNoToken) {
			return nil, http.StatusUnauthorized, noToken
		}
		e := err.(*authz.Error).WithReason("malformed")
		return nil, e.Status, e
	}
	from := ""
	if p.introspects {
		from = p.app.clientIP(r)
	}
	id, e := p.verifier.AuthenticateRoute(r.Context(), tok, from, &p.policy)
	if e.UnknownKey() && p.app.rereadKeys(r.Context()) {
		// Signed with a key another instance has just rotated in: it is in
		// storage now, and so in our keys (CONFORMANCE K3, S6).
		id, e = p.verifier.AuthenticateRoute(r.Context(), tok, from, &p.policy)
	}
	if e != nil {
		return nil, e.Status, e
	}
	return id, 0, nil
}

// noToken is a request without any token: a 401 whose challenge carries no
// error code (RFC 6750 §3.1).
var noToken = (&authz.Error{Code: "invalid_request", Description: "no bearer token", Status: http.StatusUnauthorized}).WithReason("no_token")

// identityVar holds the verified identity in the request's variables; a
// client cannot set it.
const identityVar = "oauthgate.identity"

// stripIdentity removes every incoming header with the identity prefix, and
// every way a client could make reverse_proxy drop the ones set here or add
// its own later: such names nominated in Connection (hop-by-hop headers are
// removed by the proxy, RFC 9110 §7.6.1) and request trailers of those names.
func (p *Protect) stripIdentity(r *http.Request) {
	for name := range r.Header {
		if p.identityName(name) {
			delete(r.Header, name)
		}
	}
	if conn, ok := r.Header["Connection"]; ok {
		var keep []string
		for _, v := range conn {
			for f := range strings.SplitSeq(v, ",") {
				if f = strings.TrimSpace(f); f != "" && !p.identityName(http.CanonicalHeaderKey(f)) {
					keep = append(keep, f)
				}
			}
		}
		if len(keep) == 0 {
			delete(r.Header, "Connection")
		} else {
			r.Header["Connection"] = []string{strings.Join(keep, ", ")}
		}
	}
	p.stripTrailers(r.Trailer)
	if r.Body != nil && r.Body != http.NoBody && mayHaveTrailers(r) {
		// net/http fills in the trailers when the body reaches EOF, after
		// this handler: they are filtered again then, before the proxy
		// copies them.
		r.Body = &trailerFilter{ReadCloser: r.Body, r: r, p: p}
	}
}

// identityName reports whether a canonical header name is one the gateway
// sets for the upstream.
func (p *Protect) identityName(name string) bool {
	return strings.HasPrefix(name, p.HeaderPrefix) || name == decisionHeader || slices.Contains(p.app.trustHeaders, name)
}

func (p *Protect) stripTrailers(t http.Header) {
	for name := range t {
		if p.identityName(http.CanonicalHeaderKey(name)) {
			delete(t, name)
		}
	}
}

// mayHaveTrailers: an HTTP/1.x body with a Content-Length has none (only
// a chunked one may end with trailers); HTTP/2 and HTTP/3 bodies may.
func mayHaveTrailers(r *http.Request) bool {
	return r.ProtoMajor != 1 || r.ContentLength < 0 || len(r.TransferEncoding) > 0 || r.Trailer != nil
}

// trailerFilter removes identity trailers once the request body is read.
type trailerFilter struct {
	io.ReadCloser
	r *http.Request
	p *Protect
}

func (f *trailerFilter) Read(b []byte) (int, error) {
	n, err := f.ReadCloser.Read(b)
	if err == io.EOF {
		f.p.stripTrailers(f.r.Trailer)
	}
	return n, err
}

// dropToken removes the token from the request unless it is passed through.
func (p *Protect) dropToken(r *http.Request) {
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
}

// forward rewrites the request for the upstream: forged identity headers go,
// the token goes unless passed through, the identity is set.
func (p *Protect) forward(r *http.Request, id *authz.Principal) {
	p.stripIdentity(r)
	p.dropToken(r)
	// The names are canonical already (Provision): plain map writes. The
	// values share one array of this request's own, so a handler that
	// edits a value in place changes this request only.
	vals := &[5]string{id.Subject, id.ClientID, id.Scope, id.AudienceString, id.Issuer}
	h := r.Header
	h[p.hSubject], h[p.hClient], h[p.hScope], h[p.hAud] = vals[0:1:1], vals[1:2:2], vals[2:3:3], vals[3:4:4]
	h[p.hIssuer] = vals[4:5:5]

	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	// Caddy's access log reads its user_id from the map (and a login
	// handler before this one may have set it): a plain write.
	repl.Set("http.auth.user.id", id.Subject)
	repl.Map(identityPlaceholders(id))
	p.setTrustHeaders(r, id)
}

// identityPlaceholders serves {oauth.subject}, {oauth.client_id},
// {oauth.scope} and {oauth.issuer} from the verified identity: one provider
// per request instead of a map write (and a boxed value) per placeholder.
func identityPlaceholders(id *authz.Principal) caddy.ReplacerFunc {
	return func(key string) (any, bool) {
		switch key {
		case "oauth.subject":
			return id.Subject, true
		case "oauth.client_id":
			return id.ClientID, true
		case "oauth.scope":
			return id.Scope, true
		case "oauth.issuer":
			return id.Issuer, true
		}
		return nil, false
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Protect)(nil)
	_ caddy.Validator             = (*Protect)(nil)
	_ caddyhttp.MiddlewareHandler = (*Protect)(nil)
)

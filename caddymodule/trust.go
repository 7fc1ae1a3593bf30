// Trusted issuers in the app: the trust blocks' JSON, their provisioning (offline), the pure gateway, their metrics and logs.

package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

// TrustConfig is one `trust <issuer> { … }` block of the oauthgate app:
// another authorization server whose access tokens oauthgate_protect
// accepts (CONFORMANCE X1–X4).
type TrustConfig struct {
	// Issuer is the other server's issuer; its tokens' iss must equal it
	// byte for byte. https, or plain http only on a loopback address.
	Issuer string `json:"issuer,omitempty"`
	// JWKSURI of its signing keys; default: from its discovery document
	// ({issuer}/.well-known/openid-configuration, then RFC 8414's).
	JWKSURI string `json:"jwks_uri,omitempty"`
	// Audience: its tokens' aud must contain one of these, or the
	// route's resource. Required.
	Audience []string `json:"audience,omitempty"`
	// Algorithms accepted (default RS256 ES256 PS256 EdDSA); never none or HMAC.
	Algorithms []string `json:"algorithms,omitempty"`
	// Introspect checks its opaque tokens by RFC 7662 introspection.
	Introspect *TrustIntrospect `json:"introspect,omitempty"`
	// Claims maps subject, client_id and scope to the claims they are read
	// from, the first present winning (defaults: sub; azp client_id; scope scp).
	Claims map[string][]string `json:"claims,omitempty"`
	// Headers maps extra upstream headers to claim paths (dotted into
	// objects; arrays are joined by spaces), e.g. X-OAuth-Roles: realm_access.roles.
	Headers map[string]string `json:"headers,omitempty"`
}

// TrustIntrospect is a trust block's `introspect { … }`.
type TrustIntrospect struct {
	// Endpoint; default: the discovery document's introspection_endpoint.
	Endpoint string `json:"endpoint,omitempty"`
	// ClientID the gateway authenticates as (client_secret_basic).
	ClientID string `json:"client_id,omitempty"`
	// ClientSecret, write-only: a placeholder such as {env.IDP_SECRET},
	// expanded at start.
	ClientSecret string `json:"client_secret,omitempty"`
	// Cache bounds how long an active answer is reused (default 5m; never
	// past the token's exp).
	Cache caddy.Duration `json:"cache,omitempty"`
	// Timeout of each call (default 3s), and how long a check waits for
	// one of max_in_flight.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// MaxInFlight bounds the calls under way to this issuer (default 64):
	// a check that finds none free within timeout gets 503 with Retry-After.
	MaxInFlight int `json:"max_in_flight,omitempty"`
	// MaxInactive is how many answers refusing a token (inactive, or
	// active but not taken: a refresh token, expired, …) one client
	// address (an IPv6 /64; a /48 five times as many) may cause per minute
	// (default 100; -1: no limit). Past it,
	// its tokens not in the cache get 429 with Retry-After until the minute
	// ends, and the issuer is not asked about them.
	MaxInactive int `json:"max_inactive,omitempty"`
}

// trustMetrics count what trusted issuers were asked and decided. The
// issuer label is a configured issuer, "self" for ours, or "none".
type trustMetrics struct {
	calls     *prometheus.CounterVec   // issuer, kind, outcome
	durations *prometheus.HistogramVec // kind
	decisions *prometheus.CounterVec   // issuer, outcome
}

func newTrustMetrics(reg prometheus.Registerer) (*trustMetrics, error) {
	m := &trustMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "trust_requests_total",
			Help: "Calls to trusted issuers, by issuer, kind (discovery, jwks, introspect) and outcome (ok, error, timeout)."},
			[]string{"issuer", "kind", "outcome"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "trust_request_duration_seconds",
			Help: "Latency of calls to trusted issuers.", Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}},
			[]string{"kind"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "protect_issuer_decisions_total",
			Help: "Bearer checks of oauthgate_protect by the issuer that decided (self, a trusted issuer, none) and outcome."},
			[]string{"issuer", "outcome"}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.durations, m.decisions} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}

// provisionTrust builds the trusted issuers (no network: `caddy validate`
// works offline) and hands them to v. It is a no-op without trust blocks.
func (a *App) provisionTrust(ctx caddy.Context) error {
	tm, err := newTrustMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return fmt.Errorf("metrics: %v", err)
	}
	a.trustMetrics = tm
	if len(a.Trust) == 0 {
		return nil
	}
	repl := caddy.NewReplacer()
	cfgs := make([]authz.TrustConfig, len(a.Trust))
	for i, tc := range a.Trust {
		if a.server != nil && tc.Issuer == a.server.Issuer() {
			return fmt.Errorf("trust %s is this server's own issuer: its tokens are accepted already; remove the trust block", tc.Issuer)
		}
		c := authz.TrustConfig{Issuer: tc.Issuer, JWKSURI: tc.JWKSURI, Audience: tc.Audience,
			Algorithms: tc.Algorithms, Claims: tc.Claims, Headers: tc.Headers}
		if in := tc.Introspect; in != nil {
			secret, err := repl.ReplaceOrErr(in.ClientSecret, true, true)
			if err != nil {
				return fmt.Errorf("trust %s: introspect client_secret: %v (is the environment variable set?)", tc.Issuer, err)
			}
			c.Introspection = &authz.IntrospectionConfig{Endpoint: in.Endpoint, ClientID: in.ClientID, ClientSecret: secret,
				Cache: time.Duration(in.Cache), Timeout: time.Duration(in.Timeout), MaxInFlight: in.MaxInFlight, MaxInactive: in.MaxInactive}
		}
		cfgs[i] = c
	}
	trust, err := authz.NewTrust(ctx, cfgs, authz.TrustOptions{Observe: a.observeTrust})
	if err != nil {
		return fmt.Errorf("%v", err)
	}
	a.trust = trust
	a.trustHeaders = trust.HeaderNames()
	if a.server != nil {
		a.server.Verifier().Trust = trust
	}
	return nil
}

// provisionGateway sets up a config without an issuer of its own: only
// trust blocks, no clients, users or signing keys — a pure resource-server
// gateway in front of APIs whose tokens another server issues.
func (a *App) provisionGateway(ctx caddy.Context) error {
	if len(a.Clients) > 0 || len(a.Users) > 0 || len(a.SigningKeys) > 0 {
		return errors.New("clients, users and signing_key need `issuer`: this server issues tokens only with an issuer of its own")
	}
	var err error
	if a.metrics, err = newMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("metrics: %v", err)
	}
	if err := a.provisionTrust(ctx); err != nil {
		return err
	}
	a.gateway = authz.NewGatewayVerifier(a.trust, time.Duration(a.ClockSkew), a.cacheSize())
	return nil
}

// verifier is the bearer handlers' verifier: the server's, or the pure
// gateway's.
func (a *App) verifier() *authz.Verifier {
	if a.server != nil {
		return a.server.Verifier()
	}
	return a.gateway
}

// startTrust discovers the trusted issuers and loads their keys in the
// background; failures are logged (and retried on demand) rather than
// failing the start: the other issuers keep working.
func (a *App) startTrust() {
	if a.trust == nil {
		return
	}
	go a.trust.Warm(a.ctx)
}

// observeTrust logs and counts every call to a trusted issuer. Errors
// name the issuer and the URL, never a token or secret.
func (a *App) observeTrust(ev authz.TrustEvent) {
	a.trustMetrics.calls.WithLabelValues(ev.Issuer, ev.Kind, ev.Outcome).Inc()
	a.trustMetrics.durations.WithLabelValues(ev.Kind).Observe(ev.Duration.Seconds())
	if ev.Err == nil {
		a.logger.Debug("trusted issuer answered", zap.String("issuer", ev.Issuer), zap.String("kind", ev.Kind))
		return
	}
	switch ev.Kind {
	case "discovery":
		a.logger.Error("trusted issuer: discovery failed; its tokens get 503 until it succeeds (retried at most every 10s)",
			zap.String("issuer", ev.Issuer), zap.Error(ev.Err))
	case "jwks":
		a.logger.Error("trusted issuer: fetching its JWKS failed; the last good key set keeps serving, and tokens get 503 while none was ever loaded",
			zap.String("issuer", ev.Issuer), zap.String("outcome", ev.Outcome), zap.Error(ev.Err))
	default:
		a.logger.Warn("trusted issuer: introspection failed; the token gets 503",
			zap.String("issuer", ev.Issuer), zap.String("outcome", ev.Outcome), zap.Error(ev.Err))
	}
}

// warnIntrospectedInTurn says, at start, that a route taking opaque tokens
// of several introspecting issuers sends each unknown one to their
// introspection endpoints in turn, so that the first of them sees the
// tokens of all. Once per set of issuers and config.
func (a *App) warnIntrospectedInTurn(logger *zap.Logger, issuers []string) {
	if a.trust == nil {
		return
	}
	asked := a.trust.Introspecting(issuers)
	if len(asked) < 2 {
		return
	}
	if !a.firstWarning("introspect " + strings.Join(asked, " ")) {
		return
	}
	logger.Warn("oauthgate_protect: an opaque token carries no issuer, so on a route that accepts several introspecting issuers "+
		"it is introspected at each of them in turn until one says active: the first sees the tokens of all, each later one those the ones before it refuse; "+
		"name one with `issuers` on the routes where they must not", zap.Strings("introspected_in_turn", asked))
}

// trustedIssuer reports whether iss is a configured trusted issuer.
func (a *App) trustedIssuer(iss string) bool {
	return a.trust != nil && a.trust.Issuer(iss) != nil
}

// routeIssuers resolves a protect handler's `issuers` (self → our issuer)
// and checks each is configured. Empty: every trusted issuer and ours.
func (a *App) routeIssuers(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		switch {
		case (n == "self" || n == a.Issuer) && a.server != nil:
			out = append(out, a.server.Issuer())
		case n == "self":
			return nil, errors.New("oauthgate_protect: issuers self: this config has no `issuer` of its own")
		case a.trustedIssuer(n):
			out = append(out, n)
		default:
			return nil, fmt.Errorf("oauthgate_protect: issuers %s: not a configured issuer; add a `trust %s { audience … }` block to the oauthgate option, or use `self`", n, n)
		}
	}
	return out, nil
}

// authorizationServers are the issuers a route accepts, for RFC 9728.
func (a *App) authorizationServers(issuers []string) []string {
	if len(issuers) > 0 {
		return issuers
	}
	var out []string
	if a.server != nil {
		out = append(out, a.server.Issuer())
	}
	if a.trust != nil {
		out = append(out, a.trust.Issuers()...)
	}
	return out
}

// issuerLabel bounds the metrics label to configured issuers.
func (a *App) issuerLabel(iss string) string {
	if iss == "self" || a.trustedIssuer(iss) {
		return iss
	}
	return "none"
}

// setTrustHeaders sets a trusted issuer's `header` mappings (forward sets
// X-OAuth-Issuer with the other identity headers).
func (p *Protect) setTrustHeaders(r *http.Request, id *authz.Principal) {
	for _, h := range id.Headers {
		r.Header[h.Name] = []string{h.Value}
	}
}

// acceptsTrusted reports whether the route takes tokens of a trusted issuer.
func (p *Protect) acceptsTrusted() bool {
	if p.app.trust == nil {
		return false
	}
	if len(p.policy.Issuers) == 0 {
		return true
	}
	return slices.ContainsFunc(p.policy.Issuers, p.app.trustedIssuer)
}

// Interface guard: the context handed to authz is a plain context.
var _ context.Context = caddy.Context{}

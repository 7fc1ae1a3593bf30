// A trusted issuer's opaque tokens (RFC 7662 introspection), and the
// claims of its tokens as the gateway forwards them.

package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"
)

// maxIntrospectionBytes bounds an introspection answer.
const maxIntrospectionBytes = 64 << 10

// introspector asks one issuer about its opaque tokens. Active answers go
// to the verified-token cache (until the earliest of cache and exp);
// answers that refuse the token (inactive, or active but not a token the
// gateway takes: a refresh token, another iss, a cnf binding, expired,
// unusable claims) are remembered for inactiveTTL; concurrent checks of
// one token share one call.
//
// Every token not in the cache is a call, so whoever can reach the
// gateway could make it flood the issuer with random tokens: at most
// MaxInFlight calls run at once (slots), and a client address that has
// caused MaxInactive refusing answers in a minute is not asked for again
// until the minute ends (sources). Its tokens already cached keep working.
type introspector struct {
	ti      *TrustedIssuer
	cfg     IntrospectionConfig
	client  *http.Client
	refused *otter.Cache[cacheKey, *Error]
	calls   singleflight.Group
	slots   chan struct{}
	wait    time.Duration // for a free slot: cfg.Timeout
	sources *Throttle     // per address block; nil: no limit
	sites   *Throttle     // per IPv6 /48, with sources
}

func newIntrospector(ti *TrustedIssuer, cfg IntrospectionConfig) *introspector {
	if cfg.Cache <= 0 {
		cfg.Cache = DefaultIntrospectCache
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultIntrospectTimeout
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultIntrospectInFlight
	}
	if cfg.MaxInactive == 0 {
		cfg.MaxInactive = DefaultIntrospectInactive
	}
	ttl := min(inactiveTTL, cfg.Cache)
	client := *ti.t.client
	client.Timeout = 0 // each call's context carries cfg.Timeout
	in := &introspector{ti: ti, cfg: cfg, client: &client, slots: make(chan struct{}, cfg.MaxInFlight), wait: cfg.Timeout,
		refused: otter.Must(&otter.Options[cacheKey, *Error]{
			MaximumSize: 10_000, ExpiryCalculator: otter.ExpiryWriting[cacheKey, *Error](ttl)}),
	}
	if cfg.MaxInactive > 0 {
		in.sources = NewThrottle(cfg.MaxInactive, time.Minute, ti.t.now)
		// A client checking many new tokens at once (a backend for many
		// users) is held up only past burstFactor × MaxInactive of them
		// before its first refusing answer.
		in.sources.Running = RunningAfterFailure
		in.sites = NewThrottle(siteRateFactor*cfg.MaxInactive, time.Minute, ti.t.now)
		in.sites.Running = RunningAfterFailure
	}
	return in
}

type introspectResult struct {
	id *Identity
	e  *Error
}

// introspect checks tok at the issuer (CONFORMANCE X3): anything but a
// well-formed JSON answer with a boolean active is a 503, never a guess.
// asked reports whether this check made the call (concurrent checks of one
// token share one, made by the first of them; an answer found in the cache
// or among the remembered refusals is no call), for the count of refusing
// answers per address (admit).
//
// Inside the shared call, the cache (an answer of this issuer's
// introspection) and the remembered refusals are looked up first: a check
// that missed the cache just before an earlier call stored its answer, and
// reached Do after that call ended, must not ask again.
func (in *introspector) introspect(ctx context.Context, tok string, key cacheKey, now time.Time, s slot) (id *Identity, e *Error, asked bool) {
	v, _, _ := in.calls.Do(string(key[:]), func() (any, error) {
		if id := s.load(); id != nil && id.introspected && id.trusted == in.ti {
			return introspectResult{id: id}, nil
		}
		if e, ok := in.refused.GetIfPresent(key); ok {
			return introspectResult{e: e}, nil
		}
		asked = true
		id, e := in.call(ctx, tok, key, now)
		if e == nil {
			s.store(id)
		}
		return introspectResult{id: id, e: e}, nil
	})
	r := v.(introspectResult)
	return r.id, r.e, asked
}

// admit starts a check of a token not in the cache from the client
// address from, unless its address block (an IPv4 address, an IPv6 /64)
// has caused MaxInactive refusing answers of this issuer in the last
// minute, or its IPv6 /48 siteRateFactor times that (a site, which a
// tunnel broker hands out for free: 65,536 /64s) — 429 —, or has so many
// checks under way that they could (busy). done ends it: refused says the
// issuer was asked and its answer refused the token, and no other issuer
// found the token active — only then is it counted (a token of a later
// issuer in configuration order is not charged to its client at the
// earlier ones). An answer that did not come (503) is not the client's
// doing.
func (in *introspector) admit(from string) (done func(refused bool), e *Error) {
	if in.sources == nil {
		return func(bool) {}, nil
	}
	ks := []throttled{{in.sources, addressBlock(from)}}
	if site := siteBlock(from); site != "" {
		ks = append(ks, throttled{in.sites, site})
	}
	done, wait, blocked := startAll(ks)
	if !blocked {
		return done, nil
	}
	msg := "too many invalid tokens from this address; new tokens are checked again in a minute"
	if wait <= busyWait {
		msg = "too many tokens from this address are being checked; try again shortly"
	}
	e = ErrTemporarilyUnavailable.WithDescription(msg).WithReason("too_many_inactive")
	e.Status, e.retryAfter = http.StatusTooManyRequests, wait
	return nil, e
}

const reasonInactive = "inactive"

func errInactive() *Error {
	return ErrInvalidToken.WithDescription("the access token is not active").WithReason(reasonInactive)
}

// slot waits, at most Timeout, for one of the MaxInFlight calls (blocked
// waiters are served in turn); release gives it back.
func (in *introspector) slot() (release func(), e *Error) {
	select {
	case in.slots <- struct{}{}:
	default:
		t := time.NewTimer(in.wait)
		defer t.Stop()
		select {
		case in.slots <- struct{}{}:
		case <-t.C:
			e := ErrTemporarilyUnavailable.WithDescription(fmt.Sprintf("the issuer %s has %d introspection calls under way; try again shortly", in.ti.cfg.Issuer, cap(in.slots))).WithReason("issuer_busy")
			e.retryAfter = busyWait
			return nil, e
		}
	}
	return func() { <-in.slots }, nil
}

func (in *introspector) call(ctx context.Context, tok string, key cacheKey, now time.Time) (*Identity, *Error) {
	ti := in.ti
	endpoint := in.cfg.Endpoint // configured: no discovery needed for introspection
	if endpoint == "" {
		var err error
		if _, endpoint, err = ti.endpoints(ctx); err != nil || endpoint == "" {
			return nil, unavailable(ti, "the introspection endpoint")
		}
	}
	release, e := in.slot()
	if e != nil {
		return nil, e
	}
	defer release()
	start := time.Now()
	body, err := in.post(ctx, endpoint, tok)
	var top map[string]json.RawMessage
	var active bool
	if err == nil && (json.Unmarshal(body, &top) != nil || json.Unmarshal(top["active"], &active) != nil) {
		err = errors.New("the answer is not a JSON object with a boolean active")
	}
	ti.observe("introspect", start, err) // once per call, with its outcome
	if err != nil {
		return nil, unavailable(ti, "the introspection answers")
	}
	// The issuer answered: a refusal is remembered (the same token sent
	// again costs no call) and counted against the address (verifyAny).
	refuse := func(e *Error) (*Identity, *Error) {
		in.refused.Set(key, e)
		return nil, e
	}
	if !active {
		return refuse(errInactive())
	}
	m, err := decodeClaims(body)
	if err != nil {
		return nil, unavailable(ti, "the introspection answers")
	}
	if iss, ok := m["iss"]; ok && iss != ti.cfg.Issuer {
		return refuse(invalidJWT("introspection names another issuer"))
	}
	if tt, ok := m["token_type"].(string); ok && !strings.EqualFold(tt, "bearer") && !strings.EqualFold(tt, "access_token") {
		return refuse(ErrInvalidToken.WithDescription("the token is not an access token").WithReason("invalid"))
	}
	if _, bound := m["cnf"]; bound {
		return refuse(invalidJWT("sender-constrained tokens (cnf) are not supported"))
	}
	until := now.Add(in.cfg.Cache)
	if exp, ok := numericDate(m["exp"]); ok {
		if !now.Before(exp) {
			return refuse(ErrInvalidToken.WithDescription("the access token expired").WithReason("expired"))
		}
		if exp.Before(until) {
			until = exp
		}
	}
	iat, _ := numericDate(m["iat"])
	id, e := ti.identity(m, key, iat, until)
	if e != nil {
		return refuse(e)
	}
	id.DecidedBy = "introspection at " + endpoint
	id.introspected = true
	return id, nil
}

// post sends the RFC 7662 request, authenticated with client_secret_basic
// (id and secret form-encoded first, RFC 6749 §2.3.1), and returns a 200
// JSON body.
func (in *introspector) post(ctx context.Context, endpoint, tok string) ([]byte, error) {
	// Shared by concurrent callers: one caller giving up must not fail the others.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.cfg.Timeout)
	defer cancel()
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(in.cfg.ClientID), url.QueryEscape(in.cfg.ClientSecret))
	resp, err := in.client.Do(req)
	if err != nil {
		return nil, err // the token is in the body, never in the URL or the error
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionBytes+1))
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("POST %s: status %d: the issuer refused the gateway's client_id/client_secret", endpoint, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("POST %s: status %d", endpoint, resp.StatusCode)
	case len(body) > maxIntrospectionBytes:
		return nil, fmt.Errorf("POST %s: answer larger than %d bytes", endpoint, maxIntrospectionBytes)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil, fmt.Errorf("POST %s: not JSON (Content-Type %q)", endpoint, resp.Header.Get("Content-Type"))
	}
	return body, nil
}

// identity maps a trusted issuer's claims (a JWT's or an introspection
// answer's) to the principal forwarded upstream (CONFORMANCE X4).
func (ti *TrustedIssuer) identity(m map[string]any, key cacheKey, iat, exp time.Time) (*Identity, *Error) {
	first := func(field string) any {
		for _, path := range ti.claims[field] {
			if v := claimAt(m, path); v != nil {
				return v
			}
		}
		return nil
	}
	// Scopes: a string is scope-tokens separated by spaces (RFC 6749 §3.3:
	// no other white space); an array (scp) holds one scope-token each.
	var scopes []string
	switch s := first("scope").(type) {
	case nil:
	case string:
		for _, tok := range strings.Split(s, " ") {
			if tok != "" {
				scopes = append(scopes, tok)
			}
		}
	case []any:
		for _, x := range s {
			str, ok := x.(string)
			if !ok {
				return nil, invalidJWT("malformed scope claim")
			}
			scopes = append(scopes, str)
		}
	default:
		return nil, invalidJWT("malformed scope claim")
	}
	for _, s := range scopes {
		if !scopeToken(s) {
			return nil, invalidJWT("malformed scope claim")
		}
	}
	var aud []string
	switch a := m["aud"].(type) {
	case string:
		aud = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				aud = append(aud, s)
			}
		}
	}
	subject, clientID := claimString(first("subject")), claimString(first("client_id"))
	// These reach the upstream as identity headers, as they are: a value
	// that no header can carry refuses the token (never altered, which
	// could make it name someone else).
	for _, v := range append([]string{subject, clientID}, aud...) {
		if !identityValue(v) {
			return nil, invalidJWT("a subject, client_id or aud claim holds control characters or more than 2048 bytes")
		}
	}
	id := newIdentity(subject, clientID, scopes, aud, iat, exp, tokenID(key), "")
	id.Issuer, id.trusted = ti.cfg.Issuer, ti
	for _, h := range ti.headers {
		if v := headerSafe(claimString(claimAt(m, h.Value))); v != "" {
			id.Headers = append(id.Headers, Header{Name: h.Name, Value: v})
		}
	}
	return id, nil
}

// maxIdentityValue bounds a trusted issuer's subject, client_id and each
// audience: each is kept with every cached token and sent upstream.
const maxIdentityValue = 2048

// identityValue: s can be sent as an identity header's value (no control
// characters) and is at most maxIdentityValue bytes.
func identityValue(s string) bool {
	if len(s) > maxIdentityValue {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// scopeToken checks RFC 6749 §3.3 scope-token characters.
func scopeToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			return false
		}
	}
	return s != ""
}

// claimAt follows a dotted path into nested objects. A key that itself
// contains dots (Auth0's namespaced claims are URLs) is found too: the
// whole remaining path is tried as a key before it is split.
func claimAt(m map[string]any, path string) any {
	if v, ok := m[path]; ok {
		return v
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		if sub, ok := m[path[:i]].(map[string]any); ok {
			if v := claimAt(sub, path[i+1:]); v != nil {
				return v
			}
		}
	}
	return nil
}

// claimString renders a claim value for a header: strings as they are,
// arrays joined by spaces, other values as JSON.
func claimString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			if s := claimString(e); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, " ")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// headerSafe keeps a header value free of control characters.
func headerSafe(s string) string {
	if len(s) > 4096 {
		s = s[:4096]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// Client authentication: client_secret_basic, client_secret_post, public clients, and throttling failures.

package authz

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ParseBasicAuth parses an HTTP Basic Authorization header value. RFC 6749
// §2.3.1 has the id and secret form-url-encoded before base64, so both are
// decoded again; a value that is not valid form encoding is taken as sent,
// since many clients (curl -u, python requests, oauth2c) send raw values.
// ok is false when the header is not Basic at all; err is set when it is
// Basic but malformed.
func ParseBasicAuth(header string) (id, secret string, ok bool, err error) {
	b, ok, err := parseBasic(header)
	return b.id, b.secret, ok, err
}

// basicCredentials are Basic credentials both form-decoded (id, secret) and
// as sent (rawID, rawSecret); the two differ only when the values hold
// '+' or '%'.
type basicCredentials struct{ id, secret, rawID, rawSecret string }

func parseBasic(header string) (b basicCredentials, ok bool, err error) {
	scheme, rest, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return b, false, nil
	}
	raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if derr != nil {
		return b, true, errors.New("the Basic credentials are not valid base64")
	}
	var found bool
	b.rawID, b.rawSecret, found = strings.Cut(string(raw), ":")
	if !found {
		return b, true, errors.New("the Basic credentials lack the ':' between id and secret")
	}
	b.id, b.secret = formDecoded(b.rawID), formDecoded(b.rawSecret)
	if b.id == "" {
		return b, true, errors.New("the Basic credentials have an empty client id")
	}
	return b, true, nil
}

// formDecoded is s form-url-decoded, or s itself when it is not valid form
// encoding (then it can only have been sent raw).
func formDecoded(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

// matchesAny compares every candidate spelling of a secret, in constant time
// each and without stopping at the first match, so the time taken does not
// tell which spelling (if any) was right.
func matchesAny(h SecretHash, secrets []string) bool {
	ok := false
	for _, s := range secrets {
		if h.Matches(s) {
			ok = true
		}
	}
	return ok
}

// AuthenticateClient identifies the calling client from client_secret_basic,
// client_secret_post, or — for public clients only — a bare client_id
// (CONFORMANCE T2). Every failure is invalid_client; unknown clients pay the
// same secret comparison as known ones.
func AuthenticateClient(ctx context.Context, clients *Registry, r *http.Request, p Params) (*Client, *Error) {
	var id, secret string
	var hasSecret, viaBasic bool
	var basic basicCredentials
	if authz := r.Header.Values("Authorization"); len(authz) > 0 {
		if len(authz) > 1 {
			return nil, ErrInvalidRequest.WithDescription("more than one Authorization header")
		}
		b, isBasic, err := parseBasic(authz[0])
		if !isBasic {
			// RFC 6749 §5.2: an unsupported authentication method is invalid_client.
			e := ErrInvalidClient.WithDescription("unsupported client authentication method: use HTTP Basic or client_secret_post")
			e.basic = true
			return nil, e
		}
		if err != nil {
			e := ErrInvalidClient.WithDescription(err.Error())
			e.basic = true
			return nil, e
		}
		if _, ok := p["client_secret"]; ok {
			return nil, ErrInvalidRequest.WithDescription("client authenticated by both HTTP Basic and client_secret; use one method")
		}
		if pid, ok := p["client_id"]; ok && pid != b.id && pid != b.rawID {
			return nil, ErrInvalidRequest.WithDescription("client_id in the body differs from the one in the Authorization header")
		}
		id, secret, hasSecret, viaBasic = b.id, b.secret, true, true
		basic = b
	} else {
		id = p["client_id"]
		secret, hasSecret = p["client_secret"]
	}
	fail := func(desc string) *Error {
		e := ErrInvalidClient.WithDescription(desc)
		e.basic = viaBasic
		return e
	}
	if id == "" {
		return nil, fail("client authentication is required")
	}
	c, err := clients.Client(ctx, id)
	if c == nil && viaBasic && basic.rawID != id && (err == nil || errors.Is(err, ErrUnknownClient)) {
		c, err = clients.Client(ctx, basic.rawID) // an id sent raw
	}
	var de *DocumentError
	if errors.As(err, &de) && de.RetryAfter > 0 {
		// Not looked at, so not a failed authentication: a 429 that the
		// throttles do not count.
		e := ErrTemporarilyUnavailable.WithDescription(de.Error())
		e.Status, e.retryAfter = http.StatusTooManyRequests, de.RetryAfter
		return nil, e
	}
	if errors.As(err, &de) {
		return nil, fail(de.Error())
	}
	if err != nil && !errors.Is(err, ErrUnknownClient) {
		return nil, ErrTemporarilyUnavailable.WithDescription("the client registry is unavailable")
	}
	// HTTP Basic secrets are tried form-decoded (RFC 6749 §2.3.1) and as sent.
	secrets := []string{secret}
	if viaBasic && basic.rawSecret != secret {
		secrets = append(secrets, basic.rawSecret)
	}
	if c == nil {
		matchesAny(clients.decoySecret(), secrets) // same cost as a known client with a wrong secret
		return nil, fail("client authentication failed")
	}
	switch {
	case c.Public && hasSecret:
		return nil, fail("client authentication failed")
	case c.Public:
	case !hasSecret:
		return nil, fail("client authentication is required")
	case !matchesAny(c.secret, secrets):
		return nil, fail("client authentication failed")
	}
	if c.Disabled {
		e := fail("client is disabled")
		e.disabled = true
		return nil, e
	}
	return c, nil
}

// claimedClientID is the client id a request names, authenticated or not.
func claimedClientID(r *http.Request, p Params) string {
	if id, _, ok, err := ParseBasicAuth(r.Header.Get("Authorization")); ok && err == nil {
		return id
	}
	return p["client_id"]
}

// authenticateClient is AuthenticateClient behind throttles that slow
// guessing without letting strangers lock a client out: failures are
// counted per (client id, address) and per address, each locked for the rest
// of the window past its limit, and per client id alone, which only delays
// (growing to at most maxAccountDelay) — client ids are public — and does
// not hold up the addresses the client authenticated from lately (their
// failures still count toward it). Blocked
// attempts, right or wrong, get 429 with Retry-After. A disabled client with
// its right secret is not guessing and is not counted.
func (s *Server) authenticateClient(r *http.Request, p Params) (*Client, *Error) {
	id, ip := claimedClientID(r, p), s.cfg.ClientIP(r)
	block := addressBlock(ip) // an IPv6 /64 is one source
	pairKey, ipKey, idKey := "client\x00"+throttleName(id)+"\x00"+block, "ip\x00"+block, "client\x00"+throttleName(id)
	var c *Client
	var err *Error
	ks := []throttled{{s.pairFailures, pairKey}, {s.ipFailures, ipKey}}
	known := s.knownClients.has(pairKey)
	if !known {
		ks = append(ks, throttled{s.clientFailures, idKey})
	}
	failed := false
	if wait, blocked := attemptAll(ks, func() bool {
		c, err = AuthenticateClient(withCaller(r.Context(), ip), s.registry, r, p)
		failed = err != nil && err.Code == ErrInvalidClient.Code && !err.disabled
		return failed
	}); blocked {
		e := ErrInvalidClient.WithDescription("too many failed client authentications; retry later")
		e.Status, e.retryAfter = http.StatusTooManyRequests, wait
		return nil, e
	}
	if failed && known {
		// A known address waits only on its pair's lock, but its failures
		// count toward the client id's delay for everyone else, as a
		// user's known addresses do for the user's.
		s.clientFailures.Fail(idKey)
	}
	if err == nil {
		// Only the pair: a success must not wipe what others' guesses
		// cost the client id.
		s.pairFailures.Reset(pairKey)
		if !c.Public {
			// Only a right secret makes an address known: a public
			// client's id alone would let anyone churn the table.
			s.knownClients.add(pairKey)
		}
	}
	return c, err
}

// maxAccountDelay is the longest a client id or a user name alone is made
// to wait after failures from anywhere.
const maxAccountDelay = 30 * time.Second

// throttleName is how a client id or user name appears in throttle keys:
// a fixed-size digest, so long names cost the table no more than short ones.
func throttleName(name string) string {
	sum := sha256.Sum256([]byte(name))
	return string(sum[:16])
}

// truncate shortens a caller-chosen name for a log line or an event.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

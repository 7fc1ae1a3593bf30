package authz

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// ParseBasicAuth parses an HTTP Basic Authorization header value as RFC 6749
// §2.3.1 requires: the id and secret are form-url-encoded before base64, so
// both are decoded again. ok is false when the header is not Basic at all;
// err is set when it is Basic but malformed.
func ParseBasicAuth(header string) (id, secret string, ok bool, err error) {
	scheme, rest, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, nil
	}
	raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if derr != nil {
		return "", "", true, errors.New("the Basic credentials are not valid base64")
	}
	encID, encSecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", true, errors.New("the Basic credentials lack the ':' between id and secret")
	}
	if id, err = url.QueryUnescape(encID); err != nil {
		return "", "", true, errors.New("the client id in the Basic credentials is not form-url-encoded")
	}
	if secret, err = url.QueryUnescape(encSecret); err != nil {
		return "", "", true, errors.New("the client secret in the Basic credentials is not form-url-encoded")
	}
	if id == "" {
		return "", "", true, errors.New("the Basic credentials have an empty client id")
	}
	return id, secret, true, nil
}

// AuthenticateClient identifies the calling client from client_secret_basic,
// client_secret_post, or — for public clients only — a bare client_id
// (CONFORMANCE T2). Every failure is invalid_client; unknown clients pay the
// same secret comparison as known ones.
func AuthenticateClient(ctx context.Context, clients *Registry, r *http.Request, p Params) (*Client, *Error) {
	var id, secret string
	var hasSecret, viaBasic bool
	if authz := r.Header.Values("Authorization"); len(authz) > 0 {
		if len(authz) > 1 {
			return nil, ErrInvalidRequest.WithDescription("more than one Authorization header")
		}
		bid, bsecret, isBasic, err := ParseBasicAuth(authz[0])
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
		if pid, ok := p["client_id"]; ok && pid != bid {
			return nil, ErrInvalidRequest.WithDescription("client_id in the body differs from the one in the Authorization header")
		}
		id, secret, hasSecret, viaBasic = bid, bsecret, true, true
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
	if err != nil && !errors.Is(err, ErrUnknownClient) {
		return nil, ErrTemporarilyUnavailable.WithDescription("the client registry is unavailable")
	}
	if c == nil {
		clients.decoySecret().Matches(secret) // same cost as a known client with a wrong secret
		return nil, fail("client authentication failed")
	}
	switch {
	case c.Public && hasSecret:
		return nil, fail("client authentication failed")
	case c.Public:
	case !hasSecret:
		return nil, fail("client authentication is required")
	case !c.secret.Matches(secret):
		return nil, fail("client authentication failed")
	}
	if c.Disabled {
		return nil, fail("client is disabled")
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

// authenticateClient is AuthenticateClient behind a throttle: failed client
// authentication is counted per claimed client id and per client IP, and
// past the limit every attempt — right or wrong — gets 429 with
// Retry-After until the window ends, so secrets cannot be guessed.
func (s *Server) authenticateClient(r *http.Request, p Params) (*Client, *Error) {
	idKey, ipKey := "client\x00"+claimedClientID(r, p), "ip\x00"+s.cfg.ClientIP(r)
	for _, k := range []struct {
		t   *Throttle
		key string
	}{{s.clientFailures, idKey}, {s.ipFailures, ipKey}} {
		if wait, blocked := k.t.Blocked(k.key); blocked {
			e := ErrInvalidClient.WithDescription("too many failed client authentications; retry later")
			e.Status, e.retryAfter = http.StatusTooManyRequests, wait
			return nil, e
		}
	}
	c, err := AuthenticateClient(r.Context(), s.registry, r, p)
	if err != nil && err.Code == ErrInvalidClient.Code {
		s.clientFailures.Fail(idKey)
		s.ipFailures.Fail(ipKey)
	}
	return c, err
}



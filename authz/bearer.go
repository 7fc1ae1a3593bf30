// Bearer tokens in requests (RFC 6750): where they may come from, parsing them, WWW-Authenticate challenges.

package authz

import (
	"errors"
	"net/http"
	"strings"
)

// ErrNoToken: the request carries no bearer token at all (RFC 6750 §3.1: a
// 401 without an error code).
var ErrNoToken = errors.New("no bearer token")

// BearerSource says where tokens may come from (CONFORMANCE R1).
type BearerSource struct {
	// Header is an extra header carrying the raw token, e.g. "sessionID".
	Header string
	// Query allows the access_token query parameter (RFC 6750 §2.3); off by default.
	Query bool
}

// Extract returns the bearer token of r. It returns ErrNoToken when there is
// none, and an invalid_request *Error when one is malformed or when more
// than one method is used (RFC 6750 §2).
func (s BearerSource) Extract(r *http.Request) (string, error) {
	var found []string
	if vals := r.Header.Values("Authorization"); len(vals) > 0 {
		if len(vals) > 1 {
			return "", ErrInvalidRequest.WithDescription("more than one Authorization header")
		}
		if tok, ok, err := ParseBearer(vals[0]); err != nil {
			return "", err
		} else if ok {
			found = append(found, tok)
		}
	}
	if s.Header != "" {
		if vals := r.Header.Values(s.Header); len(vals) > 0 {
			if len(vals) > 1 || !isB64Token(vals[0]) {
				return "", ErrInvalidRequest.WithDescription("malformed " + s.Header + " header")
			}
			found = append(found, vals[0])
		}
	}
	if s.Query {
		if vals, ok := r.URL.Query()["access_token"]; ok {
			if len(vals) > 1 || !isB64Token(vals[0]) {
				return "", ErrInvalidRequest.WithDescription("malformed access_token parameter")
			}
			found = append(found, vals[0])
		}
	}
	switch len(found) {
	case 0:
		return "", ErrNoToken
	case 1:
		return found[0], nil
	default:
		return "", ErrInvalidRequest.WithDescription("the token is sent by more than one method")
	}
}

// ParseBearer reads `Bearer <token>` with a case-insensitive scheme. ok is
// false for other schemes; a Bearer header with a malformed token is an error.
func ParseBearer(h string) (tok string, ok bool, err error) {
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false, nil
	}
	tok = strings.TrimLeft(rest, " ")
	if !isB64Token(tok) {
		return "", true, ErrInvalidRequest.WithDescription("malformed bearer token")
	}
	return tok, true, nil
}

// isB64Token checks RFC 6750 §2.1: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
// token68 marks the characters of RFC 7235 token68 before its '=' padding.
var token68 = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
	}
	return t
}()

func isB64Token(s string) bool {
	if s == "" || len(s) > maxTokenLen {
		return false
	}
	i := 0
	for ; i < len(s) && token68[s[i]]; i++ {
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// Challenge renders a WWW-Authenticate: Bearer value (RFC 6750 §3). e may be
// nil for a request that had no token; scope lists what a route requires.
func Challenge(realm string, e *Error, scope []string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	b.WriteString(quoteSafe(realm))
	b.WriteByte('"')
	if e != nil {
		b.WriteString(`, error="` + e.Code + `"`)
		if e.Description != "" {
			b.WriteString(`, error_description="` + quoteSafe(e.Description) + `"`)
		}
		if e.Code == ErrInsufficientScope.Code && len(scope) > 0 {
			b.WriteString(`, scope="` + quoteSafe(JoinScopes(scope)) + `"`)
		}
	}
	return b.String()
}

// quoteSafe keeps a quoted-string free of quotes, backslashes and controls.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

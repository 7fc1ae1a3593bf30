// Package authz is the OAuth 2.0 core of oauthgate: clients, scopes, grants,
// token issuance and verification, and the endpoint handlers. It knows
// nothing of Caddy; caddymodule turns configuration into an *authz.Server.
package authz

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Error is an OAuth 2.0 protocol error (RFC 6749 §5.2, RFC 6750 §3.1).
// Descriptions must never contain a token, code or secret.
type Error struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	// Status is the HTTP status the error is sent with.
	Status int `json:"-"`
	// Reason is a short, fixed label for metrics and logs ("expired",
	// "revoked", …); never client-controlled.
	Reason string `json:"-"`
	// Issuer is the metrics label of the issuer that decided ("self", a
	// configured trusted issuer, or "" when none did); see Verifier.AuthenticateRoute.
	Issuer string `json:"-"`
	// retryAfter, when set, is sent as Retry-After (throttling).
	retryAfter time.Duration
	// basic marks a client-authentication failure through HTTP Basic, which
	// must be answered with WWW-Authenticate: Basic (RFC 6749 §5.2).
	basic bool
	// disabled marks a disabled client that gave its right secret: refused,
	// but not a guess, so not counted by the throttles.
	disabled bool
	// unknownKey marks a JWT whose kid names no key of the ring: perhaps
	// one another instance just rotated in (see UnknownKey).
	unknownKey bool
}

// RetryAfter is when a throttled or busy request may be tried again (0: not said).
func (e *Error) RetryAfter() time.Duration {
	if e == nil {
		return 0
	}
	return e.retryAfter
}

// UnknownKey reports whether e refused a JWT because its kid names no key
// of the server's key ring, so that the caller may re-read the ring once.
func (e *Error) UnknownKey() bool { return e != nil && e.unknownKey }

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// WithDescription returns a copy of e carrying a specific description.
func (e *Error) WithDescription(d string) *Error {
	c := *e
	c.Description = d
	return &c
}

// WithReason returns a copy of e labelled with reason.
func (e *Error) WithReason(reason string) *Error {
	c := *e
	c.Reason = reason
	return &c
}

// Is lets errors.Is match a described copy against its sentinel.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// RFC 6749 §5.2 and RFC 6750 §3.1 error codes, exactly as the RFCs spell them.
var (
	ErrInvalidRequest       = &Error{Code: "invalid_request", Status: http.StatusBadRequest}
	ErrInvalidClient        = &Error{Code: "invalid_client", Status: http.StatusUnauthorized}
	ErrInvalidGrant         = &Error{Code: "invalid_grant", Status: http.StatusBadRequest}
	ErrUnauthorizedClient   = &Error{Code: "unauthorized_client", Status: http.StatusBadRequest}
	ErrUnsupportedGrantType = &Error{Code: "unsupported_grant_type", Status: http.StatusBadRequest}
	ErrInvalidScope         = &Error{Code: "invalid_scope", Status: http.StatusBadRequest}
	// ErrServerError and ErrTemporarilyUnavailable are sent as JSON with 500 / 503.
	ErrServerError            = &Error{Code: "server_error", Status: http.StatusInternalServerError}
	ErrTemporarilyUnavailable = &Error{Code: "temporarily_unavailable", Status: http.StatusServiceUnavailable}

	// RFC 6750 bearer errors.
	ErrInvalidToken      = &Error{Code: "invalid_token", Status: http.StatusUnauthorized}
	ErrInsufficientScope = &Error{Code: "insufficient_scope", Status: http.StatusForbidden}
)

// noStore marks a response as never cacheable (RFC 6749 §5.1).
func noStore(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// writeJSON writes v as a no-store JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	noStore(w)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// SetRetryAfter sends wait as Retry-After, in whole seconds rounded up
// (the next second, so that a retry never comes early); nothing when wait
// is 0.
func SetRetryAfter(w http.ResponseWriter, wait time.Duration) {
	if wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
	}
}

// WriteError sends an OAuth error as RFC 6749 §5.2 JSON.
func WriteError(w http.ResponseWriter, e *Error) {
	SetRetryAfter(w, e.retryAfter)
	if e.basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="oauthgate", charset="UTF-8"`)
	}
	writeJSON(w, e.Status, e)
}

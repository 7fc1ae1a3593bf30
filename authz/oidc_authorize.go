package authz

import (
	"net/http"
	"slices"
	"strconv"
	"time"
)

var errAccountSelection = &Error{Code: "account_selection_required", Status: http.StatusBadRequest,
	Description: "this server signs in one account per browser and cannot offer a choice"}

// validateOIDC checks the OpenID Connect parameters of an authorization
// request (CONFORMANCE I1): nonce (required with openid, bounded),
// prompt=select_account (refused: there is one account per session),
// max_age (seconds) and login_hint (prefills the login form).
func (a *authorizer) validateOIDC(req *authRequest) *Error {
	p := req.params
	if req.prompt["select_account"] {
		return errAccountSelection
	}
	req.maxAge = -1
	if v, ok := p["max_age"]; ok {
		n, err := strconv.ParseInt(v[0], 10, 64)
		if err != nil || n < 0 {
			return ErrInvalidRequest.WithDescription("max_age must be a non-negative number of seconds")
		}
		req.maxAge = n
	}
	if h := p.Get("login_hint"); len(h) <= maxLoginHintLen {
		req.loginHint = h
	}
	if !slices.Contains(req.scopes, ScopeOpenID) {
		return nil
	}
	req.nonce = p.Get("nonce")
	switch {
	case req.nonce == "":
		return ErrInvalidRequest.WithDescription("nonce is required with the openid scope")
	case len(req.nonce) > maxNonceLen:
		return ErrInvalidRequest.WithDescription("nonce is longer than " + strconv.Itoa(maxNonceLen) + " characters")
	}
	return nil
}

// reauthenticate reports whether a signed-in user must sign in again:
// prompt=login, or a sign-in older than max_age (max_age=0: always).
func (a *authorizer) reauthenticate(req *authRequest, sess *session, now time.Time) bool {
	return req.prompt["login"] || (req.maxAge >= 0 && now.Unix()-sess.AuthTime >= req.maxAge)
}

// openIDCode does what an openid code needs before it is issued: the
// nonce is used up (a replayed authorization request is refused), and the
// claims a login identity handler asserts are kept for the token and
// userinfo requests that come without the user's browser.
func (a *authorizer) openIDCode(r *http.Request, req *authRequest, subject string) *Error {
	if !slices.Contains(req.scopes, ScopeOpenID) {
		return nil
	}
	used, err := a.s.nonceUsed(r.Context(), req.client.ID, req.nonce)
	switch {
	case err != nil:
		return storeError(err, "could not check the nonce")
	case used:
		return ErrInvalidRequest.WithDescription("this nonce was already used: start a new sign-in")
	}
	if a.opts.Login == LoginIdentity && a.opts.IdentityClaims != nil {
		c, err := a.opts.IdentityClaims(r)
		if err != nil {
			return ErrServerError.WithDescription("the sign-in handler's claims are unreadable")
		}
		if err := a.s.rememberClaims(r.Context(), subject, c, req.client); err != nil {
			return storeError(err, "could not keep the user's claims")
		}
	}
	return nil
}

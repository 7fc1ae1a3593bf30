package authz

import (
	"errors"
	"net/http"
	"slices"
)

// PathUserInfo is OpenID Connect's UserInfo endpoint.
const PathUserInfo = "/oauth/userinfo"

// serveUserInfo is GET|POST /oauth/userinfo (OIDC Core §5.3, CONFORMANCE
// I3): an access token with the openid scope gets its user's claims, as
// the grant's scopes allow; errors are RFC 6750's, with WWW-Authenticate.
// The token comes in the Authorization header, or for POST in the form
// body (RFC 6750 §2.2).
func (s *Server) serveUserInfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		e := ErrInvalidRequest.WithDescription("the userinfo endpoint answers GET and POST")
		e.Status = http.StatusMethodNotAllowed
		WriteError(w, e)
		return
	}
	tok, e := userInfoToken(w, r)
	if e != nil || tok == "" {
		s.bearerError(w, e)
		return
	}
	p, e := s.verifier.Authenticate(r.Context(), tok)
	if e != nil {
		s.bearerError(w, e)
		return
	}
	if s.cfg.Resources.Binds(p.Audience) && !slices.Contains(p.Audience, s.cfg.Issuer) {
		// RFC 8707: a token for a resource is for that resource only; the
		// resource server it was given to cannot replay it here.
		s.bearerError(w, ErrInvalidToken.WithDescription("the access token was issued for another resource"))
		return
	}
	if !slices.Contains(p.Scopes, ScopeOpenID) {
		s.bearerError(w, ErrInsufficientScope.WithDescription("the access token was not granted the openid scope"))
		return
	}
	uc, err := s.userClaims(r.Context(), p.Subject)
	if err != nil {
		s.bearerError(w, storeError(err, "could not read the user's claims"))
		return
	}
	body := scopedClaims(uc, p.Scopes)
	body["sub"] = p.Subject
	writeJSON(w, http.StatusOK, body)
}

// userInfoToken reads the bearer token: the Authorization header, or a
// form body's access_token for POST; never both.
func userInfoToken(w http.ResponseWriter, r *http.Request) (string, *Error) {
	tok, err := BearerSource{}.Extract(r)
	var e *Error
	switch {
	case errors.As(err, &e):
		return "", e
	case err == nil && r.Method == http.MethodGet:
		return tok, nil
	}
	if r.Method == http.MethodPost && r.ContentLength != 0 {
		p, perr := ParseParams(w, r)
		if perr != nil {
			return "", perr
		}
		if body, ok := p["access_token"]; ok {
			if err == nil {
				return "", ErrInvalidRequest.WithDescription("the token is sent by more than one method")
			}
			if !isB64Token(body) {
				return "", ErrInvalidRequest.WithDescription("malformed access_token parameter")
			}
			return body, nil
		}
	}
	if err == nil {
		return tok, nil
	}
	return "", nil
}

// bearerError answers a userinfo request with RFC 6750 §3's error: a 401
// without an error code when no token came, WWW-Authenticate always.
func (s *Server) bearerError(w http.ResponseWriter, e *Error) {
	if e == nil {
		w.Header().Set("WWW-Authenticate", Challenge(s.cfg.Issuer, nil, nil))
		noStore(w)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden || e.Status == http.StatusBadRequest {
		w.Header().Set("WWW-Authenticate", Challenge(s.cfg.Issuer, e, []string{ScopeOpenID}))
	}
	WriteError(w, e)
}

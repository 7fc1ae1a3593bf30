package authz

import (
	"net/http"
	"net/url"
	"slices"
	"time"
)

// PathLogout is OpenID Connect RP-Initiated Logout's end_session_endpoint.
const PathLogout = "/oauth/logout"

// LogoutHandler returns /oauth/logout with the authorization endpoint's
// options: the same pages, and the sign-in cookie's path.
func (s *Server) LogoutHandler(opts AuthorizeOptions) (http.Handler, error) {
	h, err := s.AuthorizeHandler(opts)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(h.(*authorizer).serveLogout), nil
}

// serveLogout is GET|POST /oauth/logout (RP-Initiated Logout 1.0,
// CONFORMANCE I4): it ends the gateway's sign-in session in this browser
// and, when the request names a client (id_token_hint or client_id) and
// one of its registered post_logout_redirect_uris exactly, sends the user
// there with state. Anything else is answered with a page, never a
// redirect: a logout link must not become an open redirector.
func (a *authorizer) serveLogout(w http.ResponseWriter, r *http.Request) {
	pages := a.opts.Pages
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		pages.errorPage(w, http.StatusMethodNotAllowed, "Method not allowed", "The sign-out endpoint answers GET and POST.")
		return
	}
	params, _, err := readAuthorizeParams(w, r)
	if err != nil {
		pages.errorPage(w, http.StatusBadRequest, "Invalid request", err.Error())
		return
	}
	for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"} {
		if _, ok := single(params, k); !ok {
			pages.errorPage(w, http.StatusBadRequest, "Invalid request", "The sign-out request has more than one "+k+".")
			return
		}
	}
	target, refused := a.logoutTarget(r, params)
	// The session ends whatever the rest of the request is worth: the user
	// asked to sign out.
	setCookie(w, r, a.cookiePath(r), sessionCookie, "", -time.Second)
	if refused != nil {
		pages.refuse(w, refused, "You are signed out of this server.")
		return
	}
	if target == "" {
		pages.errorPage(w, http.StatusOK, "Signed out", "You are signed out of this server.")
		return
	}
	if st := params.Get("state"); st != "" {
		target = appendParams(target, url.Values{"state": {st}})
	}
	noStore(w)
	http.Redirect(w, r, target, http.StatusFound)
}

// maxHintAge is how long after its expiry an ID token is still accepted
// as id_token_hint: the RP's session may well outlive its ID token, but
// not by more than a sign-in lasts.
func (a *authorizer) maxHintAge() time.Duration { return a.s.cfg.SessionTTL }

// logoutTarget checks the request and returns where to send the user back
// ("" for nowhere), or the page that refuses it.
func (a *authorizer) logoutTarget(r *http.Request, p url.Values) (string, *refusal) {
	clientID := p.Get("client_id")
	if hint := p.Get("id_token_hint"); hint != "" {
		claims, ok := a.s.parseIDTokenHint(hint)
		if !ok {
			return "", badRequest("Invalid sign-out request", "The ID token of this request was not issued by this server.")
		}
		aud, _ := claims["aud"].(string)
		if clientID != "" && aud != clientID {
			return "", badRequest("Invalid sign-out request", "The ID token of this request was issued to another application.")
		}
		exp, _ := claims["exp"].(float64)
		if a.s.cfg.Now().After(time.Unix(int64(exp), 0).Add(a.maxHintAge())) {
			return "", badRequest("Invalid sign-out request", "The ID token of this request has expired too long ago.")
		}
		clientID = aud
	}
	uri := p.Get("post_logout_redirect_uri")
	if uri == "" {
		return "", nil
	}
	if clientID == "" {
		return "", badRequest("Invalid sign-out request", "The request names a page to return to but not the application: it needs id_token_hint or client_id.")
	}
	c, err := a.s.registry.Client(withCaller(r.Context(), a.opts.ClientIP(r)), clientID)
	if refused := clientRefusal(c, err); refused != nil {
		return "", refused
	}
	if !slices.Contains(c.PostLogoutRedirectURIs, uri) {
		return "", badRequest("Invalid return address", "The page to return to is not registered for the application.")
	}
	return uri, nil
}

package authz

import (
	"maps"
	"net/http"
	"net/url"
	"path"
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
//
// A signed-in user is asked first unless the request carries an ID token
// of that user (RP-Initiated Logout 1.0 §2: the OP MUST ask when there is
// no id_token_hint or it does not belong to the signed-in user), so that a
// link or image on any site cannot sign the user out: the page's form
// posts the request back with a CSRF token bound to the browser and the
// session. A POST without the session cookie is answered with a redirect
// to the same request as a GET, which carries it.
func (a *authorizer) serveLogout(w http.ResponseWriter, r *http.Request) {
	pages := a.opts.Pages
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		pages.errorPage(w, http.StatusMethodNotAllowed, "Method not allowed", "The sign-out endpoint answers GET and POST.")
		return
	}
	params, internal, err := readAuthorizeParams(w, r)
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
	if r.Method == http.MethodPost && cookieValue(r, sessionCookie) == "" {
		a.logoutAsGet(w, r, params)
		return
	}
	lr, refused := a.logoutTarget(r, params, internal.Get(logoutHintParam))
	if sess, signedIn := a.s.signer.readSession(r, a.s.cfg.Now()); signedIn && lr.subject != sess.Subject &&
		!(r.Method == http.MethodPost && a.s.signer.checkCSRF(internal.Get("oauthgate_csrf"), cookieValue(r, csrfCookie), "logout", sess.ID)) {
		form := params
		if h := internal.Get(logoutHintParam); h != "" {
			form = maps.Clone(params)
			form.Set(logoutHintParam, h)
		}
		a.logoutPage(w, r, form, lr, refused, sess)
		return
	}
	if cookieValue(r, sessionCookie) != "" {
		setCookie(w, r, a.cookiePath(r), sessionCookie, "", -time.Second)
	}
	if refused != nil {
		pages.refuse(w, refused, "You are signed out of this server.")
		return
	}
	target := lr.target
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

// logoutHintParam carries, from a POST to the GET it is sent to, what the
// POST's id_token_hint said (logoutHint, sealed): the ID token itself
// stays out of the URL, and so out of access logs and browser history.
const logoutHintParam = internalPrefix + "logout_hint"

// logoutHint is a checked id_token_hint: its subject and client, until
// Expires (Unix seconds).
type logoutHint struct {
	Subject string `json:"s"`
	Client  string `json:"c"`
	Expires int64  `json:"e"`
}

// logoutHintTTL bounds how long the GET a POST is sent to may come.
const logoutHintTTL = 5 * time.Minute

// logoutAsGet answers a POST that came without the session cookie — a
// relying party's form on its own site (the cookie is SameSite=Lax), or a
// relying party posting from its server — with a 303 to the same request
// as a GET, which the browser makes with the cookie (a top-level
// navigation). The id_token_hint is checked here and replaced by a sealed
// logoutHint; a bad one is refused at once. The path is cleaned: a
// request path such as //host/.. must not become a protocol-relative
// Location.
func (a *authorizer) logoutAsGet(w http.ResponseWriter, r *http.Request, params url.Values) {
	q := maps.Clone(params)
	if hint := q.Get("id_token_hint"); hint != "" {
		q.Del("id_token_hint")
		sub, aud, refused := a.checkHint(hint, q.Get("client_id"))
		if refused != nil {
			a.opts.Pages.refuse(w, refused, "")
			return
		}
		q.Set(logoutHintParam, a.s.signer.seal("logout-hint", logoutHint{Subject: sub, Client: aud, Expires: a.s.cfg.Now().Add(logoutHintTTL).Unix()}))
	}
	noStore(w)
	http.Redirect(w, r, path.Clean("/"+a.opts.BrowserPath(r))+"?"+q.Encode(), http.StatusSeeOther)
}

// logoutPage asks the signed-in user to confirm: the request's parameters
// go back in the form, and a refusal (a return address not registered, a
// bad hint) is shown with it — confirming signs the user out all the same,
// without the redirect.
func (a *authorizer) logoutPage(w http.ResponseWriter, r *http.Request, params url.Values, lr logoutRequest, refused *refusal, sess *session) {
	browser := browserID(w, r, a.cookiePath(r), a.s.cfg.Rand)
	status, msg := http.StatusOK, ""
	if refused != nil {
		status, msg = refused.status, refused.msg
		SetRetryAfter(w, refused.retryAfter)
	}
	a.opts.Pages.render(w, status, "logout.html", map[string]any{"Title": "Sign out", "Subject": sess.Subject,
		"ClientName": lr.clientName, "Params": hidden(params), "CSRF": a.s.signer.csrfToken(browser, "logout", sess.ID), "Error": msg})
}

// cookieValue is the value of r's cookie name, "" when absent.
func cookieValue(r *http.Request, name string) string {
	if c, err := r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}

// logoutRequest is what a sign-out request asks for: where to send the
// user back ("" for nowhere), the subject of its id_token_hint ("" without
// one) and the name of the client it names.
type logoutRequest struct {
	target, subject, clientName string
}

// maxHintAge is how long after its expiry an ID token is still accepted
// as id_token_hint: the RP's session may well outlive its ID token, but
// not by more than a sign-in lasts.
func (a *authorizer) maxHintAge() time.Duration { return a.s.cfg.SessionTTL }

// checkHint checks an id_token_hint (and that it was issued to clientID,
// when one is named) and returns its subject and client.
func (a *authorizer) checkHint(hint, clientID string) (sub, aud string, refused *refusal) {
	claims, ok := a.s.parseIDTokenHint(hint)
	if !ok {
		return "", "", badRequest("Invalid sign-out request", "The ID token of this request was not issued by this server.")
	}
	aud, _ = claims["aud"].(string)
	if clientID != "" && aud != clientID {
		return "", "", badRequest("Invalid sign-out request", "The ID token of this request was issued to another application.")
	}
	exp, _ := claims["exp"].(float64)
	if a.s.cfg.Now().After(time.Unix(int64(exp), 0).Add(a.maxHintAge())) {
		return "", "", badRequest("Invalid sign-out request", "The ID token of this request has expired too long ago.")
	}
	sub, _ = claims["sub"].(string)
	return sub, aud, nil
}

// logoutTarget checks the request — its id_token_hint, or the sealed
// logoutHint a POST's was turned into — and returns what it asks for, or
// the page that refuses it.
func (a *authorizer) logoutTarget(r *http.Request, p url.Values, sealedHint string) (logoutRequest, *refusal) {
	var lr logoutRequest
	clientID := p.Get("client_id")
	if hint := p.Get("id_token_hint"); hint != "" {
		sub, aud, refused := a.checkHint(hint, clientID)
		if refused != nil {
			return lr, refused
		}
		clientID, lr.subject = aud, sub
	} else if sealedHint != "" {
		var h logoutHint
		if !a.s.signer.open("logout-hint", sealedHint, &h) || a.s.cfg.Now().Unix() >= h.Expires || (clientID != "" && clientID != h.Client) {
			return lr, badRequest("Invalid sign-out request", "The sign-out request has expired or was altered; sign out from the application again.")
		}
		clientID, lr.subject = h.Client, h.Subject
	}
	uri := p.Get("post_logout_redirect_uri")
	if uri == "" {
		return lr, nil
	}
	if clientID == "" {
		return lr, badRequest("Invalid sign-out request", "The request names a page to return to but not the application: it needs id_token_hint or client_id.")
	}
	c, err := a.s.registry.Client(withCaller(r.Context(), a.opts.ClientIP(r)), clientID)
	if refused := clientRefusal(c, err); refused != nil {
		return lr, refused
	}
	if !slices.Contains(c.PostLogoutRedirectURIs, uri) {
		return lr, badRequest("Invalid return address", "The page to return to is not registered for the application.")
	}
	lr.target, lr.clientName = uri, c.Name
	return lr, nil
}

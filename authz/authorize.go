// The authorization endpoint (RFC 6749 §4.1): request checks, built-in login, consent and code issuing.

package authz

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// PrefixCode marks authorization codes.
const PrefixCode = "ogc_"

// LoginMode selects how the resource owner is authenticated (CONFORMANCE A8).
type LoginMode int

const (
	// LoginForm: the built-in login page against Config.Users, with a
	// signed session cookie.
	LoginForm LoginMode = iota
	// LoginIdentity: trust the identity a preceding Caddy auth handler
	// (basic_auth, forward_auth) established.
	LoginIdentity
)

// AuthorizeOptions are the per-site settings of the authorization endpoint.
type AuthorizeOptions struct {
	Login LoginMode
	// Identity returns the authenticated user for LoginIdentity ("" if none).
	Identity func(*http.Request) string
	// IdentityClaims, for LoginIdentity, returns the user's OpenID Connect
	// claims as the authenticating handler in front set them (nil: none).
	IdentityClaims func(*http.Request) (UserClaims, error)
	// ClientIP returns the client's address for throttling (default: RemoteAddr).
	ClientIP func(*http.Request) string
	Pages    *Pages
	// BrowserPath returns the path of r as the browser sent it, before any
	// rewrite or handle_path (default: r.URL's path). The sign-in cookies are
	// scoped to its directory, so they come back when /oauth/authorize is
	// reached under another path.
	BrowserPath func(r *http.Request) string
	// Failed logins allowed per (user, client IP) and per client IP within
	// LoginWindow before that pair or IP is refused for the rest of the
	// window (defaults 5, 20, 15 minutes). A user alone is never locked:
	// past 2 × UserLimit failures from anywhere, attempts are delayed
	// (1 s, 2 s, … at most 30 s).
	UserLimit, IPLimit int
	LoginWindow        time.Duration
}

// authorizer serves /oauth/authorize (CONFORMANCE A1–A11).
type authorizer struct {
	s        *Server
	opts     AuthorizeOptions
	byUserIP *Throttle // locks: per (user, address)
	byIP     *Throttle // locks: per address
	byUser   *Throttle // delays only: per user, from anywhere
	// known: (user, address) pairs that signed in lately, which do not
	// wait on byUser; nor does a browser with the user's device cookie,
	// locked per cookie instead (byDevice).
	known    knownSources
	byDevice *Throttle
}

// AuthorizeHandler returns the authorization endpoint with opts.
func (s *Server) AuthorizeHandler(opts AuthorizeOptions) (http.Handler, error) {
	if opts.Pages == nil {
		p, err := LoadPages("")
		if err != nil {
			return nil, err
		}
		opts.Pages = p
	}
	if opts.Login == LoginIdentity && opts.Identity == nil {
		return nil, errors.New("login identity needs an identity source")
	}
	if opts.ClientIP == nil {
		opts.ClientIP = s.cfg.ClientIP
	}
	if opts.BrowserPath == nil {
		opts.BrowserPath = func(r *http.Request) string { return r.URL.EscapedPath() }
	}
	if opts.UserLimit <= 0 {
		opts.UserLimit = 5
	}
	if opts.IPLimit <= 0 {
		opts.IPLimit = 20
	}
	if opts.LoginWindow <= 0 {
		opts.LoginWindow = 15 * time.Minute
	}
	// Twice the per-address limit passes before the user's delays begin,
	// so one stranger's failures cost the user nothing. Sign-ins under way
	// count on every key: past its limit the user alone takes one at a
	// time, so a crowd of addresses gets one guess per delay, not one each.
	// Strangers can name the user, so the user's own browsers and
	// addresses (a device cookie, a pair that signed in lately) do not wait
	// on it.
	// The counters are the server's (Limits): shared by every sign-in
	// handler of the issuer, kept across reloads.
	l, now := s.cfg.Limits, s.cfg.Now
	return &authorizer{
		s: s, opts: opts,
		byUserIP: l.throttle("user-address", opts.UserLimit, opts.LoginWindow, 0, RunningAlways, now),
		byIP:     l.throttle("sign-in-address", opts.IPLimit, opts.LoginWindow, 0, RunningAlways, now),
		byUser:   l.throttle("user", 2*opts.UserLimit, opts.LoginWindow, maxAccountDelay, RunningAlways, now),
		known:    l.knownSources("users"),
		byDevice: l.throttle("device", opts.UserLimit, opts.LoginWindow, 0, RunningAlways, now),
	}, nil
}

// authRequest is a validated authorization request.
type authRequest struct {
	client      *Client
	params      url.Values // the OAuth parameters as received
	redirectURI string
	given       bool // redirect_uri was in the request
	state       string
	scopes      []string
	resources   []string // RFC 8707: the token's aud when set
	challenge   string
	method      string
	prompt      map[string]bool
	// OpenID Connect (oidc.go): nonce, max_age in seconds (-1: none), login_hint.
	nonce     string
	maxAge    int64
	loginHint string
}

// codePayload is what a code carries besides its grant.
type codePayload struct {
	RedirectURI string `json:"r"`
	Given       bool   `json:"g,omitempty"`
	Challenge   string `json:"c,omitempty"`
	Method      string `json:"m,omitempty"`
	Nonce       string `json:"n,omitempty"`
}

const internalPrefix = "oauthgate_"

func (a *authorizer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pages := a.opts.Pages
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		pages.errorPage(w, http.StatusMethodNotAllowed, "Method not allowed", "The authorization endpoint answers GET and POST.")
		return
	}
	params, internal, err := readAuthorizeParams(w, r)
	if err != nil {
		pages.errorPage(w, http.StatusBadRequest, "Invalid request", err.Error())
		return
	}
	req, refused := a.validateClient(withCaller(r.Context(), a.opts.ClientIP(r)), params)
	if refused != nil {
		pages.refuse(w, refused, "")
		return
	}
	if e := a.validateRest(req); e != nil {
		a.redirectError(w, r, req, e)
		return
	}
	subject, binding, authTime, done := a.authenticate(w, r, req, internal)
	if done {
		return
	}
	a.consent(w, r, req, internal, subject, binding, authTime)
}

// pageMessage is an error whose text is shown as is on the error page: a
// sentence for the user.
type pageMessage string

func (m pageMessage) Error() string { return string(m) }

// readAuthorizeParams reads the query (GET) or the form body (POST),
// separating oauthgate's own form fields from the OAuth parameters.
func readAuthorizeParams(w http.ResponseWriter, r *http.Request) (params, internal url.Values, err error) {
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost {
		body, rerr := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		if rerr != nil {
			return nil, nil, pageMessage("The request body is too large.")
		}
		mt := strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0])
		if !strings.EqualFold(mt, "application/x-www-form-urlencoded") {
			return nil, nil, pageMessage("The form must be sent as application/x-www-form-urlencoded.")
		}
		raw = string(body)
	}
	all, perr := url.ParseQuery(raw)
	if perr != nil {
		return nil, nil, pageMessage("The request parameters are malformed.")
	}
	params, internal = url.Values{}, url.Values{}
	for k, v := range all {
		if strings.HasPrefix(k, internalPrefix) {
			internal[k] = v
		} else {
			params[k] = v
		}
	}
	return params, internal, nil
}

// single returns the one value of k; ok is false when k is repeated.
func single(v url.Values, k string) (string, bool) {
	vals := v[k]
	if len(vals) > 1 {
		return "", false
	}
	if len(vals) == 0 {
		return "", true
	}
	return vals[0], true
}

// clientRefusal is the page for a client lookup (c, err) that gave no
// usable client, nil when it did: a metadata document refused (400) or not
// fetched for now (429, Retry-After), the registry unreachable (503), an
// unknown or disabled client (400).
func clientRefusal(c *Client, err error) *refusal {
	if de := (*DocumentError)(nil); errors.As(err, &de) {
		if de.RetryAfter > 0 {
			return &refusal{status: http.StatusTooManyRequests, retryAfter: de.RetryAfter, title: "Try again shortly",
				msg: "The application's client metadata document could not be fetched now: " + de.Reason + "."}
		}
		return badRequest("Application not accepted", "The application's client metadata document was refused: "+de.Reason+".")
	}
	if err != nil && !errors.Is(err, ErrUnknownClient) {
		return &refusal{status: http.StatusServiceUnavailable, title: "Temporarily unavailable",
			msg: "The client registry cannot be reached. Try again later."}
	}
	if c == nil || c.Disabled {
		return badRequest("Unknown application", "The application that sent you here is not registered or is disabled.")
	}
	return nil
}

// validateClient checks what must be right before anything may be
// redirected: the client and the redirect URI (CONFORMANCE A1, A2).
func (a *authorizer) validateClient(ctx context.Context, params url.Values) (*authRequest, *refusal) {
	id, ok := single(params, "client_id")
	if !ok || id == "" {
		return nil, badRequest("Invalid request", "The request has no valid client_id.")
	}
	c, err := a.s.registry.Client(ctx, id)
	if refused := clientRefusal(c, err); refused != nil {
		return nil, refused
	}
	ru, ok := single(params, "redirect_uri")
	if !ok {
		return nil, badRequest("Invalid request", "The request has more than one redirect_uri.")
	}
	req := &authRequest{client: c, params: params}
	switch {
	case ru != "":
		if !MatchRedirectURI(c.RedirectURIs, ru) {
			return nil, badRequest("Invalid redirect URI", "The redirect URI of this request is not registered for the application.")
		}
		req.redirectURI, req.given = ru, true
	case len(c.RedirectURIs) == 1:
		req.redirectURI = c.RedirectURIs[0]
	default:
		return nil, badRequest("Invalid request", "The request must name its redirect_uri: the application has several registered.")
	}
	return req, nil
}

// validateRest checks everything that is answered by an error redirect.
func (a *authorizer) validateRest(req *authRequest) *Error {
	p := req.params
	req.state = p.Get("state")
	for _, k := range []string{"response_type", "scope", "state", "code_challenge", "code_challenge_method", "prompt",
		"nonce", "max_age", "login_hint"} {
		if _, ok := single(p, k); !ok {
			return ErrInvalidRequest.WithDescription(k + " is given more than once")
		}
	}
	rt := p.Get("response_type")
	switch {
	case rt == "":
		return ErrInvalidRequest.WithDescription("response_type is required")
	case rt != "code":
		return errUnsupportedResponseType
	case !req.client.AllowsGrant(GrantAuthorizationCode):
		return ErrUnauthorizedClient.WithDescription("the client is not allowed the authorization_code grant")
	}
	scopes, e := a.s.requestedScopes(req.client, Params{"scope": p.Get("scope")})
	if e != nil {
		return e
	}
	req.scopes = scopes
	if req.resources, e = a.s.requestedResources(p[ParamResource]); e != nil {
		return e
	}
	req.challenge, req.method = p.Get("code_challenge"), p.Get("code_challenge_method")
	if req.challenge != "" {
		if req.method == "" {
			req.method = PKCEPlain // RFC 7636 §4.3
		}
		switch {
		case req.method == PKCEPlain && (!a.s.cfg.PKCEAllowPlain || req.client.Registered):
			return ErrInvalidRequest.WithDescription("code_challenge_method plain is not allowed; use S256")
		case req.method != PKCES256 && req.method != PKCEPlain:
			return ErrInvalidRequest.WithDescription("unsupported code_challenge_method; use S256")
		case !validPKCEString(req.challenge):
			return ErrInvalidRequest.WithDescription("malformed code_challenge")
		}
	} else if req.method != "" {
		return ErrInvalidRequest.WithDescription("code_challenge_method without code_challenge")
	} else if req.client.Public || a.s.cfg.PKCEAllClients || req.client.Registered {
		return ErrInvalidRequest.WithDescription("code_challenge (PKCE, S256) is required")
	}
	req.prompt = map[string]bool{}
	for _, v := range strings.Fields(p.Get("prompt")) {
		req.prompt[v] = true
	}
	if req.prompt["none"] && len(req.prompt) > 1 {
		return ErrInvalidRequest.WithDescription("prompt=none cannot be combined with other values")
	}
	return a.validateOIDC(req)
}

var errUnsupportedResponseType = &Error{Code: "unsupported_response_type", Status: http.StatusBadRequest,
	Description: "only response_type=code is supported"}

// redirectTo sends the user back to the client with params, state and iss
// (CONFORMANCE A6).
func (a *authorizer) redirectTo(w http.ResponseWriter, r *http.Request, req *authRequest, v url.Values) {
	if req.state != "" {
		v.Set("state", req.state)
	}
	v.Set("iss", a.s.cfg.Issuer)
	noStore(w)
	http.Redirect(w, r, appendParams(req.redirectURI, v), http.StatusFound)
}

func (a *authorizer) redirectError(w http.ResponseWriter, r *http.Request, req *authRequest, e *Error) {
	a.s.cfg.Observe(Event{Kind: EventRefused, Grant: GrantAuthorizationCode, ClientID: req.client.ID, Error: e.Code, Reason: e.Description})
	if req.redirectURI == OOBRedirect {
		a.opts.Pages.errorPage(w, http.StatusBadRequest, "Authorization failed", e.Code+": "+e.Description)
		return
	}
	v := url.Values{"error": {e.Code}}
	if e.Description != "" {
		v.Set("error_description", e.Description)
	}
	a.redirectTo(w, r, req, v)
}

// hidden lists the OAuth parameters as hidden form fields, in a stable order.
func hidden(p url.Values) []map[string]string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []map[string]string
	for _, k := range keys {
		for _, v := range p[k] {
			out = append(out, map[string]string{"Name": k, "Value": v})
		}
	}
	return out
}

// authenticate establishes the resource owner (CONFORMANCE A8). done means
// a response was written (a page or a redirect).
func (a *authorizer) authenticate(w http.ResponseWriter, r *http.Request, req *authRequest, in url.Values) (subject, binding string, authTime time.Time, done bool) {
	now := a.s.cfg.Now()
	if a.opts.Login == LoginIdentity {
		if sub := a.opts.Identity(r); sub != "" {
			return sub, "", now, false
		}
		if req.prompt["none"] {
			a.redirectError(w, r, req, errLoginRequired)
			return "", "", now, true
		}
		a.opts.Pages.errorPage(w, http.StatusUnauthorized, "Sign-in required",
			"This server expects you to be signed in before authorizing applications, and you are not.")
		return "", "", now, true
	}
	if r.Method == http.MethodPost && in.Get("oauthgate_action") == "login" {
		return a.login(w, r, req, in)
	}
	sess, ok := a.s.signer.readSession(r, now)
	if ok && !(r.Method == http.MethodGet && a.reauthenticate(req, sess, now)) {
		return sess.Subject, sess.ID, time.Unix(sess.AuthTime, 0), false
	}
	if req.prompt["none"] {
		a.redirectError(w, r, req, errLoginRequired)
		return "", "", now, true
	}
	a.loginPage(w, r, req, http.StatusOK, "", "")
	return "", "", now, true
}

var (
	errLoginRequired   = &Error{Code: "login_required", Description: "the user is not signed in", Status: http.StatusBadRequest}
	errConsentRequired = &Error{Code: "consent_required", Description: "the user has not granted these scopes", Status: http.StatusBadRequest}
	errAccessDenied    = &Error{Code: "access_denied", Description: "the user denied the request", Status: http.StatusBadRequest}
)

// cookiePath scopes the sign-in cookies to where the browser sees this endpoint.
func (a *authorizer) cookiePath(r *http.Request) string {
	return cookiePath(a.opts.BrowserPath(r))
}

func (a *authorizer) loginPage(w http.ResponseWriter, r *http.Request, req *authRequest, status int, username, msg string) {
	browser := browserID(w, r, a.cookiePath(r), a.s.cfg.Rand)
	a.opts.Pages.render(w, status, "login.html", map[string]any{
		"Title": "Sign in", "ClientName": req.client.Name, "Params": hidden(req.params),
		"CSRF": a.s.signer.csrfToken(browser, "login"), "Username": cmp.Or(username, req.loginHint), "Error": msg,
	})
}

// login handles the login form's POST, throttled per (user, IP), per IP
// and, with delays only, per user.
func (a *authorizer) login(w http.ResponseWriter, r *http.Request, req *authRequest, in url.Values) (string, string, time.Time, bool) {
	now := a.s.cfg.Now()
	username, password := in.Get("oauthgate_username"), in.Get("oauthgate_password")
	browser := ""
	if c, err := r.Cookie(csrfCookie); err == nil {
		browser = c.Value
	}
	if !a.s.signer.checkCSRF(in.Get("oauthgate_csrf"), browser, "login") {
		a.loginPage(w, r, req, http.StatusBadRequest, username, "The sign-in form expired. Please try again.")
		return "", "", now, true
	}
	ip := a.opts.ClientIP(r)
	block := addressBlock(ip) // an IPv6 /64 is one source
	pairKey, ipKey, userKey := "user\x00"+throttleName(username)+"\x00"+block, "ip\x00"+block, "user\x00"+throttleName(username)
	// Names and passwords too long to be real still pay the bcrypt
	// comparison (of the decoy hash), so they are no cheaper to try.
	name := username
	if len(username) > 256 || len(password) > 1024 {
		name = ""
	}
	ok := false
	// The user's own delay holds up unknown sources only. A known address
	// is bounded by its pair's lock; a device cookie, which works from any
	// address, by a lock of its own. Their failures still count toward the
	// user's delay for everyone else.
	ks := []throttled{{a.byUserIP, pairKey}, {a.byIP, ipKey}}
	known := a.known.has(pairKey)
	if nonce, isDevice := a.knownDevice(r, username, now); !known && isDevice {
		// A copy of the cookie that failed too often is an unknown
		// source's again.
		if deviceKey := "device\x00" + nonce; !a.byDevice.locked(deviceKey) {
			ks, known = append(ks, throttled{a.byDevice, deviceKey}), true
		}
	}
	if !known {
		ks = append(ks, throttled{a.byUser, userKey})
	}
	if wait, blocked := attemptAll(ks, func() bool {
		ok = a.s.cfg.Users.Authenticate(name, password) && name != ""
		return !ok
	}); blocked {
		a.tooMany(w, wait)
		return "", "", now, true
	}
	if !ok && known {
		a.byUser.Fail(userKey)
	}
	if !ok {
		a.s.cfg.Observe(Event{Kind: EventLoginFailed, ClientID: req.client.ID, Subject: truncate(username, 256), Address: ip, Reason: "wrong username or password"})
		a.loginPage(w, r, req, http.StatusUnauthorized, username, "Wrong username or password.")
		return "", "", now, true
	}
	// The user's own counter stays: a success must not wipe what others'
	// guesses cost the account.
	a.byUserIP.Reset(pairKey)
	a.known.add(pairKey)
	sid, err := newID(a.s.cfg.Rand)
	nonce, err2 := newID(a.s.cfg.Rand)
	if err != nil || err2 != nil {
		a.opts.Pages.errorPage(w, http.StatusInternalServerError, "Error", "Could not start a session.")
		return "", "", now, true
	}
	setCookie(w, r, a.cookiePath(r), deviceCookie, a.s.signer.seal("device", device{User: a.deviceUser(username), Nonce: nonce,
		Expires: now.Add(knownFor).Unix()}), knownFor)
	sess := session{Subject: username, ID: sid, AuthTime: now.Unix(), Expires: now.Add(a.s.cfg.SessionTTL).Unix()}
	setCookie(w, r, a.cookiePath(r), sessionCookie, a.s.signer.seal("session", sess), a.s.cfg.SessionTTL)
	return username, sid, now, false
}

// device is the device cookie's value: a browser in which the user
// signed in (by a keyed digest of the name, which the cookie does not
// show), until Expires; Nonce names this cookie for its own lock.
type device struct {
	User    string `json:"u"`
	Nonce   string `json:"n"`
	Expires int64  `json:"e"`
}

// knownDevice returns the nonce of r's device cookie when it is one of a
// browser in which username signed in lately (sealed by this server).
func (a *authorizer) knownDevice(r *http.Request, username string, now time.Time) (string, bool) {
	c, err := r.Cookie(deviceCookie)
	var d device
	if err != nil || !a.s.signer.open("device", c.Value, &d) || now.Unix() >= d.Expires || d.User != a.deviceUser(username) || d.Nonce == "" {
		return "", false
	}
	return d.Nonce, true
}

func (a *authorizer) deviceUser(username string) string {
	return b64.EncodeToString(a.s.signer.mac("device-user", username)[:16])
}

func (a *authorizer) tooMany(w http.ResponseWriter, wait time.Duration) {
	a.opts.Pages.refuse(w, &refusal{status: http.StatusTooManyRequests, retryAfter: wait, title: "Too many attempts",
		msg: fmt.Sprintf("Too many failed sign-ins. Try again in %d seconds.", int(wait/time.Second)+1)}, "")
}

// consent asks for, remembers or skips consent, then issues the code
// (CONFORMANCE A9, A10).
func (a *authorizer) consent(w http.ResponseWriter, r *http.Request, req *authRequest, in url.Values, subject, binding string, authTime time.Time) {
	ctx := r.Context()
	store := a.s.cfg.Store
	action := in.Get("oauthgate_action")
	if r.Method == http.MethodPost && (action == "allow" || action == "deny") {
		browser := ""
		if c, err := r.Cookie(csrfCookie); err == nil {
			browser = c.Value
		}
		if !a.s.signer.checkCSRF(in.Get("oauthgate_csrf"), browser, "consent", binding, subject, req.client.ID) {
			a.consentPage(w, r, req, subject, binding, http.StatusBadRequest)
			return
		}
		if action == "deny" {
			a.redirectError(w, r, req, errAccessDenied)
			return
		}
		granted := req.scopes
		if prev, err := store.GetConsent(ctx, subject, req.client.ID); err == nil {
			granted = union(prev, req.scopes)
		}
		if err := store.PutConsent(ctx, subject, req.client.ID, granted, a.s.cfg.Now().Add(a.s.cfg.ConsentTTL)); err != nil {
			a.redirectError(w, r, req, ErrTemporarilyUnavailable.WithDescription("the consent could not be saved"))
			return
		}
		a.issueCode(w, r, req, subject, authTime)
		return
	}
	if !req.prompt["consent"] {
		prev, err := store.GetConsent(ctx, subject, req.client.ID)
		switch {
		case err == nil && subset(req.scopes, prev):
			a.issueCode(w, r, req, subject, authTime)
			return
		case err != nil && !errors.Is(err, tokenstore.ErrNotFound):
			a.redirectError(w, r, req, ErrTemporarilyUnavailable.WithDescription("the token store is unavailable"))
			return
		}
	}
	if req.prompt["none"] {
		a.redirectError(w, r, req, errConsentRequired)
		return
	}
	a.consentPage(w, r, req, subject, binding, http.StatusOK)
}

func (a *authorizer) consentPage(w http.ResponseWriter, r *http.Request, req *authRequest, subject, binding string, status int) {
	browser := browserID(w, r, a.cookiePath(r), a.s.cfg.Rand)
	scopes := make([]Scope, 0, len(req.scopes))
	for _, name := range req.scopes {
		sc, _ := a.s.cfg.Scopes.Lookup(name)
		scopes = append(scopes, sc)
	}
	host := ""
	if u, err := url.Parse(req.redirectURI); err == nil {
		host = u.Host
	}
	a.opts.Pages.render(w, status, "consent.html", map[string]any{
		"Title": "Authorize " + req.client.Name, "ClientName": req.client.Name, "ClientID": req.client.ID,
		"Subject": subject, "Scopes": scopes, "RedirectHost": host, "Resources": req.resources, "Params": hidden(req.params),
		"CSRF": a.s.signer.csrfToken(browser, "consent", binding, subject, req.client.ID),

		"Registered": req.client.Registered, "DocumentHost": req.client.DocumentHost,
		"ClientURI": req.client.ClientURI, "LogoURI": req.client.LogoURI,
	})
}

// issueCode stores a single-use code bound to everything the token request
// must match, and sends it to the client (CONFORMANCE A3, A11).
func (a *authorizer) issueCode(w http.ResponseWriter, r *http.Request, req *authRequest, subject string, authTime time.Time) {
	now := a.s.cfg.Now()
	code, err := NewOpaqueToken(a.s.cfg.Rand, PrefixCode)
	fam, ferr := newID(a.s.cfg.Rand)
	if err != nil || ferr != nil {
		a.redirectError(w, r, req, ErrServerError.WithDescription("could not issue a code"))
		return
	}
	if e := a.openIDCode(r, req, subject); e != nil {
		a.redirectError(w, r, req, e)
		return
	}
	payload, _ := json.Marshal(codePayload{RedirectURI: req.redirectURI, Given: req.given, Challenge: req.challenge, Method: req.method,
		Nonce: req.nonce})
	g := tokenstore.Grant{ClientID: req.client.ID, Subject: subject, Scopes: req.scopes, Audience: req.resources, IssuedAt: now,
		ExpiresAt: now.Add(a.s.cfg.CodeTTL), FamilyID: fam, AuthTime: authTime}
	if err := a.s.cfg.Store.PutCode(r.Context(), tokenstore.KeyOf(code), g, payload); err != nil {
		e := ErrTemporarilyUnavailable.WithDescription("the token store is unavailable")
		if errors.Is(err, tokenstore.ErrFull) {
			e = errStoreFull
		}
		a.redirectError(w, r, req, e)
		return
	}
	a.s.cfg.Observe(Event{Kind: EventCodeIssued, Grant: GrantAuthorizationCode, ClientID: req.client.ID, Subject: subject, Scopes: req.scopes})
	if req.redirectURI == OOBRedirect {
		a.opts.Pages.render(w, http.StatusOK, "oob.html", map[string]any{
			"Title": "Authorization code", "ClientName": req.client.Name, "Code": code,
			"ExpiresIn": a.s.cfg.CodeTTL.String(),
		})
		return
	}
	a.redirectTo(w, r, req, url.Values{"code": {code}})
}

func subset(want, have []string) bool {
	for _, s := range want {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

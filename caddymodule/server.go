// The oauthgate_server handler: the OAuth endpoints and metadata served from authz.Server.

package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

func init() {
	caddy.RegisterModule(ServerHandler{})
}

// ServerHandler is the `oauthgate_server` handler: it serves the
// authorization server's endpoints — /oauth/authorize, /oauth/token,
// /oauth/revoke, /oauth/introspect, /oauth/jwks and the RFC 8414 metadata at
// /.well-known/oauth-authorization-server and
// /.well-known/openid-configuration — and passes every other request to the
// next handler. (authz.Server is the OAuth core it serves them from.)
type ServerHandler struct {
	// Login selects how users sign in at /oauth/authorize: "form" (default,
	// the built-in login page against the app's users) or "identity" (trust
	// a preceding Caddy auth handler; see Identity).
	Login string `json:"login,omitempty"`
	// Identity is the placeholder holding the signed-in user for
	// login identity (default "{http.auth.user.id}", set by basic_auth and
	// forward_auth's copy_headers).
	Identity string `json:"identity,omitempty"`
	// IdentityClaims, for login identity, are the OpenID Connect claims
	// of the signed-in user by claim name (name, preferred_username, email,
	// email_verified), each a placeholder the handler in front sets, e.g.
	// {"email": "{http.request.header.Remote-Email}"}.
	IdentityClaims map[string]string `json:"identity_claims,omitempty"`
	// Templates is a directory whose login.html, consent.html, error.html,
	// oob.html or base.html replace the built-in pages.
	Templates string `json:"templates,omitempty"`
	// CORS opens the token, revocation, introspection, JWKS and discovery
	// endpoints to browser clients on other origins (CONFORMANCE C2). The
	// authorization endpoint is a page users navigate to: no CORS there.
	CORS *CORS `json:"cors,omitempty"`

	oauth     *authz.Server
	authorize http.Handler
	app       *App
	logout    http.Handler
}

// CaddyModule returns the Caddy module information.
func (ServerHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.oauthgate_server",
		New: func() caddy.Module { return new(ServerHandler) },
	}
}

// Provision reaches the oauthgate app.
func (s *ServerHandler) Provision(ctx caddy.Context) error {
	app, err := oauthgateApp(ctx)
	if err != nil {
		return err
	}
	s.oauth, s.app = app.Server(), app
	if s.CORS != nil {
		if err := s.CORS.provision(); err != nil {
			return fmt.Errorf("oauthgate_server: %v", err)
		}
	}
	if s.oauth == nil {
		return nil // a pure gateway: only the RFC 9728 documents
	}
	pages, err := authz.LoadPages(s.Templates)
	if err != nil {
		return fmt.Errorf("oauthgate_server: %v", err)
	}
	opts := authz.AuthorizeOptions{Pages: pages, ClientIP: s.app.clientIP, BrowserPath: browserPath}
	switch s.Login {
	case "", "form":
		if len(s.IdentityClaims) > 0 {
			return errors.New("oauthgate_server: identity_claims need `login identity`; with the login form the claims are in the users block")
		}
		if app.users == 0 && app.hasAuthCodeClients() {
			ctx.Logger().Warn("login form without users: add a `users { name hash }` block to the oauthgate option, or use `login identity`")
		}
	case "identity":
		if s.Identity == "" {
			s.Identity = "{http.auth.user.id}"
		}
		opts.Login = authz.LoginIdentity
		opts.Identity = func(r *http.Request) string {
			repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
			return repl.ReplaceAll(s.Identity, "")
		}
		if opts.IdentityClaims, err = identityClaims(s.IdentityClaims); err != nil {
			return fmt.Errorf("oauthgate_server: %v", err)
		}
	default:
		return fmt.Errorf("oauthgate_server: login %q is not known: use `login form` or `login identity {http.auth.user.id}`", s.Login)
	}
	s.authorize, err = s.oauth.AuthorizeHandler(opts)
	if err != nil {
		return fmt.Errorf("oauthgate_server: %v", err)
	}
	if s.logout, err = s.oauth.LogoutHandler(opts); err != nil {
		return fmt.Errorf("oauthgate_server: %v", err)
	}
	return nil
}

// clientIP is Caddy's view of the client address (trusted_proxies
// applied), which every per-address limit counts. Behind a trusted proxy
// without trusted_proxies_strict, Caddy takes the left-most
// X-Forwarded-For entry — one the client writes itself — so a client could
// escape its own limits and have someone else's address locked: that is
// logged once per config, naming the fix.
func (a *App) clientIP(r *http.Request) string {
	ctx := r.Context()
	if trusted, _ := caddyhttp.GetVar(ctx, caddyhttp.TrustedProxyVarKey).(bool); trusted && !a.proxyWarned.Load() {
		if srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && srv.TrustedProxiesStrict == 0 && a.proxyWarned.CompareAndSwap(false, true) {
			a.logger.Warn("a request came through a trusted proxy, and the server takes the client address from the left-most " +
				"X-Forwarded-For entry, which the client chooses: oauthgate's per-address limits (sign-in, client authentication, " +
				"registration, introspection) would count an address of the client's choosing; add `trusted_proxies_strict` " +
				"to the server's options (global `servers { … }`) so that the right-most address not of a trusted proxy is used")
		}
	}
	if ip, ok := caddyhttp.GetVar(ctx, caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	return r.RemoteAddr
}

// browserPath is the request's path as the browser sent it: Caddy keeps the
// original request ({http.request.orig_uri}) through rewrite and handle_path.
func browserPath(r *http.Request) string {
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		return orig.URL.EscapedPath()
	}
	return r.URL.EscapedPath()
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (s *ServerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if strings.HasPrefix(r.URL.Path, pathResourceMetadata) && (s.CORS.apply(w, r) || s.app.serveResourceMetadata(w, r)) {
		return nil
	}
	if s.oauth == nil {
		return next.ServeHTTP(w, r)
	}
	path := s.oauth.EndpointPath(r.URL.Path)
	switch path {
	case authz.PathAuthorize:
		s.authorize.ServeHTTP(w, r)
		return nil
	case authz.PathLogout:
		s.logout.ServeHTTP(w, r)
		return nil
	}
	if h := s.oauth.Handler(path); h != nil {
		if !s.CORS.apply(w, r) {
			h.ServeHTTP(w, r)
		}
		return nil
	}
	return next.ServeHTTP(w, r)
}

// oauthgateApp loads the app, naming the global option when it is missing or broken.
func oauthgateApp(ctx caddy.Context) (*App, error) {
	v, err := ctx.AppIfConfigured("oauthgate")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return nil, errors.New("the oauthgate handlers need the oauthgate app: add an `oauthgate { issuer … }` block to the Caddyfile's global options")
	}
	if err != nil {
		return nil, err
	}
	return v.(*App), nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*ServerHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*ServerHandler)(nil)
)

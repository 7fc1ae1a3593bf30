package caddymodule

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

func init() {
	caddy.RegisterModule(Server{})
}

// Server is the `oauthgate_server` handler: it serves the authorization
// server's endpoints (/oauth/token, /oauth/jwks, the RFC 8414 metadata) and
// passes every other request to the next handler.
type Server struct {
	oauth *authz.Server
}

// CaddyModule returns the Caddy module information.
func (Server) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.oauthgate_server",
		New: func() caddy.Module { return new(Server) },
	}
}

// Provision reaches the oauthgate app.
func (s *Server) Provision(ctx caddy.Context) error {
	app, err := oauthgateApp(ctx)
	if err != nil {
		return err
	}
	s.oauth = app.Server()
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h := s.oauth.Handler(r.URL.Path); h != nil {
		h.ServeHTTP(w, r)
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
	_ caddy.Provisioner           = (*Server)(nil)
	_ caddyhttp.MiddlewareHandler = (*Server)(nil)
)

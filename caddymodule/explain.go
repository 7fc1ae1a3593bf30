// `caddy oauthgate explain`: walking a config's routes for one request and telling what oauthgate would do.

package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/oauthgate/caddy-oauthgate/authz"
	"github.com/oauthgate/caddy-oauthgate/tokenstore/memory"
)

// explainer walks a provisioned config's routes for one request, the way
// Caddy would, and tells what oauthgate would do with it.
type explainer struct {
	out   io.Writer
	req   *http.Request
	depth int
	token string
	live  liveCheck
}

// liveCheck asks the running instance (its admin API) what it says of a
// token; nil when there is none to ask.
type liveCheck func(token string) (map[string]any, error)

// Explain prints which oauthgate_protect handlers apply to METHOD URL under
// the config, the scopes they require, the CORS outcome for origin, and —
// with a token — whether the request would pass and what the upstream would
// receive. The config is provisioned, not started: no listener opens.
func Explain(out io.Writer, cfgJSON []byte, method, target, token, origin string) error {
	return explain(out, cfgJSON, method, target, token, origin, nil)
}

// explain is Explain that, for a config whose store lives in the gateway's
// process (memory), asks the running gateway through live.
func explain(out io.Writer, cfgJSON []byte, method, target, token, origin string, live liveCheck) error {
	var cfg caddy.Config
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return err
	}
	cfg.Admin = &caddy.AdminConfig{Disabled: true}
	// Provisioned, never started or cleaned up: this runs in a short-lived
	// CLI process.
	ctx, err := caddy.ProvisionContext(&cfg)
	if err != nil {
		return fmt.Errorf("provisioning the config: %v", err)
	}
	httpApp, err := ctx.AppIfConfigured("http")
	if err != nil {
		return errors.New("the config has no http app")
	}
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", target)
	}
	srvName, srv := serverFor(httpApp.(*caddyhttp.App), u)
	if srv == nil {
		return fmt.Errorf("no server of the config listens on the port of %s", target)
	}
	req := httptest.NewRequest(method, target, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	repl := caddyhttp.NewTestReplacer(req)
	req = caddyhttp.PrepareRequest(req, repl, httptest.NewRecorder(), srv)
	fmt.Fprintf(out, "%s %s\nserver %s (listen %s)\n", method, target, srvName, strings.Join(srv.Listen, " "))
	e := &explainer{out: out, req: req, token: token, live: live}
	if !e.walk(srv.Routes) {
		e.line("no handler answers: Caddy would reply with an empty 200")
	}
	return nil
}

// serverFor picks the server listening on the URL's port.
func serverFor(app *caddyhttp.App, u *url.URL) (string, *caddyhttp.Server) {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	names := make([]string, 0, len(app.Servers))
	for name := range app.Servers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, l := range app.Servers[name].Listen {
			addr, err := caddy.ParseNetworkAddress(l)
			if err != nil {
				continue
			}
			for p := addr.StartPort; p <= addr.EndPort; p++ {
				if fmt.Sprint(p) == port {
					return name, app.Servers[name]
				}
			}
		}
	}
	return "", nil
}

func (e *explainer) line(format string, args ...any) {
	fmt.Fprintf(e.out, "%s%s\n", strings.Repeat("  ", e.depth+1), fmt.Sprintf(format, args...))
}

// walk follows the routes; it reports whether a handler answered. Routes of
// one group (a `handle` block, for instance) exclude each other: only the
// first that matches runs, as in Caddy's own RouteList.
func (e *explainer) walk(routes caddyhttp.RouteList) bool {
	groups := map[string]bool{}
	for i, route := range routes {
		if route.Group != "" && groups[route.Group] {
			continue
		}
		if ok, err := route.MatcherSets.AnyMatchWithError(e.req); err != nil || !ok {
			continue
		}
		if route.Group != "" {
			groups[route.Group] = true
		}
		for _, h := range route.Handlers {
			switch h := h.(type) {
			case *caddyhttp.Subroute:
				e.line("route %d: subroute", i+1)
				e.depth++
				done := e.walk(h.Routes)
				e.depth--
				if done {
					return true
				}
			case *Protect:
				if !e.protect(i, h) {
					return true
				}
			case *ServerHandler:
				if h.oauth != nil && h.oauth.EndpointPath(e.req.URL.Path) != "" ||
					strings.HasPrefix(e.req.URL.Path, pathResourceMetadata) && h.app.serveResourceMetadata(httptest.NewRecorder(), e.req) {
					e.line("route %d: answered by oauthgate_server (%s)", i+1, e.req.URL.Path)
					return true
				}
				e.line("route %d: oauthgate_server passes it on", i+1)
			default:
				name := "handler"
				if m, ok := h.(caddy.Module); ok {
					name = string(m.CaddyModule().ID)
				}
				if isTerminal(name) {
					e.line("route %d: answered by %s", i+1, strings.TrimPrefix(name, "http.handlers."))
					return true
				}
				e.line("route %d: passes through %s", i+1, strings.TrimPrefix(name, "http.handlers."))
			}
		}
		if route.Terminal {
			return true
		}
	}
	return false
}

func isTerminal(id string) bool {
	switch strings.TrimPrefix(id, "http.handlers.") {
	case "reverse_proxy", "static_response", "file_server", "error", "copy_response", "acme_server", "metrics":
		return true
	}
	return false
}

// protect explains one oauthgate_protect; it reports whether the request
// goes on past it.
func (e *explainer) protect(i int, p *Protect) bool {
	mode := "all of"
	if p.Any {
		mode = "any of"
	}
	req := "any valid token"
	if len(p.Scopes) > 0 {
		req = mode + " [" + strings.Join(p.Scopes, " ") + "]"
	}
	if len(p.Audience) > 0 {
		req += ", audience one of [" + strings.Join(p.Audience, " ") + "]"
	} else if p.app.server != nil {
		req += ", any audience this server issues (no `audience` set)"
	}
	req += routeTrust(p)
	e.line("route %d: oauthgate_protect requires %s%s", i+1, req, map[bool]string{true: " (report_only)"}[p.ReportOnly])
	e.depth++
	defer func() { e.depth-- }()
	origin := e.req.Header.Get("Origin")
	switch {
	case p.CORS == nil:
		e.line("CORS: not configured (no CORS headers)")
	case origin == "":
		e.line("CORS: configured for %s; no --origin given", strings.Join(p.CORS.Origins, " "))
	case p.CORS.c.OriginAllowed(e.req):
		e.line("CORS: origin %s allowed; its preflights are answered 204 before the token check", origin)
	default:
		e.line("CORS: origin %s NOT allowed: no CORS headers, browsers block the response", origin)
	}
	if e.req.Header.Get("Authorization") == "" {
		e.line("without a token: 401, WWW-Authenticate: %s", p.withResourceMetadata(authz.Challenge(p.Realm, nil, nil)))
		return p.ReportOnly
	}
	id, status, aerr := p.decide(e.req)
	if aerr != nil {
		e.line("token: REFUSED %d %s (%s): %s%s", status, aerr.Code, aerr.Reason, aerr.Description, decidedBy(p.app, aerr))
		if l := p.app.issuerLabel(aerr.Issuer); l == "self" || l == "none" {
			e.storeLine(p.app)
		}
		return p.ReportOnly
	}
	e.line("token: ALLOWED (subject %s, client %s, scope %q)", id.Subject, id.ClientID, strings.Join(id.Scopes, " "))
	e.explainIssuer(p, id)
	if p.app.principalLabel(id) == "self" {
		e.storeLine(p.app)
	}
	caddyhttp.SetVar(e.req.Context(), identityVar, id)
	before := e.req.Header.Clone()
	p.forward(e.req, id)
	var names []string
	for k := range e.req.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if strings.HasPrefix(k, p.HeaderPrefix) {
			e.line("upstream header %s: %s", k, e.req.Header.Get(k))
		}
	}
	if before.Get("Authorization") != "" && e.req.Header.Get("Authorization") == "" {
		e.line("upstream header Authorization: removed (pass_authorization is off)")
	}
	return true
}

// storeLine says whose store the answer above consulted. A Redis store is
// the running gateways' own; a memory store provisioned here is empty, so
// revocations and dynamic clients of the running gateway are asked of its
// admin API when possible — or the answer says plainly it could not be.
func (e *explainer) storeLine(app *App) {
	if app.store == nil {
		return // a pure gateway (trust only): no store of its own
	}
	if _, inProcess := app.store.(measuredStore).s.(*memory.Store); !inProcess {
		e.line("store: the configured shared store was consulted (revocations, dynamic clients)")
		return
	}
	if e.live == nil {
		e.line("store: memory, provisioned here and empty: the running gateway's revocations and dynamic clients were NOT consulted")
		return
	}
	res, err := e.live(e.token)
	switch {
	case err != nil:
		e.line("running gateway: NOT consulted (%v): its revocations and dynamic clients are unknown to this answer", err)
	case res["active"] == true:
		e.line("running gateway (admin API): ACTIVE (subject %v, client %v)", res["subject"], res["client_id"])
	default:
		e.line("running gateway (admin API): REFUSED %v (%v): %v", res["error"], res["reason"], res["description"])
	}
}

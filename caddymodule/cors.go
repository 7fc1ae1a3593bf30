// The `cors { … }` block of both oauthgate handlers, through rs/cors, and its Caddyfile parsing.

package caddymodule

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/rs/cors"
)

// CORS is the `cors { … }` block of both oauthgate handlers (CONFORMANCE C1,
// C2, R8). Off unless configured. The header logic is rs/cors — a well-kept
// library whose origin patterns, preflight checks and Vary handling are
// tested far beyond what we would write — used through its HandlerFunc,
// which fits Caddy's handler model: it only sets headers (and, for a
// preflight, the status), so the oauthgate handler decides what comes next.
type CORS struct {
	// Origins allowed: exact ("https://app.example.com") or with one
	// wildcard ("https://*.example.com"); "*" for any (not with credentials).
	Origins []string `json:"origins,omitempty"`
	// Methods allowed (default GET, HEAD, POST, PUT, PATCH, DELETE).
	Methods []string `json:"methods,omitempty"`
	// Headers the browser may send (default Authorization, Content-Type,
	// Accept, plus the handler's token_header).
	Headers []string `json:"headers,omitempty"`
	// Expose lists response headers scripts may read, besides
	// WWW-Authenticate, which is always exposed: a browser app needs the
	// 401/403 challenge (invalid_token, insufficient_scope) to react.
	Expose []string `json:"expose,omitempty"`
	// Credentials allows cookies and HTTP auth on cross-origin requests.
	Credentials bool `json:"credentials,omitempty"`
	// MaxAge is how long browsers may cache a preflight answer.
	MaxAge caddy.Duration `json:"max_age,omitempty"`

	c *cors.Cors
}

// provision validates the block and builds the rs/cors handler; extraHeaders
// are allowed in addition to the defaults.
func (c *CORS) provision(extraHeaders ...string) error {
	if len(c.Origins) == 0 {
		return errors.New("cors: list the allowed origins, e.g. `origins https://app.example.com`")
	}
	if c.Credentials && slices.Contains(c.Origins, "*") {
		return errors.New("cors: `origins *` with `credentials` would let every site act with the user's credentials; list the origins")
	}
	for _, o := range c.Origins {
		if o != "*" && (!strings.Contains(o, "://") || strings.Count(o, "*") > 1 || strings.HasSuffix(o, "/")) {
			return errors.New("cors: origin " + o + " must look like https://app.example.com or https://*.example.com")
		}
	}
	methods := c.Methods
	if len(methods) == 0 {
		methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	}
	headers := c.Headers
	if len(headers) == 0 {
		headers = []string{"Authorization", "Content-Type", "Accept"}
	}
	for _, h := range extraHeaders {
		if h != "" {
			headers = append(headers, h)
		}
	}
	expose := slices.Clone(c.Expose)
	if !slices.ContainsFunc(expose, func(h string) bool { return strings.EqualFold(h, "WWW-Authenticate") }) {
		expose = append(expose, "WWW-Authenticate")
	}
	c.c = cors.New(cors.Options{
		AllowedOrigins:   c.Origins,
		AllowedMethods:   methods,
		AllowedHeaders:   headers,
		ExposedHeaders:   expose,
		AllowCredentials: c.Credentials,
		MaxAge:           int(time.Duration(c.MaxAge) / time.Second),
	})
	return nil
}

// isPreflight reports a CORS preflight request.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// apply sets the CORS headers of r's answer. For a preflight it also writes
// the 204 and reports done: nothing else may run (no token check, no
// upstream). Without a cors block it does nothing.
func (c *CORS) apply(w http.ResponseWriter, r *http.Request) (done bool) {
	if c == nil || c.c == nil {
		return false
	}
	if isPreflight(r) {
		c.c.HandlerFunc(w, r) // headers and 204
		return true
	}
	c.c.HandlerFunc(w, r)
	return false
}

// parseCORS reads a cors block:
//
//	cors {
//		origins <origin…>
//		methods <method…>
//		headers <header…>
//		expose <header…>
//		credentials
//		max_age <duration>
//	}
func parseCORS(d *caddyfile.Dispenser) (*CORS, error) {
	c := new(CORS)
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		dir := d.Val()
		switch dir {
		case "origins", "methods", "headers", "expose":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			list := map[string]*[]string{"origins": &c.Origins, "methods": &c.Methods, "headers": &c.Headers, "expose": &c.Expose}[dir]
			*list = append(*list, args...)
		case "credentials":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			c.Credentials = true
		case "max_age":
			dur, err := parseDuration(d)
			if err != nil {
				return nil, err
			}
			c.MaxAge = dur
		default:
			return nil, d.Errf("unrecognized cors option %q", dir)
		}
	}
	return c, nil
}

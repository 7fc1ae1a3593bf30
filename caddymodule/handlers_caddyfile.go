// The Caddyfile directives oauthgate_server and oauthgate_protect and their parsing.

package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("oauthgate_server", parseServer)
	httpcaddyfile.RegisterHandlerDirective("oauthgate_protect", parseProtect)
	// After basic_auth / forward_auth, so those can log users in for
	// /oauth/authorize; protect right after the server, before request
	// rewriting and the handlers that answer.
	httpcaddyfile.RegisterDirectiveOrder("oauthgate_protect", httpcaddyfile.After, "forward_auth")
	httpcaddyfile.RegisterDirectiveOrder("oauthgate_server", httpcaddyfile.After, "forward_auth")
}

// parseServer parses `oauthgate_server`.
func parseServer(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(ServerHandler)
	return s, s.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	oauthgate_server {
//		login form|identity [<placeholder>] [{ claim <name> <placeholder> … }]
//		templates <dir>
//		cors { … }
//	}
func (s *ServerHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "login":
			args := d.RemainingArgs()
			switch {
			case len(args) == 1 && args[0] == "form":
			case len(args) >= 1 && len(args) <= 2 && args[0] == "identity":
				if len(args) == 2 {
					s.Identity = args[1]
				}
				if err := s.parseIdentityClaims(d); err != nil {
					return err
				}
			default:
				return d.Errf("usage: login form | login identity [{http.auth.user.id}]")
			}
			s.Login = args[0]
		case "templates":
			if !d.AllArgs(&s.Templates) {
				return d.ArgErr()
			}
		case "cors":
			c, err := parseCORS(d)
			if err != nil {
				return err
			}
			s.CORS = c
		default:
			return d.Errf("unrecognized oauthgate_server option %q", d.Val())
		}
	}
	return nil
}

// parseProtect parses `oauthgate_protect`.
func parseProtect(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	p := new(Protect)
	return p, p.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	oauthgate_protect [<matcher>] [<scope>…] {
//		any
//		audience <aud…>
//		token_header <name>
//		allow_query_token
//		pass_authorization
//		header_prefix <prefix>
//		realm <realm>
//		report_only
//		issuers <issuer…|self>
//		resource <uri>
//		resource_name <name>
//		cors { … }
//	}
func (p *Protect) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name (the matcher was taken by the helper)
	p.Scopes = d.RemainingArgs()
	for d.NextBlock(0) {
		switch d.Val() {
		case "any":
			if d.NextArg() {
				return d.ArgErr()
			}
			p.Any = true
		case "audience":
			p.Audience = append(p.Audience, d.RemainingArgs()...)
			if len(p.Audience) == 0 {
				return d.ArgErr()
			}
		case "token_header":
			if !d.AllArgs(&p.TokenHeader) {
				return d.ArgErr()
			}
		case "allow_query_token":
			if d.NextArg() {
				return d.ArgErr()
			}
			p.AllowQueryToken = true
		case "pass_authorization":
			if d.NextArg() {
				return d.ArgErr()
			}
			p.PassAuthorization = true
		case "header_prefix":
			if !d.AllArgs(&p.HeaderPrefix) {
				return d.ArgErr()
			}
		case "realm":
			if !d.AllArgs(&p.Realm) {
				return d.ArgErr()
			}
		case "report_only":
			if d.NextArg() {
				return d.ArgErr()
			}
			p.ReportOnly = true
		case "issuers":
			p.Issuers = append(p.Issuers, d.RemainingArgs()...)
			if len(p.Issuers) == 0 {
				return d.ArgErr()
			}
		case "resource", "resource_name":
			v := &p.Resource
			if d.Val() == "resource_name" {
				v = &p.ResourceName
			}
			if !d.AllArgs(v) {
				return d.ArgErr()
			}
		case "cors":
			c, err := parseCORS(d)
			if err != nil {
				return err
			}
			p.CORS = c
		default:
			return d.Errf("unrecognized oauthgate_protect option %q", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*ServerHandler)(nil)
	_ caddyfile.Unmarshaler = (*Protect)(nil)
)

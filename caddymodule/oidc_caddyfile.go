package caddymodule

import (
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

// parseUserClaims parses an account's optional claims block in `users`:
//
//	alice <bcrypt hash> {
//		name "Alice Example"
//		email alice@example.com
//		email_verified
//	}
func parseUserClaims(d *caddyfile.Dispenser, app *App, user string) error {
	var c UserClaimsConfig
	seen := false
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		seen = true
		switch dir := d.Val(); dir {
		case "name", "email":
			var v string
			if !d.AllArgs(&v) {
				return d.Errf("usage inside user %s: %s <value>", user, dir)
			}
			if dir == "name" {
				c.Name = v
			} else {
				c.Email = v
			}
		case "email_verified":
			if d.NextArg() {
				return d.ArgErr()
			}
			c.EmailVerified = true
		default:
			return d.Errf("unrecognized claim %q for user %s: use name, email or email_verified", dir, user)
		}
	}
	if seen {
		if app.UserClaims == nil {
			app.UserClaims = map[string]UserClaimsConfig{}
		}
		app.UserClaims[user] = c
	}
	return nil
}

// parseIdentityClaims parses `login identity <placeholder> { claim <name> <placeholder> … }`.
func (s *ServerHandler) parseIdentityClaims(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() != "claim" {
			return d.Errf("unrecognized login identity option %q: use `claim <name> <placeholder>`", d.Val())
		}
		var name, ph string
		if !d.AllArgs(&name, &ph) {
			return d.Errf("usage: claim <name> <placeholder>, e.g. claim email {http.request.header.Remote-Email}")
		}
		if !slices.Contains(authz.ClaimNames, name) {
			return d.Errf("claim %q is not known; use %s", name, strings.Join(authz.ClaimNames, ", "))
		}
		if s.IdentityClaims == nil {
			s.IdentityClaims = map[string]string{}
		}
		if _, dup := s.IdentityClaims[name]; dup {
			return d.Errf("claim %q is given twice", name)
		}
		s.IdentityClaims[name] = ph
	}
	return nil
}

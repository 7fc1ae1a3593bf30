// The Caddyfile of the `registration { … }` block of the oauthgate option.

package caddymodule

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseRegistration parses the registration block:
//
//	registration {
//		mode open|token|off
//		metadata_documents on|off|loopback
//		initial_access_token {env.REG_TOKEN}
//		grants authorization_code refresh_token
//		scopes <scope…>
//		unused_after 30d   # or off (default 7d in mode open, off in mode token)
//		max_clients 100000
//		rate 20/10m
//	}
func parseRegistration(d *caddyfile.Dispenser) (*RegistrationConfig, error) {
	rc := new(RegistrationConfig)
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch dir := d.Val(); dir {
		case "mode":
			if !d.AllArgs(&rc.Mode) {
				return nil, d.ArgErr()
			}
			if rc.Mode != "open" && rc.Mode != "token" && rc.Mode != "off" {
				return nil, d.Errf("registration: mode %q: use open, token or off", rc.Mode)
			}
		case "metadata_documents":
			var v string
			if !d.AllArgs(&v) || v != "on" && v != "off" && v != "loopback" {
				return nil, d.Errf("usage: metadata_documents on|off|loopback")
			}
			rc.MetadataDocuments = v != "off"
			rc.MetadataDocumentsLoopback = v == "loopback"
		case "initial_access_token":
			if !d.AllArgs(&rc.InitialAccessToken) {
				return nil, d.ArgErr()
			}
		case "grants", "scopes":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			if dir == "grants" {
				rc.Grants = append(rc.Grants, args...)
			} else {
				rc.Scopes = append(rc.Scopes, args...)
			}
		case "unused_after":
			args := d.RemainingArgs()
			if len(args) != 1 {
				return nil, d.ArgErr()
			}
			if args[0] == "off" {
				rc.UnusedAfter = -1 // kept until deleted
				break
			}
			dur, err := caddy.ParseDuration(args[0])
			if err != nil || dur <= 0 {
				return nil, d.Errf("unused_after wants a positive duration or off, not %q (%v)", args[0], err)
			}
			rc.UnusedAfter = caddy.Duration(dur)
		case "max_clients":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, d.Errf("registration: max_clients wants a positive number, not %q", v)
			}
			rc.MaxClients = n
		case "rate":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			count, window, ok := strings.Cut(v, "/")
			n, err := strconv.Atoi(count)
			dur, derr := caddy.ParseDuration(window)
			if !ok || err != nil || n < 1 || derr != nil || dur <= 0 {
				return nil, d.Errf("registration: rate wants <count>/<duration> per address, e.g. `rate 20/10m`, not %q", v)
			}
			rc.Rate, rc.RateWindow = n, caddy.Duration(dur)
		default:
			return nil, d.Errf("unrecognized registration option %q", dir)
		}
	}
	return rc, nil
}

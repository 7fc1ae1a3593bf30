// The Caddyfile of a `trust <issuer> { … }` block of the oauthgate option.

package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

// parseTrust parses a `trust <issuer> { … }` block of the oauthgate option:
//
//	trust <issuer> {
//		jwks_uri <url>
//		audience <aud…>
//		algorithms <alg…>
//		introspect {
//			endpoint <url>
//			client_id <id>
//			client_secret {env.SECRET}
//			cache <duration>
//			timeout <duration>
//			max_in_flight <n>
//			max_inactive <n>|off
//		}
//		claim subject|client_id|scope <claim…>
//		header <Header-Name> <claim.path>
//	}
func parseTrust(d *caddyfile.Dispenser) (TrustConfig, error) {
	var tc TrustConfig
	if !d.NextArg() {
		return tc, d.Errf("usage: trust <issuer> { audience … }")
	}
	tc.Issuer = d.Val()
	if err := authz.CheckTrustURL(tc.Issuer); err != nil {
		return tc, d.Errf("trust: issuer %v", err)
	}
	if d.NextArg() {
		return tc, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch dir := d.Val(); dir {
		case "jwks_uri":
			if !d.AllArgs(&tc.JWKSURI) {
				return tc, d.ArgErr()
			}
			if err := authz.CheckTrustURL(tc.JWKSURI); err != nil {
				return tc, d.Errf("trust %s: jwks_uri %v", tc.Issuer, err)
			}
		case "audience", "algorithms":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return tc, d.ArgErr()
			}
			if dir == "audience" {
				tc.Audience = append(tc.Audience, args...)
			} else {
				tc.Algorithms = append(tc.Algorithms, args...)
			}
		case "claim":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return tc, d.Errf("usage: claim subject|client_id|scope <claim…>")
			}
			if tc.Claims == nil {
				tc.Claims = map[string][]string{}
			}
			tc.Claims[args[0]] = args[1:]
		case "header":
			var name, path string
			if !d.AllArgs(&name, &path) {
				return tc, d.Errf("usage: header <Header-Name> <claim.path>")
			}
			if tc.Headers == nil {
				tc.Headers = map[string]string{}
			}
			tc.Headers[name] = path
		case "introspect":
			in, err := parseIntrospect(d, tc.Issuer)
			if err != nil {
				return tc, err
			}
			tc.Introspect = in
		default:
			return tc, d.Errf("unrecognized trust option %q (trust %s)", dir, tc.Issuer)
		}
	}
	if len(tc.Audience) == 0 {
		return tc, d.Errf("trust %s: audience is required: the aud its tokens carry for this gateway, e.g. `audience api://orders`", tc.Issuer)
	}
	return tc, nil
}

func parseIntrospect(d *caddyfile.Dispenser, issuer string) (*TrustIntrospect, error) {
	in := new(TrustIntrospect)
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch dir := d.Val(); dir {
		case "endpoint", "client_id", "client_secret":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			*map[string]*string{"endpoint": &in.Endpoint, "client_id": &in.ClientID, "client_secret": &in.ClientSecret}[dir] = v
			if dir == "endpoint" {
				if err := authz.CheckTrustURL(v); err != nil {
					return nil, d.Errf("trust %s: introspect endpoint %v", issuer, err)
				}
			}
			if dir == "client_secret" && !isPlaceholder(v) {
				return nil, d.Errf("trust %s: client_secret must be a placeholder such as {env.IDP_SECRET}, so the secret stays out of the config", issuer)
			}
		case "cache", "timeout":
			dur, err := parseDuration(d)
			if err != nil {
				return nil, err
			}
			if dir == "cache" {
				in.Cache = dur
			} else {
				in.Timeout = dur
			}
		case "max_in_flight", "max_inactive":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			n, err := strconv.Atoi(v)
			switch {
			case dir == "max_inactive" && v == "off":
				in.MaxInactive = -1
			case err != nil || n < 1:
				return nil, d.Errf("trust %s: %s must be a positive number%s, not %q", issuer, dir,
					map[bool]string{true: " or off"}[dir == "max_inactive"], v)
			case dir == "max_in_flight":
				in.MaxInFlight = n
			default:
				in.MaxInactive = n
			}
		default:
			return nil, d.Errf("unrecognized introspect option %q (trust %s)", dir, issuer)
		}
	}
	if in.ClientID == "" || in.ClientSecret == "" {
		return nil, d.Errf("trust %s: introspect needs client_id and client_secret", issuer)
	}
	return in, nil
}

// The Caddyfile parsing of the `oauthgate { … }` global option and its `client` blocks.

package caddymodule

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("oauthgate", parseAppOption)
}

// parseAppOption parses the `oauthgate { … }` global option (README's
// configuration reference explains each):
//
//	oauthgate {
//		issuer <url>
//		store <module> { … }                 # memory (default) or redis
//		token_format jwt|opaque
//		signing_key <alg> <file>             # repeatable; first signs
//		access_token_ttl <duration>
//		refresh_token_ttl <duration>
//		code_ttl <duration>
//		session_ttl <duration>
//		id_token_ttl <duration>
//		key_refresh <duration>
//		clock_skew <duration>
//		pkce public_clients|all_clients [allow_plain]
//		response_fields standard|extended
//		revocation_check strict|lenient
//		verify_cache <n>|off
//		audience <aud…>
//		scope <name> ["description"] [default]
//		users { <name> <bcrypt hash> [{ name <name>; email <addr>; email_verified }] … }
//		client <id> {
//			name <name>
//			secret <placeholder> | secret_hash <sha256 hex|bcrypt> | public
//			redirect_uri <uri…>
//			grants <grant…>
//			scopes <scope…>
//			default_scopes <scope…>
//			user <subject>
//			audience <aud…>
//			access_token_ttl <duration>
//			refresh_token_ttl <duration>
//			disabled
//			post_logout_redirect_uri <uri…>
//			id_token_signed_response_alg RS256|ES256|PS256|EdDSA
//		}
//		trust <issuer> { … }                # trust_caddyfile.go
//		registration { … }                  # registration_caddyfile.go
//	}
func parseAppOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("the oauthgate global option may appear only once")
	}
	app := new(App)
	d.Next() // option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "issuer":
			if !d.AllArgs(&app.Issuer) {
				return nil, d.ArgErr()
			}
		case "store":
			if !d.NextArg() {
				return nil, d.ArgErr()
			}
			name := d.Val()
			mod, err := caddyfile.UnmarshalModule(d, "oauthgate.stores."+name)
			if err != nil {
				return nil, err
			}
			app.StoreRaw = caddyconfig.JSONModuleObject(mod, "module", name, nil)
		case "token_format":
			if !d.AllArgs(&app.TokenFormat) {
				return nil, d.ArgErr()
			}
			if _, err := tokenFormat(app.TokenFormat); err != nil {
				return nil, d.Err(err.Error())
			}
		case "response_fields":
			if !d.AllArgs(&app.ResponseFields) {
				return nil, d.ArgErr()
			}
			if _, err := responseFields(app.ResponseFields); err != nil {
				return nil, d.Err(err.Error())
			}
		case "revocation_check":
			if !d.AllArgs(&app.RevocationCheck) {
				return nil, d.ArgErr()
			}
			if _, err := revocationCheck(app.RevocationCheck); err != nil {
				return nil, d.Err(err.Error())
			}
		case "signing_key":
			var kc SigningKeyConfig
			if !d.AllArgs(&kc.Algorithm, &kc.File) {
				return nil, d.Errf("usage: signing_key <ES256|EdDSA|RS256|PS256> <file.pem>")
			}
			app.SigningKeys = append(app.SigningKeys, kc)
		case "access_token_ttl":
			dur, err := parseDuration(d)
			if err != nil {
				return nil, err
			}
			app.AccessTokenTTL = dur
		case "refresh_token_ttl", "code_ttl", "session_ttl", "key_refresh", "id_token_ttl":
			target := map[string]*caddy.Duration{"refresh_token_ttl": &app.RefreshTokenTTL, "code_ttl": &app.CodeTTL,
				"session_ttl": &app.SessionTTL, "key_refresh": &app.KeyRefresh, "id_token_ttl": &app.IDTokenTTL}[d.Val()]
			dur, err := parseDuration(d)
			if err != nil {
				return nil, err
			}
			*target = dur
		case "pkce":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 || (len(args) == 2 && args[1] != "allow_plain") {
				return nil, d.Errf("usage: pkce public_clients|all_clients [allow_plain]")
			}
			app.PKCE, app.PKCEAllowPlain = args[0], len(args) == 2
			if _, err := pkcePolicy(app.PKCE); err != nil {
				return nil, d.Err(err.Error())
			}
		case "users":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			if app.Users == nil {
				app.Users = map[string]string{}
			}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				name := d.Val()
				args := d.RemainingArgs()
				if len(args) != 1 {
					return nil, d.Errf("usage inside users: <name> <bcrypt hash> [{ name …; email …; email_verified }]")
				}
				hash := args[0]
				if _, dup := app.Users[name]; dup {
					return nil, d.Errf("user %q is listed twice", name)
				}
				app.Users[name] = hash
				if err := parseUserClaims(d, app, name); err != nil {
					return nil, err
				}
			}
		case "clock_skew":
			dur, err := parseDuration(d)
			if err != nil {
				return nil, err
			}
			app.ClockSkew = dur
		case "verify_cache":
			var n string
			if !d.AllArgs(&n) {
				return nil, d.ArgErr()
			}
			size := 0
			if n != "off" {
				var err error
				if size, err = strconv.Atoi(n); err != nil || size < 1 {
					return nil, d.Errf("verify_cache wants a number of entries, e.g. `verify_cache 100000`, or `off`, not %q", n)
				}
			}
			app.VerifyCache = &size
		case "audience":
			app.Audience = append(app.Audience, d.RemainingArgs()...)
			if len(app.Audience) == 0 {
				return nil, d.ArgErr()
			}
		case "resources":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			app.Resources = append(app.Resources, args...)
		case "scope":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 3 {
				return nil, d.Errf(`usage: scope <name> ["description"] [default]`)
			}
			sc := ScopeConfig{Name: args[0]}
			for _, a := range args[1:] {
				if a == "default" && !sc.Default {
					sc.Default = true
				} else if sc.Description == "" && !sc.Default {
					sc.Description = a
				} else {
					return nil, d.Errf(`usage: scope <name> ["description"] [default]`)
				}
			}
			app.Scopes = append(app.Scopes, sc)
		case "trust":
			tc, err := parseTrust(d)
			if err != nil {
				return nil, err
			}
			app.Trust = append(app.Trust, tc)
		case "registration":
			if app.Registration != nil {
				return nil, d.Err("registration may appear only once")
			}
			rc, err := parseRegistration(d)
			if err != nil {
				return nil, err
			}
			app.Registration = rc
		case "client":
			cc, err := parseClient(d)
			if err != nil {
				return nil, err
			}
			app.Clients = append(app.Clients, cc)
		default:
			return nil, d.Errf("unrecognized oauthgate option %q", d.Val())
		}
	}
	return httpcaddyfile.App{Name: "oauthgate", Value: caddyconfig.JSON(app, nil)}, nil
}

func parseDuration(d *caddyfile.Dispenser) (caddy.Duration, error) {
	var s string
	if !d.AllArgs(&s) {
		return 0, d.ArgErr()
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return 0, d.Errf("%s: %v", d.Val(), err)
	}
	if dur <= 0 {
		return 0, d.Errf("%s must be positive", d.Val())
	}
	return caddy.Duration(dur), nil
}

// parseClient parses a `client <id> { … }` block.
func parseClient(d *caddyfile.Dispenser) (tokenstore.Client, error) {
	var cc tokenstore.Client
	if !d.NextArg() {
		return cc, d.Errf("usage: client <id> { … }")
	}
	cc.ID = d.Val()
	if d.NextArg() {
		return cc, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		dir := d.Val()
		switch dir {
		case "name", "secret", "secret_hash", "user":
			var v string
			if !d.AllArgs(&v) {
				return cc, d.ArgErr()
			}
			if dir == "secret" && !isPlaceholder(v) {
				return cc, d.Errf("client %s: secret must be a placeholder such as {env.%s_SECRET}, so the secret stays out of the saved JSON config; "+
					"or give `secret_hash <sha256 hex | bcrypt>`", strconv.Quote(cc.ID), envName(cc.ID))
			}
			*map[string]*string{"name": &cc.Name, "secret": &cc.Secret, "secret_hash": &cc.SecretHash, "user": &cc.User}[dir] = v
		case "redirect_uri", "redirect_uris", "grants", "scopes", "default_scopes", "audience":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return cc, d.ArgErr()
			}
			list := map[string]*[]string{"redirect_uri": &cc.RedirectURIs, "redirect_uris": &cc.RedirectURIs,
				"grants": &cc.Grants, "scopes": &cc.Scopes, "default_scopes": &cc.DefaultScopes, "audience": &cc.Audience}[dir]
			*list = append(*list, args...)
		case "post_logout_redirect_uri", "post_logout_redirect_uris":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return cc, d.ArgErr()
			}
			cc.PostLogoutRedirectURIs = append(cc.PostLogoutRedirectURIs, args...)
		case "id_token_signed_response_alg":
			if !d.AllArgs(&cc.IDTokenSignedResponseAlg) {
				return cc, d.Errf("usage: id_token_signed_response_alg RS256|ES256|PS256|EdDSA")
			}
		case "public", "disabled":
			if d.NextArg() {
				return cc, d.ArgErr()
			}
			if dir == "public" {
				cc.Public = true
			} else {
				cc.Disabled = true
			}
		case "access_token_ttl", "refresh_token_ttl":
			dur, err := parseDuration(d)
			if err != nil {
				return cc, err
			}
			if dir == "access_token_ttl" {
				cc.AccessTokenTTL = tokenstore.Duration(dur)
			} else {
				cc.RefreshTokenTTL = tokenstore.Duration(dur)
			}
		default:
			return cc, d.Errf("unrecognized client option %q (client %s)", dir, strconv.Quote(cc.ID))
		}
	}
	return cc, nil
}

// envName suggests an environment variable name for a client id.
func envName(id string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, id)
}

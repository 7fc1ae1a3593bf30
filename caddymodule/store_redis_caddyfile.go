// The redis store's Caddyfile parsing: `store redis { … }`, with passwords only as placeholders.

package caddymodule

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile sets up the Redis store:
//
//	store redis {
//		url <redis://host:port/db | rediss://…>    # or:
//		addresses <host:port…>                    # cluster seeds, or sentinels with master_name
//		cluster                                   # a single address is a cluster seed
//		master_name <name>
//		username <user>
//		password {env.REDIS_PASSWORD}
//		sentinel_username <user>
//		sentinel_password {env.SENTINEL_PASSWORD}
//		db <n>
//		tls [{
//			ca <file.pem>
//			server_name <name>
//		}]
//		key_prefix <prefix>
//		pool_size <n>
//		timeout <duration>
//	}
//
// Passwords must be placeholders, so the secret never lands in the
// adapted JSON.
func (r *RedisStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		switch opt {
		case "url", "master_name", "username", "password", "sentinel_username", "sentinel_password", "key_prefix":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			*map[string]*string{"url": &r.URL, "master_name": &r.MasterName, "username": &r.Username,
				"password": &r.Password, "sentinel_username": &r.SentinelUsername,
				"sentinel_password": &r.SentinelPassword, "key_prefix": &r.KeyPrefix}[opt] = v
			if (opt == "password" || opt == "sentinel_password") && !isPlaceholder(v) {
				return d.Errf("%s must be a placeholder such as {env.REDIS_PASSWORD}, so the secret stays out of the config", opt)
			}
			if opt == "url" && literalPassword(v) {
				return d.Errf("the url holds a password: write `password {env.REDIS_PASSWORD}`, or make the whole url a placeholder ({env.REDIS_URL})")
			}
		case "addresses":
			r.Addresses = append(r.Addresses, d.RemainingArgs()...)
			if len(r.Addresses) == 0 {
				return d.ArgErr()
			}
		case "cluster":
			if d.NextArg() {
				return d.ArgErr()
			}
			r.Cluster = true
		case "db", "pool_size":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || (opt == "pool_size" && n == 0) {
				return d.Errf("%s must be a whole number (pool_size at least 1), not %q", opt, v)
			}
			if opt == "db" {
				r.DB = n
			} else {
				r.PoolSize = n
			}
		case "tls":
			if d.NextArg() {
				return d.ArgErr()
			}
			r.TLS = new(RedisTLS)
			for d.NextBlock(1) {
				switch d.Val() {
				case "ca":
					if !d.AllArgs(&r.TLS.CA) {
						return d.ArgErr()
					}
				case "server_name":
					if !d.AllArgs(&r.TLS.ServerName) {
						return d.ArgErr()
					}
				default:
					return d.Errf("unrecognized redis tls option %q", d.Val())
				}
			}
		case "timeout":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("timeout must be a positive duration such as 1s, not %q", v)
			}
			r.Timeout = caddy.Duration(dur)
		default:
			return d.Errf("unrecognized redis store option %q", opt)
		}
	}
	return nil
}

// isPlaceholder reports whether v is made of a runtime placeholder.
func isPlaceholder(v string) bool {
	return strings.HasPrefix(v, "{") && strings.HasSuffix(v, "}")
}

// literalPassword reports whether a URL written out in the config holds a password.
func literalPassword(v string) bool {
	if strings.Contains(v, "{") {
		return false // placeholders are expanded at provisioning
	}
	u, err := url.Parse(v)
	if err != nil {
		return strings.Contains(v, "@")
	}
	_, ok := u.User.Password()
	return ok
}

// Interface guards
var _ caddyfile.Unmarshaler = (*RedisStore)(nil)

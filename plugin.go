// Package oauthgate turns Caddy into an OAuth 2.0 authorization server and
// the gateway that enforces its tokens. Importing it registers the Caddy
// modules, so `xcaddy build --with github.com/oauthgate/caddy-oauthgate` works.
package oauthgate

import (
	// Registers the oauthgate app, handlers, stores and Caddyfile directives.
	_ "github.com/oauthgate/caddy-oauthgate/caddymodule"
)

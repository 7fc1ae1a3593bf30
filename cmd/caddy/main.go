// Command caddy is Caddy with its standard modules plus oauthgate: the build
// path that always works without xcaddy (`go build -o caddy ./cmd/caddy`).
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// This plugin.
	_ "github.com/oauthgate/caddy-oauthgate"
)

func main() {
	caddycmd.Main()
}

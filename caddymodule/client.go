// A configured client: its secret placeholder expanded, then made a client by authz.

package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/oauthgate/caddy-oauthgate/authz"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// buildClient expands the placeholder of a configured client's secret
// (Caddy's part: {env.VAR}) and leaves the rest to authz.NewClient.
func buildClient(cc tokenstore.Client, repl *caddy.Replacer) (*authz.Client, error) {
	if cc.Secret != "" {
		secret, err := repl.ReplaceOrErr(cc.Secret, true, true)
		if err != nil {
			return nil, fmt.Errorf("client %q: secret: %v (is the environment variable set?)", cc.ID, err)
		}
		cc.Secret = secret
	}
	return authz.NewClient(cc)
}

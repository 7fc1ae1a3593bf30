package caddymodule

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

// identityClaims reads the OpenID Connect claims of a login identity user
// from the placeholders the handler in front sets (`login identity … {
// claim email {http.request.header.Remote-Email} }`).
func identityClaims(placeholders map[string]string) (func(*http.Request) (authz.UserClaims, error), error) {
	if len(placeholders) == 0 {
		return nil, nil
	}
	for name := range placeholders {
		if !slices.Contains(authz.ClaimNames, name) {
			return nil, fmt.Errorf("login identity: claim %q is not known; use %s", name, strings.Join(authz.ClaimNames, ", "))
		}
	}
	return func(r *http.Request) (authz.UserClaims, error) {
		repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		vals := make(map[string]string, len(placeholders))
		for name, ph := range placeholders {
			vals[name] = repl.ReplaceAll(ph, "")
		}
		return authz.ParseClaims(vals)
	}, nil
}

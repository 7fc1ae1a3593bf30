// The oauthgate.stores module namespace: what a token store module provides.

package caddymodule

import "github.com/oauthgate/caddy-oauthgate/tokenstore"

// StoreModule is implemented by modules in the oauthgate.stores namespace
// (oauthgate.stores.memory, oauthgate.stores.redis, or a third party's):
// the `store` of the oauthgate app. The app wraps what TokenStore returns
// in its metrics and uses only that wrapper.
type StoreModule interface {
	TokenStore() tokenstore.Store
}

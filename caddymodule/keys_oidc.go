package caddymodule

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

// rsaKeyringPath holds the generated RS256 keys that sign OpenID Connect
// ID tokens: Discovery requires RS256, and access tokens keep the first
// key of the main keyring (ES256 by default). A ring of its own, rotated
// with the main one, so neither changes the other's shape.
const rsaKeyringPath = "oauthgate/signing_keys/keyring-rs256.json"

// UserClaimsConfig are the OpenID Connect claims of one account.
type UserClaimsConfig struct {
	// Name is the full name (claim name).
	Name string `json:"name,omitempty"`
	// Email is the address (claim email).
	Email string `json:"email,omitempty"`
	// EmailVerified says the address is known to be the user's.
	EmailVerified bool `json:"email_verified,omitempty"`
}

// staticUsers builds the users block's accounts with their claims.
func (a *App) staticUsers() (*authz.StaticUsers, error) {
	users, err := authz.NewStaticUsers(a.Users)
	if err != nil {
		return nil, err
	}
	for name, c := range a.UserClaims {
		if err := users.SetClaims(name, authz.UserClaims{Name: c.Name, Email: c.Email, EmailVerified: c.EmailVerified}); err != nil {
			return nil, err
		}
	}
	return users, nil
}

// oidcInUse reports whether a configured client may be granted openid:
// then the key ring needs an RS256 key.
func oidcInUse(clients authz.StaticClients) bool {
	for _, c := range clients {
		if c.AllowsScope(authz.ScopeOpenID) {
			return true
		}
	}
	return false
}

// withRSAKey adds the generated RS256 keys to set when OpenID Connect is
// in use and set has no RS256 key of its own (signing_key RS256 …): after
// the set's keys, so access tokens keep being signed by its first.
func (a *App) withRSAKey(ctx context.Context, set *authz.KeySet) (*authz.KeySet, error) {
	if !a.oidcOn() || a.storage == nil || slices.ContainsFunc(set.Keys(), func(k *authz.SigningKey) bool { return k.Alg == authz.AlgRS256 }) {
		return set, nil
	}
	data, err := loadOrCreate(ctx, a.storage, rsaKeyringPath, func() ([]byte, error) {
		kr := &authz.Keyring{}
		if _, err := kr.Rotate(authz.AlgRS256, time.Now(), 0); err != nil {
			return nil, err
		}
		return kr.Marshal()
	})
	if err != nil {
		return nil, fmt.Errorf("the generated RS256 key for OpenID Connect is unusable: %v; fix the storage or configure `signing_key RS256 /path/to/rsa.pem`", err)
	}
	kr, err := authz.ParseKeyring(data)
	if err != nil {
		return nil, err
	}
	rsa, err := kr.KeySet(time.Now())
	if err != nil {
		return nil, err
	}
	return authz.NewKeySet(append(slices.Clone(set.Keys()), rsa.Keys()...)...)
}

// rotateRSAKey rotates the generated RS256 ring with the main one.
func (a *App) rotateRSAKey(ctx context.Context, retention time.Duration) error {
	if !a.oidcOn() {
		return nil
	}
	if err := a.storage.Lock(ctx, rsaKeyringPath); err != nil {
		return err
	}
	defer func() { _ = a.storage.Unlock(context.Background(), rsaKeyringPath) }()
	data, err := a.storage.Load(ctx, rsaKeyringPath)
	if err != nil {
		return err
	}
	kr, err := authz.ParseKeyring(data)
	if err != nil {
		return err
	}
	if _, err := kr.Rotate(authz.AlgRS256, time.Now(), retention); err != nil {
		return err
	}
	if data, err = kr.Marshal(); err != nil {
		return err
	}
	return a.storage.Store(ctx, rsaKeyringPath, data)
}

// checkIDTokenKeys refuses a configuration in which a client's ID tokens
// could not be signed: no key of its id_token_signed_response_alg.
func (a *App) checkIDTokenKeys(clients authz.StaticClients) error {
	keys := a.server.Keys().Keys()
	for _, c := range clients {
		if !c.AllowsScope(authz.ScopeOpenID) {
			continue
		}
		alg := c.IDTokenAlg
		if alg == "" {
			alg = authz.AlgRS256
		}
		if !slices.ContainsFunc(keys, func(k *authz.SigningKey) bool { return k.Alg == alg }) {
			return fmt.Errorf("client %q: its ID tokens are signed with %s and no signing key has that algorithm; add `signing_key %s /path/to/key.pem`", c.ID, alg, alg)
		}
	}
	return nil
}

// dynamicOIDC notes clients registered at run time that may be granted
// openid (a store shared with instances that created them), so the ring
// holds the RS256 key their ID tokens need.
func (a *App) dynamicOIDC(ctx context.Context) {
	if a.oidcOn() {
		return
	}
	recs, err := a.store.ListClients(ctx)
	if err != nil {
		return // the registry answers later; needOIDCKey covers new ones
	}
	for _, r := range recs {
		if slices.Contains(r.Scopes, authz.ScopeOpenID) {
			a.needOIDCKey(ctx, r.Scopes)
			return
		}
	}
}

// needOIDCKey adds the generated RS256 key when a client allowed scopes
// that include openid appears at run time (admin API, CLI).
func (a *App) needOIDCKey(ctx context.Context, scopes []string) {
	if !slices.Contains(scopes, authz.ScopeOpenID) || a.oidc == nil || a.oidc.Swap(true) {
		return
	}
	set, err := a.withRSAKey(ctx, a.server.Keys())
	if err != nil {
		a.oidc.Store(false)
		a.logger.Error("generating the RS256 key for OpenID Connect", zap.Error(err))
		return
	}
	a.server.SetKeys(set)
}

func (a *App) oidcOn() bool { return a.oidc != nil && a.oidc.Load() }

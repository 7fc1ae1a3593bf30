package caddymodule

import (
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

// ClientConfig is the one client object used everywhere: JSON config, the
// Caddyfile `client` block, and (later) the admin API.
type ClientConfig struct {
	// ID is the client_id.
	ID string `json:"id,omitempty"`
	// Name is shown to users on the consent page.
	Name string `json:"name,omitempty"`
	// Secret, write-only: a placeholder such as {env.POSTMAN_SECRET},
	// expanded and hashed at provisioning; never kept in plain text.
	Secret string `json:"secret,omitempty"`
	// SecretHash is the SHA-256 hex digest or bcrypt hash of the secret.
	SecretHash string `json:"secret_hash,omitempty"`
	// RedirectURIs registered for the authorization code flow.
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// Grants enabled: authorization_code, refresh_token, client_credentials.
	Grants []string `json:"grants,omitempty"`
	// Scopes the client may be granted.
	Scopes []string `json:"scopes,omitempty"`
	// DefaultScopes are granted when a request names none.
	DefaultScopes []string `json:"default_scopes,omitempty"`
	// Public clients (native and browser apps) have no secret.
	Public bool `json:"public,omitempty"`
	// User is the subject of client_credentials tokens ("client credentials user").
	User string `json:"user,omitempty"`
	// Audience of the client's tokens (aud claim).
	Audience []string `json:"audience,omitempty"`
	// AccessTokenTTL overrides the app's default for this client.
	AccessTokenTTL caddy.Duration `json:"access_token_ttl,omitempty"`
	// RefreshTokenTTL overrides the app's default for this client.
	RefreshTokenTTL caddy.Duration `json:"refresh_token_ttl,omitempty"`
	// Disabled clients get invalid_client and their tokens stop validating.
	Disabled bool `json:"disabled,omitempty"`
}

// build expands placeholders and hashes the secret.
func (cc ClientConfig) build(repl *caddy.Replacer) (*authz.Client, error) {
	c := &authz.Client{
		ID: cc.ID, Name: cc.Name, Public: cc.Public, RedirectURIs: cc.RedirectURIs,
		Grants: cc.Grants, Scopes: cc.Scopes, DefaultScopes: cc.DefaultScopes,
		User: cc.User, Audience: cc.Audience, Disabled: cc.Disabled,
		AccessTokenTTL: time.Duration(cc.AccessTokenTTL), RefreshTokenTTL: time.Duration(cc.RefreshTokenTTL),
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	if cc.Secret != "" && cc.SecretHash != "" {
		return nil, fmt.Errorf("client %q: set either secret or secret_hash, not both", cc.ID)
	}
	if cc.Secret != "" {
		secret, err := repl.ReplaceOrErr(cc.Secret, true, true)
		if err != nil {
			return nil, fmt.Errorf("client %q: secret: %v (is the environment variable set?)", cc.ID, err)
		}
		if len(secret) < 16 {
			return nil, fmt.Errorf("client %q: the secret is shorter than 16 characters; use a long random secret", cc.ID)
		}
		if strings.TrimSpace(secret) != secret {
			return nil, fmt.Errorf("client %q: the secret has leading or trailing whitespace", cc.ID)
		}
		c.SetSecret(authz.HashSecret(secret))
	}
	if cc.SecretHash != "" {
		h, err := authz.ParseSecretHash(cc.SecretHash)
		if err != nil {
			return nil, fmt.Errorf("client %q: secret_hash: %v", cc.ID, err)
		}
		c.SetSecret(h)
	}
	return c, nil
}

// The client object of dynamic and configured clients, and the ClientRecords store contract.

package tokenstore

import (
	"context"
	"time"
)

// Client is the one client object: the settings of an OAuth client, in
// the one JSON shape that every surface reads and writes — a client in the
// oauthgate app's JSON (and so the Caddyfile's), the admin API's create,
// patch and show, what a store keeps of a client registered at run time,
// and `caddy oauthgate … --json`. Durations are Caddy duration strings.
//
// Secret is write-only: the configuration names it (as a placeholder) or a
// create request sends it, and only its hash is kept (SecretHash); nothing
// ever shows either. Records have no expiry: they are configuration, and
// live until deleted.
type Client struct {
	// ID is the client_id.
	ID string `json:"id,omitempty"`
	// Name is shown to users on the consent page (default: the id).
	Name string `json:"name,omitempty"`
	// Secret, write-only: in the configuration a placeholder such as
	// {env.POSTMAN_SECRET}, expanded and hashed at provisioning; on create
	// a secret of at least 16 characters. Absent on a confidential client
	// created at run time: one is generated and returned once.
	Secret string `json:"secret,omitempty"`
	// SecretHash is the SHA-256 hex digest or bcrypt hash of the secret:
	// what is kept, and an alternative to Secret on input.
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
	// User is the subject of client_credentials tokens ("client credentials
	// user"; default: the client id).
	User string `json:"user,omitempty"`
	// Audience of the client's tokens (aud claim).
	Audience []string `json:"audience,omitempty"`
	// AccessTokenTTL overrides the app's default for this client.
	AccessTokenTTL Duration `json:"access_token_ttl,omitempty"`
	// RefreshTokenTTL overrides the app's default for this client.
	RefreshTokenTTL Duration `json:"refresh_token_ttl,omitempty"`
	// Disabled clients get invalid_client and their tokens stop validating.
	Disabled bool `json:"disabled,omitempty"`
	// PostLogoutRedirectURIs are where /oauth/logout may send the user
	// back to (OpenID Connect RP-Initiated Logout), matched exactly.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// IDTokenSignedResponseAlg is the algorithm of the client's ID
	// tokens: RS256 (default), ES256, PS256 or EdDSA.
	IDTokenSignedResponseAlg string `json:"id_token_signed_response_alg,omitempty"`

	// Registered marks a client that registered itself (RFC 7591, POST
	// /oauth/register): its name and URIs are self-asserted.
	Registered bool `json:"registered,omitempty"`
	// TokenEndpointAuthMethod a registered client asked for: none,
	// client_secret_basic or client_secret_post (RFC 7591 §2).
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// ClientURI, LogoURI, SoftwareID and SoftwareVersion are a registered
	// client's self-asserted metadata (RFC 7591 §2): shown as text, never
	// fetched.
	ClientURI       string `json:"client_uri,omitempty"`
	LogoURI         string `json:"logo_uri,omitempty"`
	SoftwareID      string `json:"software_id,omitempty"`
	SoftwareVersion string `json:"software_version,omitempty"`
	// UnusedUntil: a registered client that was never issued a token is
	// gone after this time (registration's unused_after). The first token
	// issued clears it, in the one write its use ever costs.
	UnusedUntil time.Time `json:"unused_until,omitzero"`

	// Static marks a client of the configuration, read-only at run time;
	// set when shown, ignored on input.
	Static bool `json:"static,omitempty"`
	// CreatedAt and UpdatedAt are set by the registry for clients
	// registered at run time; ignored on input.
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Shown returns c as it may be shown: without its secret or secret hash.
func (c Client) Shown() Client {
	c.Secret, c.SecretHash = "", ""
	return c
}

// ClientRecords keeps dynamic clients. CreateClient returns ErrExists for a
// taken id; UpdateClient and DeleteClient return ErrNotFound for a missing
// one; ListClients returns every record ordered by id.
type ClientRecords interface {
	CreateClient(ctx context.Context, c Client) error
	UpdateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error)
	DeleteClient(ctx context.Context, id string) error
}

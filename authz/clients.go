// Clients: grant type names, the Client type, secret hashes (SHA-256 or bcrypt) and static client sets.

package authz

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// Grant type names as they appear on the wire and in configuration.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// Client is a registered OAuth client as the server uses it: made from its
// settings (tokenstore.Client, the one client object) by NewClient, with
// its secret held only as a parsed hash.
type Client struct {
	ID           string
	Name         string
	Public       bool
	RedirectURIs []string
	Grants       []string
	// Scopes the client may be granted; DefaultScopes are granted when a
	// request names none.
	Scopes        []string
	DefaultScopes []string
	// User is the subject of client_credentials tokens ("client credentials
	// user"); empty means the client id.
	User            string
	Audience        []string
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	Disabled        bool
	// NotBefore: tokens issued before it are not this client's (a dynamic
	// client deleted and created again under the same id). Whole seconds,
	// like iat: the second of the client's creation (see Registry.Delete).
	NotBefore time.Time
	// PostLogoutRedirectURIs and IDTokenAlg: OpenID Connect (oidc.go).
	PostLogoutRedirectURIs []string
	IDTokenAlg             string
	// Registered clients registered themselves (RFC 7591) or are described
	// by a Client ID Metadata Document (DocumentHost is then its host):
	// their names are self-asserted, and they always use PKCE with S256.
	Registered   bool
	DocumentHost string
	ClientURI    string
	LogoURI      string

	reg    tokenstore.Client // a registered client's own metadata, for its view
	unused time.Time         // UnusedUntil of a registered client never used

	created time.Time // when a dynamic client was created, for its view
	secret  SecretHash
}

// SecretHash is a stored client secret: SHA-256 for generated high-entropy
// secrets, bcrypt for human-chosen ones.
type SecretHash struct {
	sha    []byte
	bcrypt []byte
}

// HashSecret hashes a plaintext secret with SHA-256.
func HashSecret(secret string) SecretHash {
	sum := sha256.Sum256([]byte(secret))
	return SecretHash{sha: sum[:]}
}

// ParseSecretHash accepts a SHA-256 hex digest (64 hex digits) or a bcrypt
// hash ($2a$, $2b$, $2y$).
func ParseSecretHash(s string) (SecretHash, error) {
	if strings.HasPrefix(s, "$2") {
		if _, err := bcrypt.Cost([]byte(s)); err != nil {
			return SecretHash{}, fmt.Errorf("not a valid bcrypt hash: %v", err)
		}
		return SecretHash{bcrypt: []byte(s)}, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return SecretHash{}, errors.New("expected 64 hex digits of SHA-256 or a bcrypt hash ($2a$…)")
	}
	return SecretHash{sha: b}, nil
}

// IsZero reports whether no secret is set.
func (h SecretHash) IsZero() bool { return h.sha == nil && h.bcrypt == nil }

// decoy is compared against when the client is unknown, so that an unknown
// client id costs the same SHA-256 and constant-time comparison as a wrong secret.
var decoy = HashSecret("oauthgate decoy secret")

// Matches compares a presented secret in constant time.
func (h SecretHash) Matches(secret string) bool {
	if h.bcrypt != nil {
		return bcrypt.CompareHashAndPassword(h.bcrypt, []byte(secret)) == nil
	}
	ref := h.sha
	if ref == nil {
		ref = decoy.sha
	}
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], ref) == 1 && h.sha != nil
}

// NewClient makes the client that settings describe: the one place where
// the client object's fields become a client — the name defaulting to the
// id, the secret hashed (Secret, at least 16 characters) or parsed
// (SecretHash), lifetimes converted, and registered clients' creation time
// kept so a client re-created under the same id refuses its predecessor's
// tokens. Validate then checks it against the catalog.
func NewClient(s tokenstore.Client) (*Client, error) {
	c := &Client{ID: s.ID, Name: s.Name, Public: s.Public, RedirectURIs: s.RedirectURIs, Grants: s.Grants,
		Scopes: s.Scopes, DefaultScopes: s.DefaultScopes, User: s.User, Audience: s.Audience,
		AccessTokenTTL: time.Duration(s.AccessTokenTTL), RefreshTokenTTL: time.Duration(s.RefreshTokenTTL),
		Disabled: s.Disabled, NotBefore: s.CreatedAt.Truncate(time.Second), created: s.CreatedAt,
		PostLogoutRedirectURIs: s.PostLogoutRedirectURIs, IDTokenAlg: s.IDTokenSignedResponseAlg,
		Registered: s.Registered, ClientURI: s.ClientURI, LogoURI: s.LogoURI, unused: s.UnusedUntil}
	if s.Registered {
		c.reg = tokenstore.Client{TokenEndpointAuthMethod: s.TokenEndpointAuthMethod, ClientURI: s.ClientURI, LogoURI: s.LogoURI,
			SoftwareID: s.SoftwareID, SoftwareVersion: s.SoftwareVersion, UnusedUntil: s.UnusedUntil}
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	switch {
	case s.Secret != "" && s.SecretHash != "":
		return nil, fmt.Errorf("client %q: set either secret or secret_hash, not both", s.ID)
	case s.Secret != "":
		if len(s.Secret) < 16 {
			return nil, fmt.Errorf("client %q: the secret is shorter than 16 characters; use a long random secret", s.ID)
		}
		if strings.TrimSpace(s.Secret) != s.Secret {
			return nil, fmt.Errorf("client %q: the secret has leading or trailing whitespace", s.ID)
		}
		c.SetSecret(HashSecret(s.Secret))
	case s.SecretHash != "":
		h, err := ParseSecretHash(s.SecretHash)
		if err != nil {
			return nil, fmt.Errorf("client %q: secret_hash: %v", s.ID, err)
		}
		c.SetSecret(h)
	}
	return c, nil
}

// Settings returns the client object describing c, as it may be shown:
// without a secret or its hash.
func (c *Client) Settings() tokenstore.Client {
	return tokenstore.Client{ID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs, Grants: c.Grants, Scopes: c.Scopes,
		DefaultScopes: c.DefaultScopes, Public: c.Public, User: c.User, Audience: c.Audience,
		AccessTokenTTL: tokenstore.Duration(c.AccessTokenTTL), RefreshTokenTTL: tokenstore.Duration(c.RefreshTokenTTL),
		Disabled: c.Disabled, CreatedAt: c.created,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, IDTokenSignedResponseAlg: c.IDTokenAlg,
		Registered: c.Registered, TokenEndpointAuthMethod: c.reg.TokenEndpointAuthMethod, ClientURI: c.ClientURI,
		LogoURI: c.LogoURI, SoftwareID: c.reg.SoftwareID, SoftwareVersion: c.reg.SoftwareVersion, UnusedUntil: c.reg.UnusedUntil}
}

// String is the stored form of a secret hash: hex SHA-256, or the bcrypt hash.
func (h SecretHash) String() string {
	if h.bcrypt != nil {
		return string(h.bcrypt)
	}
	return hex.EncodeToString(h.sha)
}

// SetSecret stores the hash of a client's secret.
func (c *Client) SetSecret(h SecretHash) { c.secret = h }

// HasSecret reports whether the client has a secret configured.
func (c *Client) HasSecret() bool { return !c.secret.IsZero() }

// AllowsGrant reports whether the grant type is enabled for the client.
func (c *Client) AllowsGrant(g string) bool { return slices.Contains(c.Grants, g) }

// AllowsScope reports whether the client may be granted scope s.
func (c *Client) AllowsScope(s string) bool { return slices.Contains(c.Scopes, s) }

// Validate checks a client against the catalog: it names what is wrong and how to fix it.
func (c *Client) Validate(cat *Catalog) error {
	if c.ID == "" {
		return errors.New("client without an id")
	}
	if strings.ContainsAny(c.ID, ":\x00\r\n") {
		return fmt.Errorf("client %q: the id may not contain ':' or control characters", c.ID)
	}
	if len(c.Grants) == 0 {
		return fmt.Errorf("client %q: no grants; add e.g. `grants client_credentials`", c.ID)
	}
	for _, g := range c.Grants {
		switch g {
		case GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials:
		default:
			return fmt.Errorf("client %q: unknown grant %q; use authorization_code, refresh_token or client_credentials", c.ID, g)
		}
	}
	if c.Public && c.HasSecret() {
		return fmt.Errorf("client %q: a public client has no secret; remove `secret` or `public`", c.ID)
	}
	if !c.Public && !c.HasSecret() {
		return fmt.Errorf("client %q: a confidential client needs `secret {env.VAR}` or `secret_hash`, or mark it `public`", c.ID)
	}
	if c.Public && c.AllowsGrant(GrantClientCredentials) {
		return fmt.Errorf("client %q: client_credentials needs a confidential client; give it a secret instead of `public`", c.ID)
	}
	for _, u := range c.RedirectURIs {
		if err := ValidRedirectURI(u); err != nil {
			var e *Error
			if errors.As(err, &e) {
				err = errors.New(e.Description)
			}
			return fmt.Errorf("client %q: redirect_uri %q: %v", c.ID, u, err)
		}
	}
	if c.AllowsGrant(GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		return fmt.Errorf("client %q: the authorization_code grant needs at least one `redirect_uri`", c.ID)
	}
	if c.AllowsGrant(GrantRefreshToken) && !c.AllowsGrant(GrantAuthorizationCode) {
		return fmt.Errorf("client %q: refresh_token only makes sense with authorization_code; add it or remove refresh_token", c.ID)
	}
	for _, s := range c.Scopes {
		if _, ok := cat.Lookup(s); !ok {
			return fmt.Errorf("client %q: scope %q is not in the catalog; declare it with `scope %s \"description\"` or remove it from the client's scopes", c.ID, s, s)
		}
	}
	for _, s := range c.DefaultScopes {
		if !c.AllowsScope(s) {
			return fmt.Errorf("client %q: default scope %q is not among the client's scopes", c.ID, s)
		}
	}
	if err := c.validateOIDC(); err != nil {
		return err
	}
	if c.AccessTokenTTL < 0 || c.RefreshTokenTTL < 0 {
		return fmt.Errorf("client %q: token lifetimes cannot be negative", c.ID)
	}
	return nil
}

// Clients looks clients up by id. Implementations are safe for concurrent use.
type Clients interface {
	Client(ctx context.Context, id string) (*Client, error)
}

// ErrUnknownClient is returned by Clients for an id that is not registered.
var ErrUnknownClient = errors.New("unknown client")

// StaticClients is a fixed set of clients from configuration.
type StaticClients map[string]*Client

// Client implements Clients.
func (s StaticClients) Client(_ context.Context, id string) (*Client, error) {
	if c, ok := s[id]; ok {
		return c, nil
	}
	return nil, ErrUnknownClient
}

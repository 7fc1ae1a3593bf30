package tokenstore

import (
	"context"
	"time"
)

// ClientRecord is a client registered at run time (admin API, CLI), kept in
// the store so every instance sharing it sees the same clients. Only the
// SHA-256 of its secret is kept. Unlike tokens, records have no expiry:
// they are configuration and live until deleted.
type ClientRecord struct {
	ID              string        `json:"id"`
	Name            string        `json:"name,omitempty"`
	SecretSHA256    string        `json:"secret_sha256,omitempty"`
	RedirectURIs    []string      `json:"redirect_uris,omitempty"`
	Grants          []string      `json:"grants,omitempty"`
	Scopes          []string      `json:"scopes,omitempty"`
	DefaultScopes   []string      `json:"default_scopes,omitempty"`
	Public          bool          `json:"public,omitempty"`
	User            string        `json:"user,omitempty"`
	Audience        []string      `json:"audience,omitempty"`
	AccessTokenTTL  time.Duration `json:"access_token_ttl,omitempty"`
	RefreshTokenTTL time.Duration `json:"refresh_token_ttl,omitempty"`
	Disabled        bool          `json:"disabled,omitempty"`
	CreatedAt       time.Time     `json:"created_at"`
	UpdatedAt       time.Time     `json:"updated_at"`
}

// ClientRecords keeps dynamic clients. CreateClient returns ErrExists for a
// taken id; UpdateClient and DeleteClient return ErrNotFound for a missing
// one; ListClients returns every record ordered by id.
type ClientRecords interface {
	CreateClient(ctx context.Context, c ClientRecord) error
	UpdateClient(ctx context.Context, c ClientRecord) error
	GetClient(ctx context.Context, id string) (ClientRecord, error)
	ListClients(ctx context.Context) ([]ClientRecord, error)
	DeleteClient(ctx context.Context, id string) error
}

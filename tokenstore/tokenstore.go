// Package tokenstore is the storage contract of oauthgate: what the OAuth core
// keeps between requests. Implementations live in sub-packages (memory, redis)
// and must pass the contract suite in tokenstore/storetest.
//
// Every secret value (token, code) reaches a store only as a Key: the SHA-256
// of the raw value. A full dump of a store therefore yields nothing a client
// could present.
package tokenstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// Errors every store returns with errors.Is semantics.
var (
	// ErrNotFound: no live entry under that key (never stored, expired, or consumed).
	ErrNotFound = errors.New("tokenstore: not found")
	// ErrExists: a Put would have overwritten a live entry.
	ErrExists = errors.New("tokenstore: entry already exists")
	// ErrFull: a bounded store refused a new entry after dropping expired ones.
	ErrFull = errors.New("tokenstore: store is full")
	// ErrUnavailable wraps backend failures (network, timeouts): callers fail closed.
	ErrUnavailable = errors.New("tokenstore: store unavailable")
)

// Key is the SHA-256 digest of a secret value (a token or a code).
type Key [sha256.Size]byte

// KeyOf hashes a raw secret into its storage key.
func KeyOf(secret string) Key { return sha256.Sum256([]byte(secret)) }

// String returns the key as lowercase hex, suitable for external stores.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Grant is what an issued artifact was issued for. It is the shared payload of
// access-token records and authorization codes.
type Grant struct {
	ClientID  string    `json:"cid"`
	Subject   string    `json:"sub"`
	Scopes    []string  `json:"scp,omitempty"`
	Audience  []string  `json:"aud,omitempty"`
	IssuedAt  time.Time `json:"iat"`
	ExpiresAt time.Time `json:"exp"`
	// FamilyID ties everything issued from one authorization (a code, its
	// refresh tokens and their access tokens) so it can be revoked together.
	FamilyID string `json:"fam,omitempty"`
	// ID is the token identifier (the JWT jti, or a random id for opaque tokens).
	ID string `json:"jti,omitempty"`
}

// AccessTokens keeps opaque access tokens by the hash of their value.
//
// PutAccess stores g under k until g.ExpiresAt; it returns ErrExists when k is
// live already. GetAccess returns ErrNotFound for a missing or expired key.
// DeleteAccess is idempotent.
type AccessTokens interface {
	PutAccess(ctx context.Context, k Key, g Grant) error
	GetAccess(ctx context.Context, k Key) (Grant, error)
	DeleteAccess(ctx context.Context, k Key) error
}

// Codes keeps authorization codes. TakeCode is the single-use redemption: it
// returns the grant and removes it in one atomic step, so of any number of
// concurrent callers exactly one gets it and the others get ErrNotFound.
type Codes interface {
	PutCode(ctx context.Context, k Key, g Grant, payload []byte) error
	TakeCode(ctx context.Context, k Key) (Grant, []byte, error)
}

// Revocations is the deny-list of token identifiers (JWT jti, family ids).
// An entry lives until `until`, the latest expiry of what it denies, and is
// then dropped: nothing grows without bound.
type Revocations interface {
	Revoke(ctx context.Context, id string, until time.Time) error
	IsRevoked(ctx context.Context, id string) (bool, error)
}

// Store is what the OAuth core needs from a backend.
type Store interface {
	AccessTokens
	Codes
	Revocations
	// Ping reports whether the backend answers; memory stores always do.
	Ping(ctx context.Context) error
}

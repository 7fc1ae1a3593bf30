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
	// ErrReused: a single-use entry (code, refresh token) was redeemed
	// before. The grant is returned with it so the caller can revoke what
	// the first redemption issued (RFC 9700 §4.14.2).
	ErrReused = errors.New("tokenstore: already redeemed")
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
	// ID is the token identifier: the JWT jti; for an opaque access token
	// an id derived from the token (random for those minted before).
	ID string `json:"jti,omitempty"`
	// RefreshCount is how many rotations led to this refresh token.
	RefreshCount int `json:"rc,omitempty"`
	// AuthTime is when the user authenticated (authorization code grants).
	AuthTime time.Time `json:"at,omitzero"`
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

// Codes keeps authorization codes, with payload for what the grant does not
// carry (redirect URI, PKCE challenge), opaque to the store.
//
// TakeCode is the single-use redemption, atomic: of any number of callers
// exactly one gets the grant and a nil error; every later (or concurrent)
// call until g.ExpiresAt gets the grant with ErrReused, so the server can
// revoke what the first one issued. After expiry: ErrNotFound.
//
// GetCode reads without redeeming: a live code's grant and payload; a
// redeemed one's grant with ErrReused; ErrNotFound otherwise. The server
// reads first, stores the new tokens, and redeems last, so that a store
// failure in between leaves the code usable for the client's retry.
type Codes interface {
	PutCode(ctx context.Context, k Key, g Grant, payload []byte) error
	GetCode(ctx context.Context, k Key) (Grant, []byte, error)
	TakeCode(ctx context.Context, k Key) (Grant, []byte, error)
}

// RefreshTokens keeps refresh tokens by hash. TakeRefresh has TakeCode's
// contract: rotation redeems the old token exactly once and remembers it
// until its expiry, so a replay is told apart (ErrReused, with the grant
// and its FamilyID) from an unknown token (ErrNotFound).
//
// GetRefresh reads without redeeming (introspection); it returns
// ErrNotFound for redeemed tokens. DeleteRefresh is idempotent.
type RefreshTokens interface {
	PutRefresh(ctx context.Context, k Key, g Grant) error
	TakeRefresh(ctx context.Context, k Key) (Grant, error)
	GetRefresh(ctx context.Context, k Key) (Grant, error)
	DeleteRefresh(ctx context.Context, k Key) error
}

// Consents remembers which scopes a user granted a client (CONFORMANCE A10).
// PutConsent replaces the entry; it lives until `until`.
type Consents interface {
	PutConsent(ctx context.Context, subject, clientID string, scopes []string, until time.Time) error
	GetConsent(ctx context.Context, subject, clientID string) ([]string, error)
	DeleteConsent(ctx context.Context, subject, clientID string) error
}

// Revocations is the deny-list of token identifiers (JWT jti, family ids).
// An entry lives until `until`, the latest expiry of what it denies, and is
// then dropped: nothing grows without bound.
type Revocations interface {
	Revoke(ctx context.Context, id string, until time.Time) error
	IsRevoked(ctx context.Context, id string) (bool, error)
}

// RevokedAny checks several ids against the deny-list in one round trip:
// true when any of them is revoked. Empty ids are ignored, so a token's id
// and family id can be passed as they are; with none left the answer is
// false without asking the backend.
type RevokedAny interface {
	IsRevokedAny(ctx context.Context, ids ...string) (bool, error)
}

// AccessChecker reads an access-token record and checks ids against the
// deny-list in one round trip: the ids an opaque token itself names, known
// before its record is read.
//
// GetAccessChecked returns GetAccess's grant and error, and whether any of
// ids is revoked (RevokedAny's answer: empty ids ignored). revoked is only
// meaningful with a nil error; ErrNotFound takes precedence over it. Only
// the ids given are checked: a caller must compare them with the grant's
// own ID and FamilyID.
type AccessChecker interface {
	GetAccessChecked(ctx context.Context, k Key, ids ...string) (g Grant, revoked bool, err error)
}

// RevocationFeed tells the caches in front of a store about revocations
// made through other instances sharing it, so they can drop what was
// revoked elsewhere.
//
// FollowRevocations returns at once and follows the feed in the background
// until ctx is done. The feed starts down; f.FeedUp is called each time it
// is (again) subscribed, before any revocation delivered through that
// subscription, and f.FeedDown as soon as it is lost — what is revoked
// while it is down is never delivered, so a cache must not answer then.
// Calls are made on one goroutine, in order. A store no other instance
// shares (memory) is always up: it calls f.FeedUp once, before returning.
type RevocationFeed interface {
	FollowRevocations(ctx context.Context, f RevocationFollower)
}

// RevocationFollower receives a RevocationFeed.
type RevocationFollower interface {
	NoteRevoked(id string)
	FeedUp()
	FeedDown()
}

// Store is what the OAuth core needs from a backend.
type Store interface {
	AccessTokens
	AccessChecker
	Codes
	RefreshTokens
	Consents
	Revocations
	RevokedAny
	RevocationFeed
	ClientRecords
	// Ping reports whether the backend answers; memory stores always do.
	Ping(ctx context.Context) error
}

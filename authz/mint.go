// The Minter, which issues access tokens as JWTs or opaque tokens, and the expiry they carry.

package authz

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// TokenFormat selects how access tokens are minted.
type TokenFormat string

const (
	FormatJWT    TokenFormat = "jwt"
	FormatOpaque TokenFormat = "opaque"
)

// Minter issues access tokens.
type Minter struct {
	Issuer string
	Format TokenFormat
	Keys   interface{ Load() *KeySet }
	Store  tokenstore.Store
	Rand   io.Reader
}

// newID returns 128 random bits, base64url: a jti or family id.
func newID(rand io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", err
	}
	return b64.EncodeToString(b[:]), nil
}

// Mint issues an access token for g. g.ID is filled in: a random jti for a
// JWT; for an opaque token the id derived from it (opaqueAccessID), the
// token carrying g.FamilyID, so that its verification reads the record and
// the deny-list in one round trip. Opaque tokens are stored by hash; a
// store failure is returned wrapped in ErrUnavailable.
func (m *Minter) Mint(ctx context.Context, g *tokenstore.Grant) (string, error) {
	if m.Format == FormatOpaque {
		tok, err := newAccessToken(m.Rand, g.FamilyID)
		if err != nil {
			return "", err
		}
		g.ID = opaqueAccessID(tok)
		if err := m.Store.PutAccess(ctx, tokenstore.KeyOf(tok), *g); err != nil {
			return "", fmt.Errorf("storing access token: %w", err)
		}
		return tok, nil
	}
	id, err := newID(m.Rand)
	if err != nil {
		return "", err
	}
	g.ID = id
	return m.signJWT(g)
}

func (m *Minter) signJWT(g *tokenstore.Grant) (string, error) {
	return signJWT(m.Keys.Load().Signer(), &claims{
		Issuer: m.Issuer, Subject: g.Subject, Audience: g.Audience,
		ExpiresAt: g.ExpiresAt.Unix(), IssuedAt: g.IssuedAt.Unix(),
		ID: g.ID, ClientID: g.ClientID, Scope: JoinScopes(g.Scopes), Family: g.FamilyID,
	})
}

// expiry returns issuedAt+ttl truncated to whole seconds, as tokens carry it.
func expiry(issuedAt time.Time, ttl time.Duration) time.Time {
	return issuedAt.Add(ttl).Truncate(time.Second)
}

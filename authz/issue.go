package authz

import (
	"context"
	"encoding/json"
	"errors"
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

// audience marshals as a string when single and an array otherwise (RFC 7519 §4.1.3).
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = many
	return nil
}

// claims are the RFC 9068 access-token claims.
type claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	ExpiresAt int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf,omitempty"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	// Family ties the token to its authorization so revoking a code or a
	// refresh-token family ends it too.
	Family string `json:"fam,omitempty"`
}

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
	payload, err := json.Marshal(claims{
		Issuer: m.Issuer, Subject: g.Subject, Audience: g.Audience,
		ExpiresAt: g.ExpiresAt.Unix(), IssuedAt: g.IssuedAt.Unix(),
		ID: g.ID, ClientID: g.ClientID, Scope: JoinScopes(g.Scopes), Family: g.FamilyID,
	})
	if err != nil {
		return "", err
	}
	// JWS compact serialization (RFC 7515 §7.1) with the key's fixed header.
	k := m.Keys.Load().Signer()
	out := make([]byte, 0, len(k.header)+b64.EncodedLen(len(payload))+b64.EncodedLen(512)+2)
	out = append(out, k.header...)
	out = append(out, '.')
	out = b64.AppendEncode(out, payload)
	sig, err := k.signJWS(out)
	if err != nil {
		return "", err
	}
	out = append(out, '.')
	return string(b64.AppendEncode(out, sig)), nil
}

// expiry returns issuedAt+ttl truncated to whole seconds, as tokens carry it.
func expiry(issuedAt time.Time, ttl time.Duration) time.Time {
	return issuedAt.Add(ttl).Truncate(time.Second)
}

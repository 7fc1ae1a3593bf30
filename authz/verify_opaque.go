package authz

import (
	"context"
	"errors"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

func (v *Verifier) verifyOpaque(ctx context.Context, tok string) (*Identity, *Error) {
	if !WellFormedOpaque(tok, PrefixAccess) {
		return nil, ErrInvalidToken.WithDescription("the access token is invalid").WithReason("malformed")
	}
	g, err := v.Store.GetAccess(ctx, tokenstore.KeyOf(tok))
	if errors.Is(err, tokenstore.ErrNotFound) {
		return nil, ErrInvalidToken.WithDescription("the access token is invalid, expired or revoked").WithReason("unknown")
	}
	if err != nil {
		return nil, ErrTemporarilyUnavailable.WithDescription("the token store is unavailable").WithReason("store_unavailable")
	}
	// The store drops entries at expiry; skew is not granted to opaque tokens
	// because their clock is the server's own.
	if rerr := v.checkRevoked(ctx, g.ID, g.FamilyID); rerr != nil {
		return nil, rerr
	}
	return newIdentity(g.Subject, g.ClientID, g.Scopes, g.Audience, g.IssuedAt, g.ExpiresAt, g.ID, g.FamilyID), nil
}

// checkRevoked asks the deny-list about the token's id and its family's,
// in one round trip where the store can (tokenstore.RevokedAny).
func (v *Verifier) checkRevoked(ctx context.Context, id, family string) *Error {
	revoked, err := tokenstore.IsRevokedAny(ctx, v.Store, id, family)
	if err != nil {
		return ErrTemporarilyUnavailable.WithDescription("the token store is unavailable").WithReason("store_unavailable")
	}
	if revoked {
		return ErrInvalidToken.WithDescription("the access token has been revoked").WithReason("revoked")
	}
	return nil
}

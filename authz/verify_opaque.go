// Verifying opaque access tokens against the store and the revocation deny-list.

package authz

import (
	"context"
	"errors"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// verifyOpaque reads the token's record and checks its deny-list entries
// in one round trip (tokenstore.AccessChecker): the
// token names its own id (derived from it) and its family (carried in it),
// and a record whose ids are not those is refused.
func (v *Verifier) verifyOpaque(ctx context.Context, tok string) (*Identity, *Error) {
	if !WellFormedOpaque(tok, PrefixAccess) {
		return nil, ErrInvalidToken.WithDescription("the access token is invalid").WithReason("malformed")
	}
	id, family := opaqueAccessID(tok), opaqueFamily(tok)
	g, revoked, err := v.Store.GetAccessChecked(ctx, tokenstore.KeyOf(tok), id, family)
	if errors.Is(err, tokenstore.ErrNotFound) {
		return nil, ErrInvalidToken.WithDescription("the access token is invalid, expired or revoked").WithReason("unknown")
	}
	if err != nil {
		return nil, ErrTemporarilyUnavailable.WithDescription("the token store is unavailable").WithReason("store_unavailable")
	}
	if revoked {
		return nil, errRevoked()
	}
	if g.ID != id || g.FamilyID != family {
		// Mint always stores these ids; anything else is not our record.
		return nil, ErrInvalidToken.WithDescription("the access token is invalid").WithReason("invalid")
	}
	// The store drops entries at expiry; skew is not granted to opaque tokens
	// because their clock is the server's own.
	return newIdentity(g.Subject, g.ClientID, g.Scopes, g.Audience, g.IssuedAt, g.ExpiresAt, g.ID, g.FamilyID), nil
}

func errRevoked() *Error {
	return ErrInvalidToken.WithDescription("the access token has been revoked").WithReason("revoked")
}

// checkRevoked asks the deny-list about the token's id and its family's,
// in one round trip (tokenstore.RevokedAny).
func (v *Verifier) checkRevoked(ctx context.Context, id, family string) *Error {
	revoked, err := v.Store.IsRevokedAny(ctx, id, family)
	if err != nil {
		return ErrTemporarilyUnavailable.WithDescription("the token store is unavailable").WithReason("store_unavailable")
	}
	if revoked {
		return errRevoked()
	}
	return nil
}

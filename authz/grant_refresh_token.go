// The refresh_token grant: rotation, reuse detection and family revocation.

package authz

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// refreshToken is the refresh_token grant with rotation (RFC 6749 §6,
// RFC 9700 §4.14.2, CONFORMANCE T4): every use returns a new refresh token
// and ends the old one; replaying a rotated one revokes the whole family.
func (s *Server) refreshToken(ctx context.Context, r *http.Request, c *Client, p Params) (*TokenResponse, *Error) {
	rt := p["refresh_token"]
	if rt == "" {
		return nil, ErrInvalidRequest.WithDescription("refresh_token is required")
	}
	if !WellFormedOpaque(rt, PrefixRefresh) {
		return nil, ErrInvalidGrant.WithDescription("the refresh token is invalid or expired")
	}
	var asked []string
	if raw, ok := p["scope"]; ok {
		var perr *Error
		if asked, perr = ParseScope(raw); perr != nil {
			return nil, perr
		}
	}
	k := tokenstore.KeyOf(rt)
	// Look before redeeming, so that neither another client presenting a
	// stolen token nor a request with a bad scope burns the owner's token,
	// and so that the new tokens are stored before the old one is used up
	// (see issueTokens): a store failure leaves it usable for the retry.
	g, err := s.cfg.Store.GetRefresh(ctx, k)
	switch {
	case errors.Is(err, tokenstore.ErrNotFound):
		// Redeemed before (a replay) or unknown: only the redemption tells.
		g, err := s.cfg.Store.TakeRefresh(ctx, k)
		return nil, s.refreshRedeemed(ctx, c, g, err)
	case err != nil:
		return nil, storeError(err, "could not read the refresh token")
	}
	if g.ClientID != c.ID {
		return nil, ErrInvalidGrant.WithDescription("the refresh token was issued to another client")
	}
	if e := narrowScopes(g.Scopes, asked); e != nil {
		return nil, e
	}
	// The family check comes before the redemption: concurrent replays
	// revoke the family as they lose, and must not also fail the one
	// request that won.
	if revoked, err := s.cfg.Store.IsRevoked(ctx, g.FamilyID); err != nil {
		return nil, storeError(err, "could not check the refresh token")
	} else if revoked {
		return nil, ErrInvalidGrant.WithDescription("the refresh token has been revoked")
	}
	if g.IssuedAt.Before(c.NotBefore) {
		return nil, ErrInvalidGrant.WithDescription("the refresh token was issued to another client")
	}
	if e := narrowScopes(g.Scopes, asked); e != nil {
		return nil, e
	}
	aud, e := s.narrowResources(g.Audience, p)
	if e != nil {
		return nil, e
	}
	scopes := g.Scopes
	if len(asked) > 0 {
		scopes = asked
	}
	// Scopes the client has lost since the grant are not issued again.
	scopes = slices.DeleteFunc(slices.Clone(scopes), func(sc string) bool { return !c.AllowsScope(sc) })
	access := tokenstore.Grant{Subject: g.Subject, Scopes: scopes, Audience: aud, FamilyID: g.FamilyID, AuthTime: g.AuthTime}
	next := &tokenstore.Grant{Subject: g.Subject, Scopes: g.Scopes, Audience: g.Audience, AuthTime: g.AuthTime, RefreshCount: g.RefreshCount + 1}
	oidc, e := s.openIDGrant(c, scopes)
	if e != nil {
		return nil, e
	}
	resp, e := s.issueTokens(r, GrantRefreshToken, c, access, next, func() *Error {
		taken, err := s.cfg.Store.TakeRefresh(ctx, k)
		return s.refreshRedeemed(ctx, c, taken, err)
	})
	if e != nil || !oidc {
		return resp, e
	}
	// The same sub and auth_time as the first ID token (OIDC Core §12.2).
	return s.withIDToken(ctx, c, resp, idTokenFor{Subject: g.Subject, Scopes: scopes, AuthTime: g.AuthTime, FamilyID: g.FamilyID})
}

// refreshRedeemed turns the outcome of a refresh token's redemption into
// the grant's answer: nil when this request used it up.
func (s *Server) refreshRedeemed(ctx context.Context, c *Client, g tokenstore.Grant, err error) *Error {
	switch {
	case errors.Is(err, tokenstore.ErrReused):
		s.revokeFamily(ctx, c, g, "refresh token reused")
		return ErrInvalidGrant.WithDescription("the refresh token was already used; its token family is revoked")
	case errors.Is(err, tokenstore.ErrNotFound):
		return ErrInvalidGrant.WithDescription("the refresh token is invalid or expired")
	case err != nil:
		return storeError(err, "could not redeem the refresh token")
	case g.ClientID != c.ID:
		return ErrInvalidGrant.WithDescription("the refresh token was issued to another client")
	}
	return nil
}

// narrowScopes checks that a refresh asks for no scope beyond the grant's.
func narrowScopes(granted, asked []string) *Error {
	for _, sc := range asked {
		if !slices.Contains(granted, sc) {
			return ErrInvalidScope.WithDescription("scope " + sc + " exceeds what was granted")
		}
	}
	return nil
}

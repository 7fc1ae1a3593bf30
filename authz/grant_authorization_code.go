// The authorization_code grant (RFC 6749 §4.1.3): one redemption, redirect URI and PKCE checks, reuse.

package authz

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// authorizationCode is the authorization_code grant (RFC 6749 §4.1.3,
// CONFORMANCE T3): the code is redeemed once, by the client it was issued
// to, with the same redirect URI and a matching PKCE verifier. A second
// redemption revokes everything the first one issued.
//
// The code is read, checked and the new tokens stored before it is used up
// (see issueTokens): a store failure on the way leaves it redeemable by the
// retry the 503 advises, instead of turning that retry into a "reuse".
func (s *Server) authorizationCode(ctx context.Context, r *http.Request, c *Client, p Params) (*TokenResponse, *Error) {
	code := p["code"]
	if code == "" {
		return nil, ErrInvalidRequest.WithDescription("code is required")
	}
	if !WellFormedOpaque(code, PrefixCode) {
		return nil, ErrInvalidGrant.WithDescription("the code is invalid or expired")
	}
	k := tokenstore.KeyOf(code)
	g, raw, err := s.cfg.Store.GetCode(ctx, k)
	switch {
	case errors.Is(err, tokenstore.ErrReused):
		s.revokeFamily(ctx, c, g, "authorization code reused")
		return nil, ErrInvalidGrant.WithDescription("the code was already used; the tokens issued from it are revoked")
	case errors.Is(err, tokenstore.ErrNotFound):
		return nil, ErrInvalidGrant.WithDescription("the code is invalid or expired")
	case err != nil:
		return nil, storeError(err, "could not redeem the code")
	}
	if g.ClientID != c.ID {
		return nil, ErrInvalidGrant.WithDescription("the code was issued to another client")
	}
	var cp codePayload
	if err := json.Unmarshal(raw, &cp); err != nil {
		return nil, ErrServerError.WithDescription("unreadable code record")
	}
	ru, hasRU := p["redirect_uri"]
	if cp.Given && !hasRU {
		return nil, ErrInvalidRequest.WithDescription("redirect_uri is required: it was sent with the authorization request")
	}
	if hasRU && ru != cp.RedirectURI {
		return nil, ErrInvalidGrant.WithDescription("redirect_uri does not match the authorization request")
	}
	verifier, hasVerifier := p["code_verifier"]
	switch {
	case cp.Challenge != "" && !hasVerifier:
		return nil, ErrInvalidGrant.WithDescription("code_verifier is required")
	case cp.Challenge != "" && !VerifyPKCE(cp.Method, cp.Challenge, verifier):
		return nil, ErrInvalidGrant.WithDescription("code_verifier does not match the code_challenge")
	case cp.Challenge == "" && hasVerifier:
		// RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
		return nil, ErrInvalidGrant.WithDescription("no code_challenge was sent with the authorization request")
	}
	aud, e := s.narrowResources(g.Audience, p)
	if e != nil {
		return nil, e
	}
	access := tokenstore.Grant{Subject: g.Subject, Scopes: g.Scopes, Audience: aud, FamilyID: g.FamilyID, AuthTime: g.AuthTime}
	var refresh *tokenstore.Grant
	if c.AllowsGrant(GrantRefreshToken) {
		// The refresh token keeps every authorized resource: a later
		// refresh may name any of them (RFC 8707 §2.2).
		refresh = &tokenstore.Grant{Subject: g.Subject, Scopes: g.Scopes, Audience: g.Audience, AuthTime: g.AuthTime}
	}
	oidc, e := s.openIDGrant(c, g.Scopes)
	if e != nil {
		return nil, e
	}
	resp, e := s.issueTokens(r, GrantAuthorizationCode, c, access, refresh, func() *Error {
		_, _, err := s.cfg.Store.TakeCode(ctx, k)
		switch {
		case errors.Is(err, tokenstore.ErrReused):
			// Another request redeemed it since we read it: a replay.
			s.revokeFamily(ctx, c, g, "authorization code reused")
			return ErrInvalidGrant.WithDescription("the code was already used; the tokens issued from it are revoked")
		case errors.Is(err, tokenstore.ErrNotFound):
			return ErrInvalidGrant.WithDescription("the code is invalid or expired")
		case err != nil:
			return storeError(err, "could not redeem the code")
		}
		return nil
	})
	if e != nil || !oidc {
		return resp, e
	}
	return s.withIDToken(ctx, c, resp, idTokenFor{Subject: g.Subject, Scopes: g.Scopes, AuthTime: g.AuthTime,
		Nonce: cp.Nonce, FamilyID: g.FamilyID})
}

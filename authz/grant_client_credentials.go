// The client_credentials grant (RFC 6749 §4.4): confidential clients only, no refresh token.

package authz

import (
	"context"
	"net/http"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// clientCredentials is the client_credentials grant (RFC 6749 §4.4,
// CONFORMANCE T5): confidential clients only, no refresh token, the subject
// is the client's configured user or else the client id.
func (s *Server) clientCredentials(_ context.Context, r *http.Request, c *Client, p Params) (*TokenResponse, *Error) {
	if c.Public {
		return nil, ErrUnauthorizedClient.WithDescription("client_credentials requires a confidential client")
	}
	scopes, err := s.requestedScopes(c, p)
	if err != nil {
		return nil, err
	}
	aud, err := s.requestedResources(p.Values(ParamResource))
	if err != nil {
		return nil, err
	}
	sub := c.User
	if sub == "" {
		sub = c.ID
	}
	return s.issueTokens(r, GrantClientCredentials, c, tokenstore.Grant{Subject: sub, Scopes: scopes, Audience: aud}, nil, nil)
}

// RFC 7662 token introspection: POST /oauth/introspect.

package authz

import (
	"context"
	"net/http"
	"strings"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// Introspection is the RFC 7662 §2.2 response.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	ExpiresAt int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	Audience  audience `json:"aud,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	ID        string   `json:"jti,omitempty"`
}

// serveIntrospect is RFC 7662 (CONFORMANCE V2): the caller is an
// authenticated client; anything not valid is {"active": false}.
func (s *Server) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	c, tok, ok := s.clientPOST(w, r)
	if !ok {
		return
	}
	if c.Public {
		WriteError(w, ErrInvalidClient.WithDescription("introspection needs an authenticated (confidential) client"))
		return
	}
	ctx := r.Context()
	out := Introspection{}
	if strings.HasPrefix(tok, PrefixRefresh) {
		info, found, err := s.lookup(ctx, tok)
		if err != nil {
			WriteError(w, storeError(err, "could not introspect the token"))
			return
		}
		if found && s.activeRefresh(ctx, info.grant) {
			out = s.introspection(info.grant, "refresh_token")
		}
	} else if id, verr := s.verifier.Verify(ctx, tok); verr == nil {
		out = s.introspection(tokenstore.Grant{ClientID: id.ClientID, Subject: id.Subject, Scopes: id.Scopes,
			Audience: id.Audience, IssuedAt: id.IssuedAt, ExpiresAt: id.ExpiresAt, ID: id.ID}, "Bearer")
	} else if verr.Is(ErrTemporarilyUnavailable) {
		WriteError(w, verr)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// activeRefresh: a stored refresh token whose family is not revoked and
// whose client is still active.
func (s *Server) activeRefresh(ctx context.Context, g tokenstore.Grant) bool {
	if revoked, err := s.cfg.Store.IsRevoked(ctx, g.FamilyID); err != nil || revoked {
		return false
	}
	c, err := s.registry.Client(ctx, g.ClientID)
	return err == nil && !c.Disabled && !g.IssuedAt.Before(c.NotBefore)
}

func (s *Server) introspection(g tokenstore.Grant, typ string) Introspection {
	return Introspection{Active: true, Scope: JoinScopes(g.Scopes), ClientID: g.ClientID, Subject: g.Subject,
		ExpiresAt: g.ExpiresAt.Unix(), IssuedAt: g.IssuedAt.Unix(), Issuer: s.cfg.Issuer, Audience: g.Audience,
		TokenType: typ, ID: g.ID}
}

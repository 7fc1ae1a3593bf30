package authz

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// Endpoint paths of RFC 7009 and RFC 7662.
const (
	PathRevoke     = "/oauth/revoke"
	PathIntrospect = "/oauth/introspect"
)

// clientPOST is the shared front of the revocation and introspection
// endpoints: POST only, parameters parsed, the caller authenticated, a
// token given.
func (s *Server) clientPOST(w http.ResponseWriter, r *http.Request) (*Client, string, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		e := ErrInvalidRequest.WithDescription("use POST")
		e.Status = http.StatusMethodNotAllowed
		WriteError(w, e)
		return nil, "", false
	}
	p, perr := ParseParams(w, r)
	if perr != nil {
		WriteError(w, perr)
		return nil, "", false
	}
	c, aerr := s.authenticateClient(r, p)
	if aerr != nil {
		s.refuseClient(w, r, p, "", aerr)
		return nil, "", false
	}
	if p["token"] == "" {
		WriteError(w, ErrInvalidRequest.WithDescription("token is required"))
		return nil, "", false
	}
	return c, p["token"], true
}

// tokenInfo is what a presented token turns out to be.
type tokenInfo struct {
	refresh bool
	grant   tokenstore.Grant
	jwt     bool
}

// lookup finds a token of any kind, whatever the hint says (RFC 7009 §2.1:
// the hint only speeds the search). ok is false for unknown or invalid tokens.
func (s *Server) lookup(ctx context.Context, tok string) (tokenInfo, bool, error) {
	switch {
	case strings.HasPrefix(tok, PrefixRefresh):
		if !WellFormedOpaque(tok, PrefixRefresh) {
			return tokenInfo{}, false, nil
		}
		g, err := s.cfg.Store.GetRefresh(ctx, tokenstore.KeyOf(tok))
		if errors.Is(err, tokenstore.ErrNotFound) {
			return tokenInfo{}, false, nil
		}
		return tokenInfo{refresh: true, grant: g}, err == nil, err
	case strings.HasPrefix(tok, PrefixAccess):
		if !WellFormedOpaque(tok, PrefixAccess) {
			return tokenInfo{}, false, nil
		}
		g, err := s.cfg.Store.GetAccess(ctx, tokenstore.KeyOf(tok))
		if errors.Is(err, tokenstore.ErrNotFound) {
			return tokenInfo{}, false, nil
		}
		return tokenInfo{grant: g}, err == nil, err
	default:
		c, verr := s.verifier.parseJWT(tok)
		if verr != nil {
			return tokenInfo{}, false, nil
		}
		return tokenInfo{jwt: true, grant: tokenstore.Grant{
			ClientID: c.ClientID, Subject: c.Subject, Scopes: strings.Fields(c.Scope), Audience: c.Audience,
			IssuedAt: time.Unix(c.IssuedAt, 0), ExpiresAt: time.Unix(c.ExpiresAt, 0), ID: c.ID, FamilyID: c.Family,
		}}, true, nil
	}
}

// serveRevoke is RFC 7009 (CONFORMANCE V1): 200 for unknown tokens; a client
// revokes only its own; a refresh token takes its whole family with it.
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	c, tok, ok := s.clientPOST(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	info, found, err := s.lookup(ctx, tok)
	if err != nil {
		WriteError(w, storeError(err, "could not revoke the token"))
		return
	}
	if found {
		if info.grant.ClientID != c.ID {
			WriteError(w, ErrUnauthorizedClient.WithDescription("the token was not issued to this client"))
			return
		}
		if err := s.revoke(ctx, c, tok, info); err != nil {
			WriteError(w, storeError(err, "could not revoke the token"))
			return
		}
		s.cfg.Observe(Event{Kind: "revoked", ClientID: c.ID, Subject: info.grant.Subject, Reason: kindOf(info)})
	}
	noStore(w)
	w.WriteHeader(http.StatusOK)
}

func kindOf(info tokenInfo) string {
	switch {
	case info.refresh:
		return "refresh_token"
	case info.jwt:
		return "access_token (jwt)"
	}
	return "access_token (opaque)"
}

// revoke ends one token. Access tokens go on the deny-list until they
// expire (and opaque records are deleted); a refresh token revokes its
// family, which ends every access token issued from the same authorization.
func (s *Server) revoke(ctx context.Context, c *Client, tok string, info tokenInfo) error {
	if info.refresh {
		longest := max(s.cfg.RefreshTokenTTL, s.cfg.AccessTokenTTL, c.RefreshTokenTTL, c.AccessTokenTTL)
		if err := s.cfg.Store.Revoke(ctx, info.grant.FamilyID, s.cfg.Now().Add(longest+s.cfg.Skew)); err != nil {
			return err
		}
		s.verifier.NoteRevoked(info.grant.FamilyID)
		return s.cfg.Store.DeleteRefresh(ctx, tokenstore.KeyOf(tok))
	}
	if err := s.cfg.Store.Revoke(ctx, info.grant.ID, info.grant.ExpiresAt.Add(s.cfg.Skew)); err != nil {
		return err
	}
	s.verifier.NoteRevoked(info.grant.ID)
	if !info.jwt {
		return s.cfg.Store.DeleteAccess(ctx, tokenstore.KeyOf(tok))
	}
	return nil
}

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
	c, err := s.cfg.Clients.Client(ctx, g.ClientID)
	return err == nil && !c.Disabled && !g.IssuedAt.Before(c.NotBefore)
}

func (s *Server) introspection(g tokenstore.Grant, typ string) Introspection {
	return Introspection{Active: true, Scope: JoinScopes(g.Scopes), ClientID: g.ClientID, Subject: g.Subject,
		ExpiresAt: g.ExpiresAt.Unix(), IssuedAt: g.IssuedAt.Unix(), Issuer: s.cfg.Issuer, Audience: g.Audience,
		TokenType: typ, ID: g.ID}
}

// RevokeAny revokes a token whoever it was issued to: for operators (admin
// API, CLI). found is false for unknown or invalid tokens.
func (s *Server) RevokeAny(ctx context.Context, tok string) (found bool, err error) {
	info, found, err := s.lookup(ctx, tok)
	if err != nil || !found {
		return false, err
	}
	c, cerr := s.cfg.Clients.Client(ctx, info.grant.ClientID)
	if cerr != nil {
		c = &Client{ID: info.grant.ClientID} // a deleted client: its own lifetimes are gone
	}
	if err := s.revoke(ctx, c, tok, info); err != nil {
		return true, err
	}
	s.cfg.Observe(Event{Kind: "revoked", ClientID: c.ID, Subject: info.grant.Subject, Reason: "by operator: " + kindOf(info)})
	return true, nil
}

// Registry returns the server's client registry when it is one.
func (s *Server) Registry() *Registry {
	r, _ := s.cfg.Clients.(*Registry)
	return r
}

// Scopes returns the scope catalog.
func (s *Server) Scopes() *Catalog { return s.cfg.Scopes }

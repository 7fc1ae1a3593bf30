// Token revocation (RFC 7009): POST /oauth/revoke, looking up what a token is, and revoking families.

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
		s.cfg.Observe(Event{Kind: EventRevoked, ClientID: c.ID, Subject: info.grant.Subject, Reason: kindOf(info), Revoked: info.kind()})
	}
	noStore(w)
	w.WriteHeader(http.StatusOK)
}

// kind is what revoking info ends, for the metric.
func (info tokenInfo) kind() RevokedKind {
	if info.refresh {
		return RevokedRefreshToken
	}
	return RevokedAccessToken
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

// RevokeAny revokes a token whoever it was issued to: for operators (admin
// API, CLI). found is false for unknown or invalid tokens.
func (s *Server) RevokeAny(ctx context.Context, tok string) (found bool, err error) {
	info, found, err := s.lookup(ctx, tok)
	if err != nil || !found {
		return false, err
	}
	c, cerr := s.registry.Client(ctx, info.grant.ClientID)
	if cerr != nil {
		c = &Client{ID: info.grant.ClientID} // a deleted client: its own lifetimes are gone
	}
	if err := s.revoke(ctx, c, tok, info); err != nil {
		return true, err
	}
	s.cfg.Observe(Event{Kind: EventRevoked, ClientID: c.ID, Subject: info.grant.Subject, Reason: "by operator: " + kindOf(info),
		Revoked: info.kind(), ByOperator: true})
	return true, nil
}

// Registry returns the server's client registry when it is one.
func (s *Server) Registry() *Registry { return s.registry }

// Scopes returns the scope catalog.
func (s *Server) Scopes() *Catalog { return s.cfg.Scopes }

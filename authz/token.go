// The token endpoint (RFC 6749 §3.2): POST /oauth/token, scope checks, issuing tokens and store errors.

package authz

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// TokenResponse is the RFC 6749 §5.1 success body, plus created_at (seed 000).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	CreatedAt    int64  `json:"created_at"`
	// IDToken is OpenID Connect's, for grants with the openid scope.
	IDToken string `json:"id_token,omitempty"`

	// Extended fields (response_fields extended), spelled as seed 003's
	// Apigee-style clients read them: strings, issued_at in milliseconds.
	Status                string `json:"status,omitempty"`
	RefreshTokenExpiresIn string `json:"refresh_token_expires_in,omitempty"`
	RefreshTokenIssuedAt  string `json:"refresh_token_issued_at,omitempty"`
	RefreshCount          string `json:"refresh_count,omitempty"`
}

// serveToken is POST /oauth/token (CONFORMANCE T1–T8).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		e := ErrInvalidRequest.WithDescription("the token endpoint accepts only POST")
		e.Status = http.StatusMethodNotAllowed
		WriteError(w, e)
		return
	}
	p, perr := ParseParams(w, r)
	if perr != nil {
		s.refuse(w, "", nil, perr)
		return
	}
	gt, ok := p["grant_type"]
	if !ok || gt == "" {
		s.refuse(w, "", nil, ErrInvalidRequest.WithDescription("grant_type is required"))
		return
	}
	handle, ok := s.grants[gt]
	if !ok {
		s.refuse(w, "", nil, ErrUnsupportedGrantType.WithDescription("this server does not support that grant_type"))
		return
	}
	c, aerr := s.authenticateClient(r, p)
	if aerr != nil {
		s.refuseClient(w, r, p, gt, aerr)
		return
	}
	if !c.AllowsGrant(gt) {
		s.refuse(w, gt, c, ErrUnauthorizedClient.WithDescription("the client is not allowed the "+gt+" grant"))
		return
	}
	resp, gerr := handle(r.Context(), r, c, p)
	if gerr != nil {
		s.refuse(w, gt, c, gerr)
		return
	}
	s.registry.markUsed(r.Context(), c) // a registered client's first token: it is used (G1)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) refuse(w http.ResponseWriter, grant string, c *Client, e *Error) {
	ev := Event{Kind: EventRefused, Grant: grant, Error: e.Code, Reason: e.Description}
	if c != nil {
		ev.ClientID = c.ID
	}
	s.cfg.Observe(ev)
	WriteError(w, e)
}

// refuseClient refuses a failed client authentication, naming in the event
// the client id that was presented (unauthenticated: only for logs) and the
// caller's address.
func (s *Server) refuseClient(w http.ResponseWriter, r *http.Request, p Params, grant string, e *Error) {
	s.cfg.Observe(Event{Kind: EventClientAuthFailed, Grant: grant, ClientID: truncate(claimedClientID(r, p), 256),
		Address: s.cfg.ClientIP(r), Error: e.Code, Reason: e.Description})
	WriteError(w, e)
}

// requestedScopes resolves the scope of a request (CONFORMANCE A5): the
// `scope` parameter (or Oro's `scopes`, seed 002), else the client's default
// scopes, else the catalog's defaults the client is allowed. Every scope must
// be in the catalog and allowed for the client.
func (s *Server) requestedScopes(c *Client, p Params) ([]string, *Error) {
	raw, hasScope := p["scope"]
	if alt, hasAlt := p["scopes"]; hasAlt {
		if hasScope {
			return nil, ErrInvalidRequest.WithDescription("send either scope or scopes, not both")
		}
		raw, hasScope = alt, true
	}
	if hasScope {
		scopes, err := ParseScope(raw)
		if err != nil {
			return nil, err
		}
		if len(scopes) > 0 {
			for _, sc := range scopes {
				if _, known := s.cfg.Scopes.Lookup(sc); !known {
					return nil, ErrInvalidScope.WithDescription("unknown scope " + sc)
				}
				if !c.AllowsScope(sc) {
					return nil, ErrInvalidScope.WithDescription("scope " + sc + " is not allowed for this client")
				}
			}
			return scopes, nil
		}
	}
	if len(c.DefaultScopes) > 0 {
		return c.DefaultScopes, nil
	}
	var out []string
	for _, d := range s.cfg.Scopes.Defaults() {
		if c.AllowsScope(d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// issueTokens mints an access token for g and, when refresh is not nil, a
// refresh token for *refresh; it renders the response (CONFORMANCE T7).
//
// redeem, when not nil, uses up what the grant was exchanged for (the code,
// the old refresh token), and runs only after the new tokens are stored: a
// store failure before it leaves the code or refresh token usable for the
// retry a 503 advises, and a failed redemption withdraws the new tokens,
// which nobody has seen. Both succeed, or the client may try again.
func (s *Server) issueTokens(r *http.Request, grant string, c *Client, g tokenstore.Grant, refresh *tokenstore.Grant, redeem func() *Error) (*TokenResponse, *Error) {
	now := s.cfg.Now()
	ttl := c.AccessTokenTTL
	if ttl <= 0 {
		ttl = s.cfg.AccessTokenTTL
	}
	g.ClientID = c.ID
	g.IssuedAt = now.Truncate(time.Second)
	g.ExpiresAt = expiry(now, ttl)
	if len(g.Audience) == 0 {
		g.Audience = c.Audience
		if len(g.Audience) == 0 {
			g.Audience = s.cfg.DefaultAudience
		}
	}
	tok, err := s.minter.Mint(r.Context(), &g)
	if err != nil {
		return nil, storeError(err, "could not issue a token")
	}
	var refreshKey *tokenstore.Key
	resp := &TokenResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresIn:   int64(g.ExpiresAt.Sub(g.IssuedAt) / time.Second),
		Scope:       JoinScopes(g.Scopes),
		CreatedAt:   g.IssuedAt.Unix(),
	}
	if refresh != nil {
		rttl := c.RefreshTokenTTL
		if rttl <= 0 {
			rttl = s.cfg.RefreshTokenTTL
		}
		rg := *refresh
		rg.ClientID, rg.FamilyID, rg.IssuedAt, rg.ExpiresAt = c.ID, g.FamilyID, g.IssuedAt, expiry(now, rttl)
		rt, err := NewOpaqueToken(s.cfg.Rand, PrefixRefresh)
		if err != nil {
			return nil, ErrServerError.WithDescription("could not issue a refresh token")
		}
		if rg.ID, err = newID(s.cfg.Rand); err != nil {
			return nil, ErrServerError.WithDescription("could not issue a refresh token")
		}
		if err := s.cfg.Store.PutRefresh(r.Context(), tokenstore.KeyOf(rt), rg); err != nil {
			s.withdraw(r.Context(), tok, nil)
			return nil, storeError(err, "could not issue a refresh token")
		}
		k := tokenstore.KeyOf(rt)
		refreshKey = &k
		resp.RefreshToken = rt
		if s.cfg.ExtendedFields {
			resp.RefreshTokenExpiresIn = strconv.FormatInt(int64(rg.ExpiresAt.Sub(rg.IssuedAt)/time.Second), 10)
			resp.RefreshTokenIssuedAt = strconv.FormatInt(rg.IssuedAt.UnixMilli(), 10)
		}
	}
	if redeem != nil {
		if e := redeem(); e != nil {
			s.withdraw(r.Context(), tok, refreshKey)
			return nil, e
		}
	}
	if s.cfg.ExtendedFields {
		resp.Status = "approved"
		count := 0
		if refresh != nil {
			count = refresh.RefreshCount
		}
		resp.RefreshCount = strconv.Itoa(count)
	}
	s.cfg.Observe(Event{Kind: EventIssued, Grant: grant, ClientID: c.ID, Subject: g.Subject,
		Scopes: g.Scopes, ExpiresIn: g.ExpiresAt.Sub(g.IssuedAt)})
	return resp, nil
}

// withdraw deletes tokens stored for a response that is not sent. Best
// effort: what it cannot delete is a token nobody has, expiring by itself
// (and, for a lost redemption race, of a family being revoked).
func (s *Server) withdraw(ctx context.Context, access string, refresh *tokenstore.Key) {
	if strings.HasPrefix(access, PrefixAccess) {
		_ = s.cfg.Store.DeleteAccess(ctx, tokenstore.KeyOf(access))
	}
	if refresh != nil {
		_ = s.cfg.Store.DeleteRefresh(ctx, *refresh)
	}
}

// storeError maps a store failure to 503 temporarily_unavailable (fail
// closed), anything else to server_error.
func storeError(err error, what string) *Error {
	if errors.Is(err, tokenstore.ErrFull) {
		return errStoreFull
	}
	if errors.Is(err, tokenstore.ErrUnavailable) {
		return ErrTemporarilyUnavailable.WithDescription("the token store is unavailable; retry later")
	}
	return ErrServerError.WithDescription(what)
}

// errStoreFull is a bounded store at its limit: not an outage, and the
// operator's fix is another limit, so the answer says which.
var errStoreFull = ErrTemporarilyUnavailable.WithDescription("the token store is full (its max_entries is reached); retry later").WithReason("store_full")

// revokeFamily ends everything issued from one authorization: its access
// tokens (opaque and JWT carry the family id) and its refresh tokens. The
// entry lives as long as the family's own longest-lived token could: by the
// lifetimes of the client the family was issued to (g.ClientID), not of the
// one presenting the replay, which may be another client with shorter ones.
func (s *Server) revokeFamily(ctx context.Context, presenter *Client, g tokenstore.Grant, reason string) {
	if g.FamilyID == "" {
		return
	}
	longest := max(s.cfg.RefreshTokenTTL, s.cfg.AccessTokenTTL, presenter.RefreshTokenTTL, presenter.AccessTokenTTL)
	if g.ClientID != presenter.ID {
		if owner, err := s.registry.Client(ctx, g.ClientID); err == nil {
			longest = max(longest, owner.RefreshTokenTTL, owner.AccessTokenTTL)
		} else if !errors.Is(err, ErrUnknownClient) {
			// The owner's lifetimes are unknown for now: keep the entry
			// as long as any lifetime this server allows could need.
			longest = max(longest, maxClientTTL)
		}
	}
	until := s.cfg.Now().Add(longest + s.cfg.Skew)
	if g.ExpiresAt.After(until) {
		until = g.ExpiresAt.Add(s.cfg.Skew)
	}
	err := s.cfg.Store.Revoke(ctx, g.FamilyID, until)
	s.verifier.NoteRevoked(g.FamilyID)
	s.cfg.Observe(Event{Kind: EventFamilyRevoked, ClientID: presenter.ID, Reason: reason, Error: errString(err), Revoked: RevokedFamily})
}

// maxClientTTL bounds a family revocation whose owner could not be looked up.
const maxClientTTL = 366 * 24 * time.Hour

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

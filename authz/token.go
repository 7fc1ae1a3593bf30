package authz

import (
	"errors"
	"net/http"
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
	c, aerr := AuthenticateClient(r.Context(), s.cfg.Clients, r, p)
	if aerr != nil {
		s.refuse(w, gt, nil, aerr)
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
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) refuse(w http.ResponseWriter, grant string, c *Client, e *Error) {
	ev := Event{Kind: "refused", Grant: grant, Error: e.Code, Reason: e.Description}
	if c != nil {
		ev.ClientID = c.ID
	}
	s.cfg.Observe(ev)
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

// issueAccess mints an access token for the grant and renders the response.
func (s *Server) issueAccess(r *http.Request, grant string, c *Client, g tokenstore.Grant) (*TokenResponse, *Error) {
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
		if errors.Is(err, tokenstore.ErrUnavailable) || errors.Is(err, tokenstore.ErrFull) {
			return nil, ErrTemporarilyUnavailable.WithDescription("the token store is unavailable; retry later")
		}
		return nil, ErrServerError.WithDescription("could not issue a token")
	}
	s.cfg.Observe(Event{Kind: "issued", Grant: grant, ClientID: c.ID, Subject: g.Subject,
		Scopes: g.Scopes, ExpiresIn: g.ExpiresAt.Sub(g.IssuedAt)})
	return &TokenResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresIn:   int64(g.ExpiresAt.Sub(g.IssuedAt) / time.Second),
		Scope:       JoinScopes(g.Scopes),
		CreatedAt:   g.IssuedAt.Unix(),
	}, nil
}

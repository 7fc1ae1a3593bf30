// The token Verifier: principals and identities, JWT verification, client checks and route policies.

package authz

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// Principal is who a token speaks for and what it allows: the part of an
// identity that the gateway forwards and checks policies against. It is
// immutable once built; cached tokens share theirs with every request.
type Principal struct {
	Subject  string
	ClientID string
	Scopes   []string
	Audience []string
	// Scope is Scopes as the space-separated wire string; AudienceString
	// likewise for Audience.
	Scope          string
	AudienceString string
	// Issuer is the issuer that vouched for the token: ours or a trusted
	// one (trust.go). Headers are a trusted issuer's extra identity headers
	// (its `header` mappings); DecidedBy says which key or introspection
	// endpoint decided, for explanations.
	Issuer    string
	Headers   []Header
	DecidedBy string
	trusted   *TrustedIssuer
	// introspected: its expiry is a cache bound, never extended by skew.
	introspected bool
}

// Identity is what a valid access token says about its bearer: its
// principal and the token's own times and ids.
type Identity struct {
	*Principal
	IssuedAt  time.Time
	ExpiresAt time.Time
	// ID is the jti (JWT) or the record id (opaque).
	ID string
	// FamilyID ties the token to its authorization (code and refresh tokens).
	FamilyID string
}

// newIdentity builds a verified token's identity.
func newIdentity(subject, clientID string, scopes, audience []string, issuedAt, expiresAt time.Time, id, family string) *Identity {
	p := &Principal{Subject: subject, ClientID: clientID, Scopes: scopes, Scope: JoinScopes(scopes), Audience: audience,
		AudienceString: strings.Join(audience, " ")}
	return &Identity{Principal: p, IssuedAt: issuedAt, ExpiresAt: expiresAt, ID: id, FamilyID: family}
}

// maxTokenLen bounds what the verifier parses at all.
const maxTokenLen = 8 << 10

// Verifier checks access tokens (CONFORMANCE K1, K2, R6, R7): JWTs with
// jwx against the server's keys (jwt.go), opaque tokens against the store
// (verify_opaque.go), and for both the deny-list and the token's client.
type Verifier struct {
	Issuer  string
	Keys    interface{ Load() *KeySet }
	Store   tokenstore.Store
	Clients Clients
	// DocumentClients: client ids that are URLs name Client ID Metadata
	// Documents (cimd.go), whose clients cannot be disabled or re-created.
	DocumentClients bool
	// Skew is the allowed clock difference for exp, iat and nbf.
	Skew time.Duration
	Now  func() time.Time
	// LenientRevocation lets JWTs through when the store cannot answer the
	// deny-list check (revocation_check lenient). Off by default: fail closed.
	// Opaque tokens always need the store.
	LenientRevocation bool
	// Trust, when set, are the other issuers whose tokens AuthenticateRoute
	// accepts (trust.go).
	Trust *Trust

	cache *verifyCache
}

// FeedDown tells the verifier that the store's revocation feed was lost:
// its cache stops answering, since revocations made elsewhere no longer
// reach it, until FeedUp.
func (v *Verifier) FeedDown() {
	if v.cache != nil {
		v.cache.setLive(false)
	}
}

// FeedUp tells the verifier that the revocation feed is subscribed again:
// its cache is emptied (what was revoked meanwhile is unknown here) and
// answers again.
func (v *Verifier) FeedUp() {
	if v.cache != nil {
		v.cache.setLive(true)
	}
}

// NoteRevoked tells the verifier that a token or family id was revoked, or
// a client changed (ClientChanged) — here or, through the store's feed, on
// another instance — so its cache holds none of their tokens any more.
func (v *Verifier) NoteRevoked(id string) {
	if v.cache == nil {
		return
	}
	if client, ok := strings.CutPrefix(id, clientChangePrefix); ok {
		v.cache.revoke(client, true)
		return
	}
	v.cache.revoke(id, false)
}

// clientChangePrefix marks a client id on the revocation feed: the client
// changed and caches must fetch it again.
const clientChangePrefix = "client:"

// ClientChanged is the revocation-feed id announcing a change to a client.
func ClientChanged(id string) string { return clientChangePrefix + id }

// Verify returns the whole identity behind tok, or an *Error:
// invalid_token for anything not valid, temporarily_unavailable when the
// store cannot answer. It always checks the token in full (introspection,
// explanations); the gateway's path is Authenticate.
func (v *Verifier) Verify(ctx context.Context, tok string) (*Identity, *Error) {
	if len(tok) > maxTokenLen {
		return nil, ErrInvalidToken.WithDescription("the access token is invalid").WithReason("malformed")
	}
	var id *Identity
	var err *Error
	if strings.HasPrefix(tok, PrefixAccess) {
		id, err = v.verifyOpaque(ctx, tok)
	} else {
		id, err = v.verifyJWT(ctx, tok)
	}
	if err != nil {
		return nil, err
	}
	if cerr := v.clientActive(ctx, id.ClientID, id.IssuedAt); cerr != nil {
		return nil, cerr
	}
	id.Issuer = v.Issuer // not shared yet: set before it is cached
	return id, nil
}

// Authenticate checks tok for a request and returns its principal, with the
// same answers as Verify. With the verified-token cache on, a token seen
// before costs a hash lookup; its expiry and its client are still checked
// every time.
func (v *Verifier) Authenticate(ctx context.Context, tok string) (*Principal, *Error) {
	if v.cache == nil || len(tok) > maxTokenLen {
		id, err := v.Verify(ctx, tok)
		if err != nil {
			return nil, err
		}
		return id.Principal, nil
	}
	now, key := v.Now(), tokenKey(tok)
	// The cache holds trusted issuers' tokens too (AuthenticateRoute): those
	// are never ours, so a hit on one is a miss here, and Verify refuses it.
	if t, ok := v.cache.get(key, now, v.Skew); ok && t.p.trusted == nil {
		if cerr := v.clientActive(ctx, t.p.ClientID, t.iat); cerr != nil {
			return nil, cerr
		}
		return t.p, nil
	}
	epoch := v.cache.begin()
	id, err := v.Verify(ctx, tok)
	if err != nil {
		return nil, err
	}
	v.cache.put(key, id, now, epoch)
	return id.Principal, nil
}

// tokenKey is the verified-token cache's key of tok: its SHA-256. A token
// of the usual size is hashed from a copy on the stack: the []byte
// conversion of the string allocates on every request.
func tokenKey(tok string) cacheKey {
	if len(tok) > 1024 {
		return sha256.Sum256([]byte(tok))
	}
	var buf [1024]byte
	return sha256.Sum256(buf[:copy(buf[:], tok)])
}

// clientActive refuses tokens of unknown, disabled or re-created clients.
// With the verified-token cache on, the clients found are remembered too
// (a dynamic client is otherwise a store round trip per request); a change
// made through any instance's registry reaches every cache through the
// revocation feed (see ClientChanged), and clientCacheTTL bounds the rest.
func (v *Verifier) clientActive(ctx context.Context, clientID string, issuedAt time.Time) *Error {
	if v.DocumentClients && IsDocumentID(clientID) {
		// A metadata document's client cannot be disabled or re-created:
		// its tokens need no fetch on the way to the API (a refresh fetches).
		return nil
	}
	var c *Client
	var cerr error
	if v.cache != nil {
		c, _ = v.cache.clients.GetIfPresent(clientID)
	}
	if c == nil {
		c, cerr = v.Clients.Client(ctx, clientID)
		if cerr != nil && !errors.Is(cerr, ErrUnknownClient) {
			return ErrTemporarilyUnavailable.WithDescription("the client registry is unavailable").WithReason("store_unavailable")
		}
		if c != nil && v.cache != nil {
			v.cache.clients.Set(clientID, c)
		}
	}
	if c == nil || c.Disabled || issuedAt.Before(c.NotBefore) {
		return ErrInvalidToken.WithDescription("the client of this token is not active").WithReason("client_inactive")
	}
	return nil
}

func (v *Verifier) verifyJWT(ctx context.Context, tok string) (*Identity, *Error) {
	c, err := v.parseJWT(tok)
	if err != nil {
		return nil, err
	}
	now := v.Now()
	if c.ExpiresAt == 0 || !now.Before(time.Unix(c.ExpiresAt, 0).Add(v.Skew)) {
		return nil, ErrInvalidToken.WithDescription("the access token expired").WithReason("expired")
	}
	if c.IssuedAt != 0 && time.Unix(c.IssuedAt, 0).After(now.Add(v.Skew)) {
		return nil, invalidJWT("issued in the future")
	}
	if c.NotBefore != 0 && time.Unix(c.NotBefore, 0).After(now.Add(v.Skew)) {
		return nil, invalidJWT("not yet valid")
	}
	if rerr := v.checkRevoked(ctx, c.ID, c.Family); rerr != nil && !(v.LenientRevocation && rerr.Is(ErrTemporarilyUnavailable)) {
		return nil, rerr
	}
	scopes, perr := ParseScope(c.Scope)
	if perr != nil {
		return nil, invalidJWT("malformed scope claim")
	}
	return newIdentity(c.Subject, c.ClientID, scopes, c.Audience, time.Unix(c.IssuedAt, 0), time.Unix(c.ExpiresAt, 0), c.ID, c.Family), nil
}

// Policy is what a protected route requires of a valid token (CONFORMANCE R3, R4).
type Policy struct {
	Scopes []string
	// Any: one of Scopes suffices; otherwise all are required.
	Any bool
	// Audience: when set, the token's aud must contain one of these.
	Audience []string
	// Issuers: when set, only tokens of these issuers (URLs, ours
	// included) pass. Resource is the route's RFC 9728 resource
	// identifier: a token whose aud names it is for this route.
	Issuers  []string
	Resource string
	// Bound are the gateway's protected resources: a token of ours whose
	// aud names one of them is accepted only on a route whose Resource (or
	// Audience) it names (RFC 8707: a token for one MCP server is refused
	// by another), and a route's Audience holds for our tokens whatever
	// they name. Trusted issuers' tokens keep their issuer's audience
	// rule (checkTrust), where the route's resource stands for it.
	Bound *Resources
}

// Check returns nil when id satisfies the policy.
func (p *Policy) Check(id *Principal) *Error {
	if e := p.checkTrust(id); e != nil {
		return e
	}
	notForAudience := len(p.Audience) > 0 && !intersects(id.Audience, p.Audience)
	switch {
	case id.trusted == nil && notForAudience:
		// Our own tokens: a route's audience is never bypassed by naming
		// its resource, which any client may ask for (RFC 8707) — a
		// resource narrows where a token passes, never widens it.
		return ErrInvalidToken.WithDescription("the access token is not for this audience").WithReason("audience")
	case id.trusted == nil && len(p.Audience) == 0 && p.Bound.Binds(id.Audience) && !p.namesResource(id):
		return ErrInvalidToken.WithDescription("the access token was issued for another resource").WithReason("audience")
	case id.trusted != nil && notForAudience && !p.namesResource(id):
		return ErrInvalidToken.WithDescription("the access token is not for this audience").WithReason("audience")
	}
	if len(p.Scopes) == 0 {
		return nil
	}
	ok := !p.Any
	for _, s := range p.Scopes {
		has := slices.Contains(id.Scopes, s)
		if p.Any && has {
			ok = true
			break
		}
		if !p.Any && !has {
			ok = false
			break
		}
	}
	if !ok {
		return ErrInsufficientScope.WithDescription("the access token lacks a required scope").WithReason("insufficient_scope")
	}
	return nil
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

package authz

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// Principal is who a token speaks for and what it allows: the part of an
// identity that the gateway forwards and checks policies against. It is
// immutable once built; with the verified-token cache on, every cached token
// of the same grant shares one Principal.
type Principal struct {
	Subject  string
	ClientID string
	Scopes   []string
	Audience []string
	// Scope is Scopes as the space-separated wire string; AudienceString
	// likewise for Audience.
	Scope          string
	AudienceString string

	// boxed holds Subject, ClientID and Scope as interface values, made
	// once per principal (see PlaceholderValues).
	boxed [3]any
}

// PlaceholderValues returns subject, client id and scope as interface
// values, ready for a placeholder replacer: a verified principal forwards
// without boxing them again.
func (p *Principal) PlaceholderValues() (subject, clientID, scope any) {
	if p.boxed[0] == nil { // a Principal built elsewhere than the verifier
		return p.Subject, p.ClientID, p.Scope
	}
	return p.boxed[0], p.boxed[1], p.boxed[2]
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
	p.boxed = [3]any{p.Subject, p.ClientID, p.Scope}
	return &Identity{Principal: p, IssuedAt: issuedAt, ExpiresAt: expiresAt, ID: id, FamilyID: family}
}

// maxTokenLen bounds what the verifier parses at all.
const maxTokenLen = 8 << 10

// Verifier checks access tokens (CONFORMANCE K1, K2, R6, R7). It does not use
// jwx's jwt.Parse: the JWS is split, its signature verified with the key
// selected by kid, and the claims decoded into a struct — a fraction of the
// cost, and no algorithm is ever taken from the token without a key for it.
type Verifier struct {
	Issuer  string
	Keys    interface{ Load() *KeySet }
	Store   tokenstore.Store
	Clients Clients
	// Skew is the allowed clock difference for exp, iat and nbf.
	Skew time.Duration
	Now  func() time.Time
	// LenientRevocation lets JWTs through when the store cannot answer the
	// deny-list check (revocation_check lenient). Off by default: fail closed.
	// Opaque tokens always need the store.
	LenientRevocation bool

	cache *verifyCache
	hdr   atomic.Pointer[headerMemo]
}

// FlushCache empties the verified-token cache, e.g. when the revocation
// feed of a shared store was interrupted.
func (v *Verifier) FlushCache() {
	if v.cache != nil {
		v.cache.flush()
	}
}

// NoteRevoked tells the verifier that a token or family id was revoked —
// here or, through the store's notifications, on another instance — so its
// cache refuses it at once.
func (v *Verifier) NoteRevoked(id string) {
	if v.cache == nil {
		return
	}
	if client, ok := strings.CutPrefix(id, clientChangePrefix); ok {
		v.cache.clients.Invalidate(client)
		return
	}
	v.cache.forget(id)
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
	return id, nil
}

// Authenticate checks tok for a request and returns its principal, with the
// same answers as Verify. With the verified-token cache on, a token seen
// before costs a hash lookup: its expiry, the local deny-list and its
// client are still checked every time, and nothing is allocated.
func (v *Verifier) Authenticate(ctx context.Context, tok string) (*Principal, *Error) {
	if v.cache == nil || len(tok) > maxTokenLen {
		id, err := v.Verify(ctx, tok)
		if err != nil {
			return nil, err
		}
		return id.Principal, nil
	}
	now, ref := v.Now(), v.cache.ref(tok)
	if e, ok := v.cache.get(ref, now, v.Skew); ok {
		if cerr := v.clientActive(ctx, e.p.ClientID, time.Unix(0, e.iat)); cerr != nil {
			return nil, cerr
		}
		return e.p, nil
	}
	id, err := v.Verify(ctx, tok)
	if err != nil {
		return nil, err
	}
	return v.cache.put(ref, id, now), nil
}

// clientActive refuses tokens of unknown, disabled or re-created clients.
// With the verified-token cache on, the clients found are remembered too
// (a dynamic client is otherwise a store round trip per request); a change
// made through any instance's registry reaches every cache through the
// revocation feed (see ClientChanged), and clientCacheTTL bounds the rest.
func (v *Verifier) clientActive(ctx context.Context, clientID string, issuedAt time.Time) *Error {
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

type jwsHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

func invalidJWT(why string) *Error {
	return ErrInvalidToken.WithDescription("the access token is invalid: " + why).WithReason("invalid")
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

// parseJWT checks everything but time and revocation: the structure, the
// typ, the key and algorithm, the signature, the issuer, the claims present.
func (v *Verifier) parseJWT(tok string) (*claims, *Error) {
	h64, rest, ok1 := strings.Cut(tok, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return nil, ErrInvalidToken.WithDescription("the access token is invalid").WithReason("malformed")
	}
	key, herr := v.headerKey(h64)
	if herr != nil {
		return nil, herr
	}
	// Strict decoding refuses non-zero padding bits: one signature, one spelling.
	sig, err := b64.DecodeString(s64)
	if err != nil {
		return nil, invalidJWT("malformed signature")
	}
	if !key.verify(tok[:len(h64)+1+len(p64)], sig) {
		return nil, invalidJWT("bad signature")
	}
	payload, err := b64.DecodeString(p64)
	if err != nil {
		return nil, invalidJWT("malformed claims")
	}
	var c claims
	if err := decodeClaims(payload, &c); err != nil {
		return nil, invalidJWT("malformed claims")
	}
	if c.Issuer != v.Issuer {
		return nil, invalidJWT("issued by another issuer")
	}
	if c.ID == "" || c.ClientID == "" || c.Subject == "" {
		return nil, invalidJWT("missing jti, client_id or sub")
	}
	return &c, nil
}

// headerMemo is the last JWS header that passed headerKey, with the key set
// it was resolved against: the tokens of one signing key share their header,
// so most checks skip decoding it.
type headerMemo struct {
	h64 string
	set *KeySet
	key *SigningKey
}

// headerKey checks the JWS header (base64url h64) and returns the key it
// names: typ at+jwt, no crit, a known kid whose algorithm is alg.
func (v *Verifier) headerKey(h64 string) (*SigningKey, *Error) {
	set := v.Keys.Load()
	if m := v.hdr.Load(); m != nil && m.set == set && m.h64 == h64 {
		return m.key, nil
	}
	hdrJSON, err := b64.DecodeString(h64)
	if err != nil {
		return nil, invalidJWT("malformed header")
	}
	var hdr jwsHeader
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
		return nil, invalidJWT("malformed header")
	}
	if hdr.Crit != nil {
		return nil, invalidJWT("unsupported critical header")
	}
	if !strings.EqualFold(hdr.Typ, "at+jwt") && !strings.EqualFold(hdr.Typ, "application/at+jwt") {
		return nil, invalidJWT("not an access token (typ must be at+jwt)")
	}
	key := keyIn(set, hdr.Kid)
	if key == nil {
		return nil, invalidJWT("unknown signing key")
	}
	if hdr.Alg != key.Alg {
		return nil, invalidJWT("algorithm does not match the signing key")
	}
	v.hdr.Store(&headerMemo{h64: strings.Clone(h64), set: set, key: key})
	return key, nil
}

func keyIn(set *KeySet, kid string) *SigningKey {
	for _, k := range set.Keys() {
		if k.Kid == kid {
			return k
		}
	}
	return nil
}

// Policy is what a protected route requires of a valid token (CONFORMANCE R3, R4).
type Policy struct {
	Scopes []string
	// Any: one of Scopes suffices; otherwise all are required.
	Any bool
	// Audience: when set, the token's aud must contain one of these.
	Audience []string
}

// Check returns nil when id satisfies the policy.
func (p *Policy) Check(id *Principal) *Error {
	if len(p.Audience) > 0 && !intersects(id.Audience, p.Audience) {
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

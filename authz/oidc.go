package authz

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// OpenID Connect Core 1.0 on top of the authorization-code flow
// (CONFORMANCE I1–I5): the scopes, the user's claims and where they come
// from, and the request parameters the authorization endpoint reads.

// The OpenID Connect scopes; always in the catalog (NewCatalog).
const (
	ScopeOpenID  = "openid"
	ScopeProfile = "profile"
	ScopeEmail   = "email"
)

// oidcScopes are added to every catalog that does not define them, in plain words.
var oidcScopes = []Scope{
	{Name: ScopeOpenID, Description: "Sign you in to the application with your account"},
	{Name: ScopeProfile, Description: "See your name and user name"},
	{Name: ScopeEmail, Description: "See your email address"},
}

// DefaultIDTokenTTL is the lifetime of ID tokens.
const DefaultIDTokenTTL = 5 * time.Minute

// maxNonceLen bounds the nonce an authorization request may carry.
const maxNonceLen = 512

// maxLoginHintLen bounds login_hint; a longer one is ignored.
const maxLoginHintLen = 256

// UserClaims are the standard claims the server knows about a user. What a
// client sees of them depends on the scopes granted: profile → name and
// preferred_username, email → email and email_verified.
type UserClaims struct {
	Name              string
	PreferredUsername string
	Email             string
	EmailVerified     bool
}

// ClaimsSource answers a user's claims; StaticUsers is one.
type ClaimsSource interface {
	UserClaims(subject string) (UserClaims, bool)
}

// claimsRecord is where the claims a login identity handler asserted are
// kept for the refresh and userinfo requests that come without the user's
// browser: the consent store, under a client id no client can have (client
// ids may not contain ':'), one entry per user, replaced at each sign-in.
const claimsRecord = "oauthgate:claims"

// claimNames are the claims the server can answer, for the metadata.
var claimNames = []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "sid",
	"name", "preferred_username", "email", "email_verified"}

// encode spells c as consent-store entries "name=value".
func (c UserClaims) encode() []string {
	var out []string
	for _, kv := range [][2]string{{"name", c.Name}, {"preferred_username", c.PreferredUsername}, {"email", c.Email}} {
		if kv[1] != "" {
			out = append(out, kv[0]+"="+kv[1])
		}
	}
	if c.EmailVerified {
		out = append(out, "email_verified=true")
	}
	return out
}

func decodeUserClaims(entries []string) UserClaims {
	var c UserClaims
	for _, e := range entries {
		k, v, _ := strings.Cut(e, "=")
		switch k {
		case "name":
			c.Name = v
		case "preferred_username":
			c.PreferredUsername = v
		case "email":
			c.Email = v
		case "email_verified":
			c.EmailVerified = v == "true"
		}
	}
	return c
}

// ParseClaims builds UserClaims from name → value pairs, as a login
// identity handler's placeholders give them; unknown names are an error.
// email_verified is true for "true", "1" or "yes".
func ParseClaims(m map[string]string) (UserClaims, error) {
	var c UserClaims
	for k, v := range m {
		switch k {
		case "name":
			c.Name = v
		case "preferred_username":
			c.PreferredUsername = v
		case "email":
			c.Email = v
		case "email_verified":
			c.EmailVerified = v == "true" || v == "1" || strings.EqualFold(v, "yes")
		default:
			return c, errors.New("unknown claim " + k + "; use name, preferred_username, email or email_verified")
		}
	}
	return c, nil
}

// ClaimNames are the claims `login identity { claim … }` may set.
var ClaimNames = []string{"name", "preferred_username", "email", "email_verified"}

// userClaims returns what the server knows of subject: the users block's
// claims for a built-in account, else what the login identity handler last
// asserted. preferred_username defaults to the subject.
func (s *Server) userClaims(ctx context.Context, subject string) (UserClaims, error) {
	var c UserClaims
	if src, ok := s.cfg.Users.(ClaimsSource); ok {
		if uc, known := src.UserClaims(subject); known {
			c = uc
		}
	}
	if c == (UserClaims{}) {
		entries, err := s.cfg.Store.GetConsent(ctx, subject, claimsRecord)
		switch {
		case err == nil:
			c = decodeUserClaims(entries)
		case !errors.Is(err, tokenstore.ErrNotFound):
			return c, err
		}
	}
	if c.PreferredUsername == "" {
		c.PreferredUsername = subject
	}
	return c, nil
}

// rememberClaims keeps the claims a login identity handler asserted (see
// claimsRecord), for as long as a refresh token issued now may live.
func (s *Server) rememberClaims(ctx context.Context, subject string, c UserClaims, client *Client) error {
	ttl := max(s.cfg.RefreshTokenTTL, client.RefreshTokenTTL, s.cfg.SessionTTL)
	return s.cfg.Store.PutConsent(ctx, subject, claimsRecord, c.encode(), s.cfg.Now().Add(ttl))
}

// scopedClaims are the claims of c that scopes allow, as JSON members.
func scopedClaims(c UserClaims, scopes []string) map[string]any {
	out := map[string]any{}
	if slices.Contains(scopes, ScopeProfile) {
		if c.Name != "" {
			out["name"] = c.Name
		}
		if c.PreferredUsername != "" {
			out["preferred_username"] = c.PreferredUsername
		}
	}
	if slices.Contains(scopes, ScopeEmail) && c.Email != "" {
		out["email"] = c.Email
		out["email_verified"] = c.EmailVerified
	}
	return out
}

// sessionID is the sid of the ID tokens of one authorization: derived
// from its family id with the session key, so it is stable across
// refreshes, names nothing a client could present, and needs no storage.
func (s *Server) sessionID(family string) string {
	m := hmac.New(sha256.New, s.cfg.SessionKey)
	m.Write([]byte("sid\x00" + family))
	return b64.EncodeToString(m.Sum(nil)[:16])
}

// nonceUsed marks an authorization request's nonce as used by its client,
// refusing one already used: a nonce names one sign-in (OIDC Core §3.1.2.1).
// The mark lives as long as an ID token carrying it can be accepted.
func (s *Server) nonceUsed(ctx context.Context, clientID, nonce string) (bool, error) {
	sum := sha256.Sum256([]byte(clientID + "\x00" + nonce))
	id := "nonce:" + b64.EncodeToString(sum[:])
	used, err := s.cfg.Store.IsRevoked(ctx, id)
	if err != nil || used {
		return used, err
	}
	return false, s.cfg.Store.Revoke(ctx, id, s.cfg.Now().Add(s.cfg.CodeTTL+s.cfg.IDTokenTTL+s.cfg.Skew))
}

// UserClaims implements ClaimsSource for the users block's accounts.
func (u *StaticUsers) UserClaims(subject string) (UserClaims, bool) {
	c, ok := u.claims[subject]
	return c, ok
}

// SetClaims gives an account its claims (the users block's nested lines).
func (u *StaticUsers) SetClaims(name string, c UserClaims) error {
	if _, ok := u.hashes[name]; !ok {
		return errors.New("users: claims for unknown user " + name)
	}
	if u.claims == nil {
		u.claims = map[string]UserClaims{}
	}
	u.claims[name] = c
	return nil
}

// validateOIDC checks a client's OpenID Connect fields.
func (c *Client) validateOIDC() error {
	if c.IDTokenAlg != "" && !slices.Contains(IDTokenAlgs, c.IDTokenAlg) {
		return errors.New("client \"" + c.ID + "\": id_token_signed_response_alg " + c.IDTokenAlg + " is not supported; use RS256, ES256, PS256 or EdDSA")
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if u == OOBRedirect {
			return errors.New("client \"" + c.ID + "\": post_logout_redirect_uri cannot be " + OOBRedirect)
		}
		if err := ValidRedirectURI(u); err != nil {
			var e *Error
			if errors.As(err, &e) {
				err = errors.New(e.Description)
			}
			return errors.New("client \"" + c.ID + "\": post_logout_redirect_uri \"" + u + "\": " + err.Error())
		}
	}
	return nil
}

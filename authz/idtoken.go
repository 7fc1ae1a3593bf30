package authz

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v2/jws"
)

// IDTokenAlgs are the algorithms a client may register as its
// id_token_signed_response_alg; RS256 is the default (OIDC Discovery
// requires it).
var IDTokenAlgs = []string{AlgRS256, AlgES256, AlgPS256, AlgEdDSA}

// idTokenAlg is the algorithm of c's ID tokens.
func idTokenAlg(c *Client) string {
	if c.IDTokenAlg != "" {
		return c.IDTokenAlg
	}
	return AlgRS256
}

// idTokenKey is the key that signs c's ID tokens: the ring's first of
// their algorithm.
func (s *Server) idTokenKey(c *Client) (*SigningKey, *Error) {
	alg := idTokenAlg(c)
	for _, k := range s.keys.Load().Keys() {
		if k.Alg == alg {
			return k, nil
		}
	}
	return nil, ErrServerError.WithDescription("the server has no " + alg + " key to sign this client's ID tokens")
}

// IDTokenAlgsSupported are the ID token algorithms the key ring can sign
// now, RS256 first; a server without an RS256 key still names it, as the
// keys are checked when a client asks for openid.
func (s *Server) IDTokenAlgsSupported() []string {
	out := []string{AlgRS256}
	for _, k := range s.keys.Load().Keys() {
		if slices.Contains(IDTokenAlgs, k.Alg) && !slices.Contains(out, k.Alg) {
			out = append(out, k.Alg)
		}
	}
	return out
}

// idTokenFor is what an ID token is made of besides the client.
type idTokenFor struct {
	Subject     string
	Scopes      []string
	AuthTime    time.Time
	Nonce       string
	FamilyID    string
	AccessToken string
}

// mintIDToken signs the ID token of an openid grant (CONFORMANCE I2): the
// standard claims and, by scope, the user's; never more than the grant's
// scopes allow.
func (s *Server) mintIDToken(ctx context.Context, c *Client, in idTokenFor) (string, *Error) {
	k, e := s.idTokenKey(c)
	if e != nil {
		return "", e
	}
	uc, err := s.userClaims(ctx, in.Subject)
	if err != nil {
		return "", storeError(err, "could not read the user's claims")
	}
	now := s.cfg.Now().Truncate(time.Second)
	body := scopedClaims(uc, in.Scopes)
	body["iss"] = s.cfg.Issuer
	body["sub"] = in.Subject
	body["aud"] = c.ID
	body["iat"] = now.Unix()
	body["exp"] = now.Add(s.cfg.IDTokenTTL).Unix()
	if !in.AuthTime.IsZero() {
		body["auth_time"] = in.AuthTime.Unix()
	}
	if in.Nonce != "" {
		body["nonce"] = in.Nonce
	}
	if in.FamilyID != "" {
		body["sid"] = s.sessionID(in.FamilyID)
	}
	if in.AccessToken != "" {
		body["at_hash"] = atHash(k.Alg, in.AccessToken)
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return "", ErrServerError.WithDescription("could not issue the ID token")
	}
	hdr := jws.NewHeaders()
	if hdr.Set(jws.KeyIDKey, k.Kid) != nil || hdr.Set(jws.TypeKey, "JWT") != nil {
		return "", ErrServerError.WithDescription("could not issue the ID token")
	}
	tok, err := jws.Sign(payload, jws.WithKey(k.alg, k.Private, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", ErrServerError.WithDescription("could not sign the ID token")
	}
	return string(tok), nil
}

// atHash is the left half of the access token's hash by the signing
// algorithm's hash function (OIDC Core §3.1.3.6), base64url: SHA-256 for
// RS256, ES256 and PS256, SHA-512 for EdDSA (Ed25519).
func atHash(alg, accessToken string) string {
	var sum []byte
	if alg == AlgEdDSA {
		h := sha512.Sum512([]byte(accessToken))
		sum = h[:]
	} else {
		h := sha256.Sum256([]byte(accessToken))
		sum = h[:]
	}
	return b64.EncodeToString(sum[:len(sum)/2])
}

// parseIDTokenHint verifies an ID token this server issued (its signature
// with a key of the ring, its issuer) and returns its claims; expiry is not
// checked, as an id_token_hint may have expired (RP-Initiated Logout §2).
func (s *Server) parseIDTokenHint(tok string) (map[string]any, bool) {
	if len(tok) > maxTokenLen || !canonicalJWS(tok) {
		return nil, false
	}
	set := s.keys.Load()
	payload, err := jws.Verify([]byte(tok), jws.WithCompact(), jws.WithKeyProvider(jws.KeyProviderFunc(
		func(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
			h := sig.ProtectedHeaders()
			if _, crit := h.Get(jws.CriticalKey); crit || h.Type() == "at+jwt" {
				return headerError("not an ID token")
			}
			k := keyIn(set, h.KeyID())
			if k == nil || h.Algorithm() != k.alg {
				return headerError("unknown signing key")
			}
			sink.Key(k.alg, k.public)
			return nil
		})))
	if err != nil {
		return nil, false
	}
	var claims map[string]any
	if json.Unmarshal(payload, &claims) != nil || claims["iss"] != s.cfg.Issuer {
		return nil, false
	}
	return claims, true
}

// openIDGrant reports whether a grant of scopes gets an ID token, checking
// first that it can be signed: a code or refresh token is not used up for
// a response that cannot be given.
func (s *Server) openIDGrant(c *Client, scopes []string) (bool, *Error) {
	if !slices.Contains(scopes, ScopeOpenID) {
		return false, nil
	}
	_, e := s.idTokenKey(c)
	return e == nil, e
}

// withIDToken adds the ID token to a token response.
func (s *Server) withIDToken(ctx context.Context, c *Client, resp *TokenResponse, in idTokenFor) (*TokenResponse, *Error) {
	in.AccessToken = resp.AccessToken
	tok, e := s.mintIDToken(ctx, c, in)
	if e != nil {
		return nil, e
	}
	resp.IDToken = tok
	return resp, nil
}

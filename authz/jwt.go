// JWT access tokens (RFC 9068): their claims, and signing and verifying them with jwx.

package authz

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jws"
)

// claims are the RFC 9068 access-token claims.
type claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	ExpiresAt int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf,omitempty"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	// Family ties the token to its authorization so revoking a code or a
	// refresh-token family ends it too.
	Family string `json:"fam,omitempty"`
}

// audience marshals as a string when single and an array otherwise (RFC 7519 §4.1.3).
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = many
	return nil
}

// signJWT signs c with k as a compact JWS whose protected header is alg,
// kid and typ at+jwt (RFC 9068 §2.1).
func signJWT(k *SigningKey, c *claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, k.Kid); err != nil {
		return "", err
	}
	if err := hdr.Set(jws.TypeKey, "at+jwt"); err != nil {
		return "", err
	}
	tok, err := jws.Sign(payload, jws.WithKey(k.alg, k.Private, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", err
	}
	return string(tok), nil
}

// headerError is why the key provider refused a token's header; it
// becomes the invalid_token description.
type headerError string

func (e headerError) Error() string { return string(e) }

const errUnknownKey = headerError("unknown signing key")

// keyFor is the jws.KeyProvider of our own tokens: it checks the protected
// header (typ at+jwt, no crit, no b64) and hands jwx the one key the kid
// selects, with that key's algorithm — the token's alg must equal it, so no
// algorithm is ever taken from the token alone.
func keyFor(set *KeySet) jws.KeyProviderFunc {
	return func(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
		h := sig.ProtectedHeaders()
		if _, ok := h.Get(jws.CriticalKey); ok {
			return headerError("unsupported critical header")
		}
		if _, ok := h.Get("b64"); ok {
			return headerError("unsupported b64 header")
		}
		if typ := h.Type(); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
			return headerError("not an access token (typ must be at+jwt)")
		}
		key := keyIn(set, h.KeyID())
		if key == nil {
			return errUnknownKey
		}
		if h.Algorithm() != key.alg {
			return headerError("algorithm does not match the signing key")
		}
		sink.Key(key.alg, key.public)
		return nil
	}
}

func keyIn(set *KeySet, kid string) *SigningKey {
	for _, k := range set.Keys() {
		if k.Kid == kid {
			return k
		}
	}
	return nil
}

// canonicalJWS reports whether tok is a compact JWS whose three parts are
// each the one unpadded base64url spelling of their bytes. jwx, like most
// decoders, accepts other spellings too (padding, stray low bits, the
// standard alphabet); refusing them keeps one token one string, which the
// verified-token cache relies on.
func canonicalJWS(tok string) bool {
	h64, rest, ok1 := strings.Cut(tok, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") || h64 == "" || p64 == "" || s64 == "" {
		return false
	}
	buf := make([]byte, 0, 1024) // on the stack for the tokens this server signs
	for _, part := range [...]string{h64, p64, s64} {
		if _, err := b64.AppendDecode(buf[:0], []byte(part)); err != nil {
			return false
		}
	}
	return true
}

// parseJWT checks everything but time and revocation: the form, the header
// and key (keyFor), the signature (jws.Verify), the issuer, the claims
// present. jws.Verify plus decoding into a struct rather than jwt.Parse:
// the same signature check with our own claim rules, and the choice is
// measured in bench/NOTES.md.
func (v *Verifier) parseJWT(tok string) (*claims, *Error) {
	if !canonicalJWS(tok) {
		return nil, ErrInvalidToken.WithDescription("the access token is invalid").WithReason("malformed")
	}
	payload, err := jws.Verify([]byte(tok), jws.WithCompact(), jws.WithKeyProvider(keyFor(v.Keys.Load())))
	if err != nil {
		var he headerError
		if errors.As(err, &he) {
			e := invalidJWT(string(he))
			e.unknownKey = he == errUnknownKey
			return nil, e
		}
		return nil, invalidJWT("bad signature")
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
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

func invalidJWT(why string) *Error {
	return ErrInvalidToken.WithDescription("the access token is invalid: " + why).WithReason("invalid")
}

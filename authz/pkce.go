// PKCE (RFC 7636): the methods, code_challenge and code_verifier syntax, and verification.

package authz

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// PKCE methods (RFC 7636).
const (
	PKCES256  = "S256"
	PKCEPlain = "plain"
)

// validPKCEString checks the RFC 7636 §4.1 syntax shared by code_verifier and
// code_challenge: 43–128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
func validPKCEString(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// VerifyPKCE checks a code_verifier against the stored challenge in constant time.
func VerifyPKCE(method, challenge, verifier string) bool {
	if !validPKCEString(verifier) {
		return false
	}
	var computed string
	switch method {
	case PKCES256:
		sum := sha256.Sum256([]byte(verifier))
		computed = base64.RawURLEncoding.EncodeToString(sum[:])
	case PKCEPlain:
		computed = verifier
	default:
		return false
	}
	return subtle.ConstantTimeCompare([]byte(computed), []byte(challenge)) == 1
}

// Other spellings of base64url strings, for tests that a token is accepted in one spelling only.

package testutil

import (
	"bytes"
	"encoding/base64"
)

// Base64Spellings returns the other spellings of an unpadded base64url
// string: its last character changed in its unused low bits, which a
// lenient decoder decodes to the same bytes.
func Base64Spellings(s string) []string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	want, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || s == "" {
		return nil
	}
	var out []string
	for _, c := range alphabet {
		alt := s[:len(s)-1] + string(c)
		if got, err := base64.RawURLEncoding.DecodeString(alt); alt != s && err == nil && bytes.Equal(got, want) {
			out = append(out, alt)
		}
	}
	return out
}

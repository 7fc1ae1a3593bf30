// Hand-made JWS for bad-input tests: tokens the product must refuse, which no JOSE library would make.

package testutil

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
)

// ES256Signer signs a JWS signing input with key: raw r‖s (RFC 7518 §3.4).
func ES256Signer(key *ecdsa.PrivateKey) func(string) []byte {
	return func(in string) []byte {
		sum := sha256.Sum256([]byte(in))
		r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
		if err != nil {
			panic(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
}

// HMACSigner signs a JWS signing input with HMAC-SHA256 under key.
func HMACSigner(key []byte) func(string) []byte {
	return func(in string) []byte { m := hmac.New(sha256.New, key); m.Write([]byte(in)); return m.Sum(nil) }
}

// ForgeJWS serializes any header and claims as a compact JWS signed by sign.
func ForgeJWS(hdr, claims map[string]any, sign func(string) []byte) string {
	h, _ := json.Marshal(hdr)
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return in + "." + base64.RawURLEncoding.EncodeToString(sign(in))
}

// With copies m with each key of kv set to the value after it (or deleted
// when that value is nil).
func With(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

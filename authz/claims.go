package authz

import (
	"encoding/json"
	"unsafe"
)

// decodeClaims reads a verified JWT's claims. The payloads this server
// signs are compact JSON of a known shape, which parseClaims reads without
// reflection or a copy per string (the claims are substrings of payload).
// Anything else — whitespace, escapes, non-ASCII text, other or repeated
// members, null — goes to encoding/json, so the result is always what
// json.Unmarshal gives (FuzzClaimsMatchEncodingJSON).
// payload must not change afterwards: the strings share its bytes.
func decodeClaims(payload []byte, c *claims) error {
	if parseClaims(unsafe.String(unsafe.SliceData(payload), len(payload)), c) {
		return nil
	}
	*c = claims{}
	return json.Unmarshal(payload, c)
}

// parseClaims is the fast path of decodeClaims: true when s had exactly
// the shape it reads, and then c holds what json.Unmarshal would give.
func parseClaims(s string, c *claims) bool {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return false
	}
	if len(s) == 2 {
		return true
	}
	var seen uint16
	for i := 1; ; {
		k, j, ok := jsonPlainString(s, i)
		if !ok || j >= len(s) || s[j] != ':' {
			return false
		}
		i = j + 1
		var bit uint16
		switch k {
		case "iss":
			bit = 1 << 0
			c.Issuer, i, ok = jsonPlainString(s, i)
		case "sub":
			bit = 1 << 1
			c.Subject, i, ok = jsonPlainString(s, i)
		case "aud":
			bit = 1 << 2
			c.Audience, i, ok = jsonAudience(s, i)
		case "exp":
			bit = 1 << 3
			c.ExpiresAt, i, ok = jsonInt(s, i)
		case "iat":
			bit = 1 << 4
			c.IssuedAt, i, ok = jsonInt(s, i)
		case "nbf":
			bit = 1 << 5
			c.NotBefore, i, ok = jsonInt(s, i)
		case "jti":
			bit = 1 << 6
			c.ID, i, ok = jsonPlainString(s, i)
		case "client_id":
			bit = 1 << 7
			c.ClientID, i, ok = jsonPlainString(s, i)
		case "scope":
			bit = 1 << 8
			c.Scope, i, ok = jsonPlainString(s, i)
		case "fam":
			bit = 1 << 9
			c.Family, i, ok = jsonPlainString(s, i)
		default:
			return false
		}
		if !ok || seen&bit != 0 || i >= len(s) {
			return false
		}
		seen |= bit
		switch {
		case s[i] == ',':
			i++
		case i == len(s)-1: // the closing brace
			return true
		default:
			return false
		}
	}
}

// jsonPlainString reads a string at s[i] that needs no unescaping: printable
// ASCII without backslashes. It returns the contents and the index after it.
func jsonPlainString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", i, false
	}
	for j := i + 1; j < len(s); j++ {
		switch b := s[j]; {
		case b == '"':
			return s[i+1 : j], j + 1, true
		case b < 0x20 || b >= 0x7f || b == '\\':
			return "", i, false
		}
	}
	return "", i, false
}

// jsonAudience reads "aud": one string or an array of strings.
func jsonAudience(s string, i int) (audience, int, bool) {
	if i < len(s) && s[i] == '"' {
		one, j, ok := jsonPlainString(s, i)
		return audience{one}, j, ok
	}
	if i+1 >= len(s) || s[i] != '[' {
		return nil, i, false
	}
	a := audience{}
	if s[i+1] == ']' {
		return a, i + 2, true
	}
	for i++; ; {
		v, j, ok := jsonPlainString(s, i)
		if !ok || j >= len(s) {
			return nil, i, false
		}
		a = append(a, v)
		switch s[j] {
		case ',':
			i = j + 1
		case ']':
			return a, j + 1, true
		default:
			return nil, i, false
		}
	}
}

// jsonInt reads an integer in JSON's syntax (no leading zeros, no fraction
// or exponent) that fits an int64.
func jsonInt(s string, i int) (int64, int, bool) {
	j := i
	neg := j < len(s) && s[j] == '-'
	if neg {
		j++
	}
	start := j
	var n uint64
	for ; j < len(s) && s[j] >= '0' && s[j] <= '9'; j++ {
		if j-start >= 18 { // beyond 18 digits: leave it to encoding/json
			return 0, i, false
		}
		n = n*10 + uint64(s[j]-'0')
	}
	if j == start || (s[start] == '0' && j-start > 1) {
		return 0, i, false
	}
	if neg {
		return -int64(n), j, true
	}
	return int64(n), j, true
}

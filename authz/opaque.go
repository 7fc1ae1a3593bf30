// Opaque tokens: their prefixes, random bodies, checksums, well-formedness checks and derived ids.

package authz

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"strings"
)

// Opaque token prefixes, one per kind (CONFORMANCE K2). The prefix lets
// secret scanners recognise leaked tokens and keeps kinds from being mixed up.
const (
	PrefixAccess  = "oga_"
	PrefixRefresh = "ogr_"
)

// Opaque tokens are prefix + base64url(body) + base64url(checksum), the
// checksum being the first 4 bytes of SHA-256 over prefix and encoded body.
// The body is 256 random bits; an access token of a family (authorization
// code and refresh grants) starts its body with the family id's 16 bytes,
// so the verifier knows which deny-list entries to ask for before it reads
// the token's record (see verifyOpaque):
//
//	oga_ base64url(32 random)                   checksum   53 characters
//	oga_ base64url(16 family id ‖ 32 random)    checksum   74 characters
//
// 48 bytes are 64 characters exactly: no padding bits, one spelling.
const (
	opaqueRandomBytes = 32 // 256 bits
	opaqueBodyLen     = 43 // base64url of 32 bytes, unpadded
	opaqueSumBytes    = 4
	opaqueSumLen      = 6 // base64url of 4 bytes, unpadded
	opaqueLen         = 4 + opaqueBodyLen + opaqueSumLen

	familyBytes         = 16 // a newID
	opaqueFamBodyBytes  = familyBytes + opaqueRandomBytes
	opaqueFamBodyLen    = 64 // base64url of 48 bytes
	opaqueFamilyLen     = 4 + opaqueFamBodyLen + opaqueSumLen
	familyEncodedPrefix = 24 // characters of the body holding the family's bytes (18 decoded)
)

var b64 = base64.RawURLEncoding.Strict()

// NewOpaqueToken returns prefix + base64url(256 random bits) + checksum.
func NewOpaqueToken(rand io.Reader, prefix string) (string, error) {
	var raw [opaqueRandomBytes]byte
	if _, err := io.ReadFull(rand, raw[:]); err != nil {
		return "", err
	}
	return sealOpaque(prefix, raw[:]), nil
}

// newAccessToken returns an opaque access token carrying family, which must
// be "" or a newID, as every family id is.
func newAccessToken(rand io.Reader, family string) (string, error) {
	if family == "" {
		return NewOpaqueToken(rand, PrefixAccess)
	}
	fam, ok := decodeID(family)
	if !ok {
		return "", errors.New("a family id is a newID")
	}
	var raw [opaqueFamBodyBytes]byte
	copy(raw[:], fam[:])
	if _, err := io.ReadFull(rand, raw[familyBytes:]); err != nil {
		return "", err
	}
	return sealOpaque(PrefixAccess, raw[:]), nil
}

func sealOpaque(prefix string, raw []byte) string {
	body := prefix + b64.EncodeToString(raw)
	return body + opaqueChecksum(body)
}

// decodeID returns the 16 bytes of a canonical newID.
func decodeID(id string) (raw [familyBytes]byte, ok bool) {
	if len(id) != 22 {
		return raw, false
	}
	// Strict decoding refuses stray padding bits, and a skipped newline
	// would leave a byte short: id is the only spelling of raw.
	n, err := b64.Decode(raw[:], []byte(id))
	return raw, err == nil && n == familyBytes
}

func opaqueChecksum(body string) string {
	sum := opaqueSum(body)
	return string(sum[:])
}

// opaqueSum is the checksum's characters, computed without allocating.
func opaqueSum(body string) (enc [opaqueSumLen]byte) {
	sum := sha256Sum(body)
	b64.Encode(enc[:], sum[:opaqueSumBytes])
	return enc
}

// WellFormedOpaque checks shape, prefix and checksum without any lookup, so
// garbage is refused before it costs a store round trip. Only access tokens
// come in the longer form with a family id.
func WellFormedOpaque(tok, prefix string) bool {
	want := opaqueRandomBytes
	switch {
	case len(tok) == opaqueLen:
	case len(tok) == opaqueFamilyLen && prefix == PrefixAccess:
		want = opaqueFamBodyBytes
	default:
		return false
	}
	if !strings.HasPrefix(tok, prefix) {
		return false
	}
	body := tok[:len(tok)-opaqueSumLen]
	// The decoder skips newlines; counting the bytes refuses them.
	var raw [opaqueFamBodyBytes]byte
	n, err := b64.Decode(raw[:], []byte(body[len(prefix):]))
	if err != nil || n != want {
		return false
	}
	sum := opaqueSum(body)
	return tok[len(body):] == string(sum[:])
}

// accessIDDomain separates the derivation of an access token's id from
// every other hash of the token (its store key is plain SHA-256).
const accessIDDomain = "oauthgate access id\x00"

// opaqueAccessID is the record id (jti) of an opaque access token: derived
// from the token, so the verifier knows it before reading the record, and
// through a domain-separated hash, so the id (in logs, introspection and
// the deny-list) reveals neither the token nor its store key.
func opaqueAccessID(tok string) string {
	var buf [len(accessIDDomain) + opaqueFamilyLen]byte
	in := append(append(buf[:0], accessIDDomain...), tok...)
	sum := sha256.Sum256(in)
	return b64.EncodeToString(sum[:familyBytes])
}

// opaqueFamily returns the family id a well-formed access token carries,
// or "" for one without. A forged family only changes the token, whose
// record then does not exist.
func opaqueFamily(tok string) string {
	if len(tok) != opaqueFamilyLen {
		return ""
	}
	var raw [familyEncodedPrefix / 4 * 3]byte
	if _, err := b64.Decode(raw[:], []byte(tok[len(PrefixAccess):len(PrefixAccess)+familyEncodedPrefix])); err != nil {
		return ""
	}
	return b64.EncodeToString(raw[:familyBytes])
}

// sha256Sum hashes a string without copying it.
func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }

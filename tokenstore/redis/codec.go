// The compact binary encoding of grants stored in Redis, version 1, and its decoder.

package redis

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// A grant is stored in a compact binary form, because an opaque access token
// costs Redis its key, its value and their bookkeeping, and the value is
// the part we choose (bench/NOTES.md has the figures). Version 1:
//
//	0x01  flags  client  [subject]  scopes  audience  iat  exp  [family]  [id]  [rc]  [auth]
//
// Strings are a uvarint length and the bytes, lists a uvarint count and the
// strings. iat is a zigzag varint of Unix seconds<<1 | has-nanoseconds,
// followed by the nanoseconds as a uvarint when set; exp is the same for its
// distance in seconds from iat (two bytes for common lifetimes instead of
// five); auth like iat. The flags say which optional parts follow and how:
//
//	flagSameSubject  no subject: it is the client id (client_credentials)
//	flagRawFamily    family id as 16 raw bytes: it was their unpadded base64url
//	flagRawID        id as 16 raw bytes, likewise
//	flagRefreshCount rc, a zigzag varint, follows
//	flagAuthTime     auth follows
//
// The first byte is the version: a later layout gets a new one, and this
// one stays readable for as long as tokens stored with it can live.
const grantV1 = 0x01

const (
	flagSameSubject = 1 << iota
	flagRawFamily
	flagRawID
	flagRefreshCount
	flagAuthTime
	flagsKnown = 1<<iota - 1
)

// timeBound keeps Unix seconds and their differences clear of overflow when
// shifted; it is some 146 billion years either side of 1970.
const timeBound = 1 << 61

var errUndecodable = errors.New("undecodable grant")

// encodeGrant returns the version 1 form of g.
func encodeGrant(g tokenstore.Grant) ([]byte, error) {
	iat, exp, at := g.IssuedAt.Unix(), g.ExpiresAt.Unix(), g.AuthTime.Unix()
	if !inBound(iat) || !inBound(exp) || !inBound(at) {
		return nil, errors.New("redis store: grant time out of range")
	}
	var flags byte
	if g.Subject == g.ClientID {
		flags |= flagSameSubject
	}
	family, rawFamily := rawID(g.FamilyID)
	jti, rawJTI := rawID(g.ID)
	if rawFamily {
		flags |= flagRawFamily
	}
	if rawJTI {
		flags |= flagRawID
	}
	if g.RefreshCount != 0 {
		flags |= flagRefreshCount
	}
	if !g.AuthTime.IsZero() {
		flags |= flagAuthTime
	}
	b := make([]byte, 0, 96)
	b = append(b, grantV1, flags)
	b = appendString(b, g.ClientID)
	if flags&flagSameSubject == 0 {
		b = appendString(b, g.Subject)
	}
	b = appendList(b, g.Scopes)
	b = appendList(b, g.Audience)
	b = appendTime(b, iat, g.IssuedAt.Nanosecond())
	b = appendTime(b, exp-iat, g.ExpiresAt.Nanosecond())
	b = appendID(b, g.FamilyID, family, rawFamily)
	b = appendID(b, g.ID, jti, rawJTI)
	if flags&flagRefreshCount != 0 {
		b = binary.AppendVarint(b, int64(g.RefreshCount))
	}
	if flags&flagAuthTime != 0 {
		b = appendTime(b, at, g.AuthTime.Nanosecond())
	}
	return b, nil
}

// rawID reports whether an id is the canonical unpadded base64url of 16
// bytes (what oauthgate generates) and returns them, to be stored raw.
func rawID(s string) (raw [16]byte, ok bool) {
	if len(s) != 22 {
		return raw, false
	}
	var again [22]byte
	n, err := base64.RawURLEncoding.Decode(raw[:], []byte(s))
	base64.RawURLEncoding.Encode(again[:], raw[:])
	// The decoder skips newlines and accepts stray low bits, hence the comparison.
	return raw, err == nil && n == len(raw) && string(again[:]) == s
}

func appendID(b []byte, s string, raw [16]byte, isRaw bool) []byte {
	if isRaw {
		return append(b, raw[:]...)
	}
	return appendString(b, s)
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

func appendTime(b []byte, sec int64, nsec int) []byte {
	v := sec << 1
	if nsec != 0 {
		v |= 1
	}
	b = binary.AppendVarint(b, v)
	if nsec != 0 {
		b = binary.AppendUvarint(b, uint64(nsec))
	}
	return b
}

// decodeGrant reads a version 1 grant. It never panics and refuses
// anything but a complete, well-formed value.
func decodeGrant(val []byte) (tokenstore.Grant, error) {
	var g tokenstore.Grant
	if len(val) < 2 || val[0] != grantV1 || val[1]&^flagsKnown != 0 {
		return tokenstore.Grant{}, errUndecodable
	}
	flags := val[1]
	r := reader{b: val[2:]}
	g.ClientID = r.string()
	g.Subject = g.ClientID
	if flags&flagSameSubject == 0 {
		g.Subject = r.string()
	}
	g.Scopes = r.list()
	g.Audience = r.list()
	iat, iatNsec := r.time()
	exp, expNsec := r.time()
	exp += iat // cannot overflow: both are within ±2⁶²
	g.IssuedAt, g.ExpiresAt = unixTime(iat, iatNsec), unixTime(exp, expNsec)
	g.FamilyID = r.id(flags&flagRawFamily != 0)
	g.ID = r.id(flags&flagRawID != 0)
	if flags&flagRefreshCount != 0 {
		rc := r.varint()
		if int64(int(rc)) != rc || rc == 0 {
			r.err = true
		}
		g.RefreshCount = int(rc)
	}
	if flags&flagAuthTime != 0 {
		at, atNsec := r.time()
		g.AuthTime = unixTime(at, atNsec)
		if g.AuthTime.IsZero() || !inBound(at) {
			r.err = true // would not have been written
		}
	}
	if !inBound(iat) || !inBound(exp) {
		r.err = true
	}
	if r.err || len(r.b) != 0 {
		return tokenstore.Grant{}, errUndecodable
	}
	return g, nil
}

func inBound(sec int64) bool { return -timeBound < sec && sec < timeBound }

// unixTime is time.Unix, except that the zero time comes back as itself.
func unixTime(sec int64, nsec int) time.Time {
	t := time.Unix(sec, int64(nsec))
	if t.IsZero() {
		return time.Time{}
	}
	return t
}

// reader consumes a value; after the first fault it only returns zero
// values and keeps err set.
type reader struct {
	b   []byte
	err bool
}

func (r *reader) uvarint() uint64 {
	if r.err {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if r.err || n > uint64(len(r.b)) {
		r.err = true
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) string() string { return string(r.bytes(r.uvarint())) }

func (r *reader) list() []string {
	n := r.uvarint()
	if n == 0 || r.err {
		return nil
	}
	if n > uint64(len(r.b)) { // every element takes a byte at least
		r.err = true
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = r.string()
	}
	return l
}

func (r *reader) id(raw bool) string {
	if raw {
		return base64.RawURLEncoding.EncodeToString(r.bytes(16))
	}
	return r.string()
}

// time returns seconds (signed) and nanoseconds.
func (r *reader) time() (int64, int) {
	v := r.varint()
	sec := v >> 1
	if v&1 == 0 {
		return sec, 0
	}
	nsec := r.uvarint()
	if nsec == 0 || nsec >= uint64(time.Second) {
		r.err = true
		return 0, 0
	}
	return sec, int(nsec)
}

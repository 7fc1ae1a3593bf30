// Package fastverify checks ES256 and EdDSA signatures made by one fixed
// public key, with the results of crypto/ecdsa and crypto/ed25519 but in a
// fraction of their time.
//
// A gateway verifies every token against the same few keys, so it can spend
// memory once per key to save work per signature: the key's multiples
// j·2^(10i)·Q for every 10-bit position i and |j| ≤ 512 are precomputed (a
// fixed-base comb with signed 10-bit digits), and the variable-base scalar
// multiplication that dominates verification — 256 doublings and about 50
// additions — becomes 26 table additions. The group arithmetic is that of
// filippo.io/nistec and filippo.io/edwards25519, the libraries the standard
// library's own implementations are copied from; this package chooses the
// order of the additions, and ends an ECDSA check by comparing r with the
// point's x-coordinate without inverting Z (xcheck.go). On amd64 and arm64
// an ECDSA check keeps the generator's comb and the key's in affine form and
// adds them with nistec's mixed-addition assembly (p256asm.go): 52 mixed
// additions in place of a constant-time base-point multiplication and 26
// full ones. Verification handles public values only, so variable time is
// fine here (it never signs).
//
// The equations and every acceptance rule are those of the standard
// library (FIPS 186-5 ECDSA with r, s in [1, n-1]; RFC 8032 Ed25519 with a
// canonical S and cofactorless check, as crypto/ed25519.Verify); the tests
// compare both on valid, corrupted and adversarial signatures, and a fuzz
// target keeps comparing them.
package fastverify

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha512"
	"errors"
	"math/big"
	"sync"

	"filippo.io/edwards25519"
	"filippo.io/nistec"
)

// point is the group interface both curves' point types provide.
type point[T any] interface {
	*T
	Add(p, q *T) *T
	Negate(p *T) *T
	Set(p *T) *T
}

// The comb's digits are signed and combBits wide: a 256-bit scalar plus
// the final carry takes `windows` of them, each a table of combSize points.
const (
	combBits = 10
	combSize = 1 << (combBits - 1)
	windows  = (256 + combBits) / combBits
)

// comb holds j·2^(combBits·i)·P for i < windows and 1 ≤ j ≤ combSize.
type comb[T any, P point[T]] [windows][combSize]T

// newComb precomputes the multiples of p.
func newComb[T any, P point[T]](p P) *comb[T, P] {
	c := new(comb[T, P])
	base := P(new(T))
	base.Set(p)
	for i := range c {
		P(&c[i][0]).Set(base)
		for j := 1; j < combSize; j++ {
			P(&c[i][j]).Add(&c[i][j-1], base)
		}
		// 2^combBits·base = 2·(combSize·base)
		base.Add(&c[i][combSize-1], &c[i][combSize-1])
	}
	return c
}

// recode writes k (32 little-endian bytes) as signed combBits-wide digits,
// least significant first: k = Σ d[i]·2^(combBits·i), |d[i]| ≤ combSize.
func recode(le *[32]byte, d *[windows]int16) {
	var limbs [5]uint64 // one zero limb past the top for the last windows
	for j := range 4 {
		for b := range 8 {
			limbs[j] |= uint64(le[8*j+b]) << (8 * b)
		}
	}
	carry := 0
	for i := range d {
		pos := i * combBits
		w := limbs[pos/64] >> (pos % 64)
		if off := pos % 64; off > 64-combBits {
			w |= limbs[pos/64+1] << (64 - off)
		}
		v := int(w&(1<<combBits-1)) + carry
		carry = 0
		if v > combSize {
			v -= 1 << combBits
			carry = 1
		}
		d[i] = int16(v)
	}
}

// addMul adds k·P to acc, k given as 32 little-endian bytes; neg is
// scratch space.
func (c *comb[T, P]) addMul(acc P, le *[32]byte, neg P) {
	var d [windows]int16
	recode(le, &d)
	for i, v := range d {
		switch {
		case v > 0:
			acc.Add(acc, &c[i][v-1])
		case v < 0:
			acc.Add(acc, neg.Negate(&c[i][-v-1]))
		}
	}
}

// P256 verifies ES256 signatures of one P-256 public key.
type P256 struct {
	q *nistec.P256Point
	// aff is the key's comb in affine form (p256asm.go), c the projective
	// one of builds without nistec's assembly; outside tests only one is built.
	affOnce, once sync.Once
	aff           *affineComb
	c             *comb[nistec.P256Point, *nistec.P256Point]
}

var p256N = elliptic.P256().Params().N

// NewP256 prepares a verifier for pub. The key's table is built on the
// first Verify: about 0.85 MB, plus one of the same size for the generator
// that all keys share (1.3 MB and no generator table in builds without
// nistec's assembly).
func NewP256(pub *ecdsa.PublicKey) (*P256, error) {
	if pub.Curve != elliptic.P256() {
		return nil, errors.New("fastverify: not a P-256 key")
	}
	raw, err := pub.Bytes()
	if err != nil {
		return nil, err
	}
	q, err := nistec.NewP256Point().SetBytes(raw)
	if err != nil {
		return nil, err
	}
	return &P256{q: q}, nil
}

// p256Scratch holds a verification's big integers, reused so a check does
// not allocate them anew.
type p256Scratch struct {
	r, s, e, w, u1, u2, x big.Int
	p, neg                nistec.P256Point
	sum                   affineSum
}

var p256Pool = sync.Pool{New: func() any { return new(p256Scratch) }}

// Verify reports whether sig (r‖s, 32 bytes each, as in JWS) is a valid
// signature of hash, with the rules of ecdsa.Verify.
func (v *P256) Verify(hash []byte, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	t := p256Pool.Get().(*p256Scratch)
	defer p256Pool.Put(t)
	r, s := t.r.SetBytes(sig[:32]), t.s.SetBytes(sig[32:])
	if r.Sign() == 0 || s.Sign() == 0 || r.Cmp(p256N) >= 0 || s.Cmp(p256N) >= 0 {
		return false
	}
	// e is the hash's leftmost 256 bits, reduced mod n.
	if len(hash) > 32 {
		hash = hash[:32]
	}
	e := t.e.SetBytes(hash)
	w := t.w.ModInverse(s, p256N)
	u1 := t.u1.Mul(e, w)
	u1.Mod(u1, p256N)
	u2 := t.u2.Mul(r, w)
	u2.Mod(u2, p256N)

	var u1b, u2b [32]byte // little-endian
	u1.FillBytes(u1b[:])
	u2.FillBytes(u2b[:])
	reverse(&u1b)
	reverse(&u2b)
	if v.mulAdd(&t.sum, &u1b, &u2b) {
		return !t.sum.inf && xMatches(&t.sum.p, r, &t.x)
	}
	v.once.Do(func() { v.c = newComb(v.q) })
	reverse(&u1b)
	p, err := t.p.ScalarBaseMult(u1b[:])
	if err != nil {
		return false
	}
	v.c.addMul(p, &u2b, &t.neg)
	if xLayoutOK() {
		return xMatches(p, r, &t.x)
	}
	x, err := p.BytesX() // fails at infinity
	if err != nil {
		return false
	}
	xi := t.x.SetBytes(x)
	if xi.Cmp(p256N) >= 0 {
		xi.Sub(xi, p256N)
	}
	return xi.Cmp(r) == 0
}

// Ed25519 verifies EdDSA (Ed25519) signatures of one public key.
type Ed25519 struct {
	pub  [32]byte
	negA *edwards25519.Point
	once sync.Once
	c    *comb[edwards25519.Point, *edwards25519.Point]
}

var (
	baseOnce sync.Once
	baseComb *comb[edwards25519.Point, *edwards25519.Point]
)

// NewEd25519 prepares a verifier for pub. The key's table (about 2.1 MB,
// and one more shared for the base point) is built on the first Verify.
func NewEd25519(pub ed25519.PublicKey) (*Ed25519, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("fastverify: not an Ed25519 public key")
	}
	a, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, err
	}
	v := &Ed25519{negA: new(edwards25519.Point).Negate(a)}
	copy(v.pub[:], pub)
	return v, nil
}

// Verify reports whether sig is a valid signature of msg, with the rules of
// ed25519.Verify: [S]B = R + [k]A, checked as R = [S]B − [k]A.
func (v *Ed25519) Verify(msg, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize || sig[63]&224 != 0 {
		return false
	}
	S, err := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(v.pub[:])
	h.Write(msg)
	var digest [64]byte
	k, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(digest[:0]))
	if err != nil {
		return false
	}
	baseOnce.Do(func() { baseComb = newComb(edwards25519.NewGeneratorPoint()) })
	v.once.Do(func() { v.c = newComb(v.negA) })
	r, neg := edwards25519.NewIdentityPoint(), new(edwards25519.Point)
	baseComb.addMul(r, (*[32]byte)(S.Bytes()), neg)
	v.c.addMul(r, (*[32]byte)(k.Bytes()), neg)
	return bytes.Equal(sig[:32], r.Bytes())
}

func reverse(b *[32]byte) {
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
}

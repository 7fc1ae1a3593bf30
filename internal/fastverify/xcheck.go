package fastverify

import (
	"math/big"
	"math/bits"
	"sync"
	"unsafe"

	"filippo.io/nistec"
)

// An ECDSA check ends by comparing r with the x-coordinate of a point that
// nistec keeps in Jacobian coordinates (x = X/Z²): BytesX inverts Z for
// that, about 4 µs, a sixth of the whole check. xMatches compares without
// the inversion, r·Z² against X, with a few field multiplications.
//
// That needs the point's coordinates, which nistec does not export: on
// amd64 and arm64 its P256Point is three 4-limb Montgomery-form elements
// (X, Y, Z), and xMatches reads them. Whether that holds is tested on the
// first use against BytesX on known points (xLayoutOK); when it does not
// (another architecture, another nistec), the check takes BytesX.

// fe is a P-256 field element: four little-endian 64-bit limbs.
type fe [4]uint64

var feP = fe{0xffffffffffffffff, 0x00000000ffffffff, 0, 0xffffffff00000001}

// feMontMul returns a·b·2⁻²⁵⁶ mod p, fully reduced, for any a, b < 2²⁵⁶
// (CIOS Montgomery multiplication; p ≡ −1 mod 2⁶⁴, so each step's
// multiplier is the low limb itself).
func feMontMul(a, b *fe) fe {
	var t [6]uint64
	for i := range 4 {
		addMulRow(&t, a, b[i])
		addMulRow(&t, &feP, t[0]) // makes the low limb zero
		t = [6]uint64{t[1], t[2], t[3], t[4], t[5], 0}
	}
	// t < 2p here; subtract p while it is not below it.
	for t[4] != 0 || !feLess(fe(t[:4]), feP) {
		var b uint64
		for j := range 4 {
			t[j], b = bits.Sub64(t[j], feP[j], b)
		}
		t[4] -= b
	}
	return fe(t[:4])
}

// addMulRow adds a·k to t.
func addMulRow(t *[6]uint64, a *fe, k uint64) {
	var c, cc uint64
	for j := range 4 {
		hi, lo := bits.Mul64(a[j], k)
		lo, cc = bits.Add64(lo, t[j], 0)
		hi += cc
		lo, cc = bits.Add64(lo, c, 0)
		hi += cc
		t[j], c = lo, hi
	}
	t[4], cc = bits.Add64(t[4], c, 0)
	t[5] += cc
}

// feLess reports a < b.
func feLess(a, b fe) bool {
	for j := 3; j >= 0; j-- {
		if a[j] != b[j] {
			return a[j] < b[j]
		}
	}
	return false
}

// feReduce returns a mod p for a < 2²⁵⁶.
func feReduce(a fe) fe {
	if feLess(a, feP) {
		return a
	}
	var b uint64
	for j := range 4 {
		a[j], b = bits.Sub64(a[j], feP[j], b)
	}
	return a
}

// feMontOne is 1 in Montgomery form (2²⁵⁶ mod p).
var feMontOne = fe{1, 0xffffffff00000000, 0xffffffffffffffff, 0x00000000fffffffe}

// feMontInv returns a⁻¹ in Montgomery form for a in Montgomery form
// (a^(p−2), Fermat); 0 for 0. Only tables use it, twice per row.
func feMontInv(a *fe) fe {
	e := feP
	e[0] -= 2 // p − 2; no borrow
	r := feMontOne
	for j := 3; j >= 0; j-- {
		for b := 63; b >= 0; b-- {
			p256Mul(&r, &r, &r)
			if e[j]>>b&1 == 1 {
				p256Mul(&r, &r, a)
			}
		}
	}
	return r
}

// feNeg returns −a mod p for a < p.
func feNeg(a fe) fe {
	if a == (fe{}) {
		return a
	}
	var b uint64
	n := feP
	for j := range 4 {
		n[j], b = bits.Sub64(n[j], a[j], b)
	}
	return n
}

func feFromBig(x *big.Int) fe {
	var b [32]byte
	x.FillBytes(b[:])
	var f fe
	for j := range 4 {
		for k := range 8 {
			f[j] |= uint64(b[31-8*j-k]) << (8 * k)
		}
	}
	return f
}

var (
	feOne fe = fe{1}
	// pMinusN bounds r: only an r below p − n has a second candidate
	// x = r + n.
	pMinusN = new(big.Int).Sub(new(big.Int).SetBytes([]byte{
		0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), p256N)
)

// coords views p's Jacobian Montgomery-form coordinates (see xLayoutOK).
func coords(p *nistec.P256Point) *[3]fe { return (*[3]fe)(unsafe.Pointer(p)) }

// xMatches reports whether p is not the point at infinity and its affine
// x-coordinate, reduced mod n, equals r (0 < r < n): x = r, or x = r + n
// when that is below p. X/Z² = x ⟺ X = x·Z², all in Montgomery form:
// mont(X, 1) = mont(mont(Z, Z), x).
func xMatches(p *nistec.P256Point, r *big.Int, scratch *big.Int) bool {
	c := coords(p)
	z := feReduce(c[2])
	if z == (fe{}) {
		return false
	}
	x := feReduce(c[0])
	lhs := feMontMul(&x, &feOne)
	zz := feMontMul(&z, &z)
	cand := feFromBig(r)
	if feMontMul(&zz, &cand) == lhs {
		return true
	}
	if r.Cmp(pMinusN) >= 0 {
		return false
	}
	cand = feFromBig(scratch.Add(r, p256N))
	return feMontMul(&zz, &cand) == lhs
}

var (
	layoutOnce sync.Once
	layoutOK   bool
)

// xLayoutOK tests, once, that xMatches reads nistec's points as it
// assumes: on points with assorted Z, it must agree with BytesX.
func xLayoutOK() bool {
	layoutOnce.Do(func() {
		if unsafe.Sizeof(nistec.P256Point{}) != unsafe.Sizeof([3]fe{}) {
			return
		}
		var scratch big.Int
		acc := nistec.NewP256Point()
		for i := 1; i <= 16; i++ {
			var k [32]byte
			k[31], k[30], k[5] = byte(i*37), byte(i), byte(i*i)
			q, err := nistec.NewP256Point().ScalarBaseMult(k[:])
			if err != nil {
				return
			}
			acc.Add(acc, q) // Z no longer 1
			xb, err := acc.BytesX()
			if err != nil {
				return
			}
			x := new(big.Int).SetBytes(xb)
			x.Mod(x, p256N)
			if x.Sign() == 0 {
				continue
			}
			other := new(big.Int).Add(x, big.NewInt(1))
			other.Mod(other, p256N)
			if !xMatches(acc, x, &scratch) || (other.Sign() != 0 && xMatches(acc, other, &scratch)) {
				return
			}
		}
		if xMatches(nistec.NewP256Point(), big.NewInt(1), &scratch) { // infinity
			return
		}
		layoutOK = true
	})
	return layoutOK
}

package fastverify

import (
	"runtime/debug"
	"sync"
	"sync/atomic"

	"filippo.io/nistec"
)

// The mixed addition below is nistec's own assembly, the one its
// constant-time base-point multiplication runs: a Jacobian point plus an
// affine one, 11 field multiplications. Its exported Add is a full Jacobian
// addition that also computes a doubling and three conditional moves (it
// must not branch on secret points), more than twice the work. ECDSA
// verification handles public values only, so this file keeps both combs,
// the generator's and the key's, in affine form and adds with the mixed
// assembly directly, handling the cases it leaves undefined (an equal or
// opposite point) by branching.
//
// The assembly is nistec's unexported p256PointAddAffineAsm (and p256Mul,
// which builds the tables), linked in p256asm_link.go on amd64 and arm64;
// their signatures are nistec's own Go declarations (p256_asm.go). asmOK
// checks on first use that they compute what feMontMul and nistec's
// exported Add compute, and P256 falls back to that path when they do
// not, or on other architectures.

// affinePoint is nistec's p256AffinePoint: x and y in Montgomery form.
type affinePoint struct{ x, y fe }

// affineComb is a comb (see comb) in affine coordinates.
type affineComb [windows][combSize]affinePoint

var (
	genOnce sync.Once
	genComb *affineComb
)

// newAffineComb precomputes the multiples of p, one window at a time: each
// row is its base added again and again in affine form, then made affine
// itself with one inversion.
func newAffineComb(p *nistec.P256Point) *affineComb {
	c := new(affineComb)
	row := make([]nistec.P256Point, combSize)
	base := []nistec.P256Point{*p}
	var baseAff [1]affinePoint
	var sum affineSum
	for i := range c {
		toAffine(baseAff[:], base)
		sum.reset()
		for j := range row {
			sum.add(&baseAff[0], false) // the second is a doubling
			row[j] = sum.p
		}
		base[0].Double(&row[combSize-1])
		toAffine(c[i][:], row)
	}
	return c
}

// toAffine sets out[j] to the affine form of in[j], none of which is the
// point at infinity, with one field inversion for all of them (Montgomery's
// trick): x = X/Z², y = Y/Z³.
func toAffine(out []affinePoint, in []nistec.P256Point) {
	prefix := make([]fe, len(in)) // prefix[j] = Z₀·…·Zⱼ
	acc := feMontOne
	for j := range in {
		p256Mul(&acc, &acc, &coords(&in[j])[2])
		prefix[j] = acc
	}
	inv := feMontInv(&acc) // (Z₀·…·Zₙ)⁻¹
	var zInv, zz, zzz fe
	for j := len(in) - 1; j >= 0; j-- {
		c := coords(&in[j])
		zInv = inv
		if j > 0 {
			p256Mul(&zInv, &inv, &prefix[j-1])
			p256Mul(&inv, &inv, &c[2])
		}
		p256Mul(&zz, &zInv, &zInv)
		p256Mul(&zzz, &zz, &zInv)
		p256Mul(&out[j].x, &c[0], &zz)
		p256Mul(&out[j].y, &c[1], &zzz)
	}
}

// affineSum accumulates a sum of affine points.
type affineSum struct {
	p, tmp nistec.P256Point
	inf    bool // p is the point at infinity (its coordinates are stale)
}

func (a *affineSum) reset() { a.inf = true }

// add adds q, or −q when neg.
func (a *affineSum) add(q *affinePoint, neg bool) {
	if a.inf {
		c := coords(&a.p)
		c[0], c[1], c[2] = q.x, q.y, feMontOne
		if neg {
			c[1] = feNeg(feReduce(q.y))
		}
		a.inf = false
		return
	}
	sign := 0
	if neg {
		sign = 1
	}
	p256PointAddAffineAsm(&a.tmp, &a.p, q, sign, 1, 1)
	if z := feReduce(coords(&a.tmp)[2]); z != (fe{}) {
		a.p = a.tmp
		return
	}
	// Z = 0: p and ±q share x. The same point doubles, the opposite one
	// cancels.
	c := coords(&a.p)
	var zz, zzz, y fe
	p256Mul(&zz, &c[2], &c[2])
	p256Mul(&zzz, &zz, &c[2])
	y = q.y
	if neg {
		y = feNeg(feReduce(y))
	}
	if p256Mul(&y, &y, &zzz); feReduce(y) == feReduce(c[1]) {
		a.p.Double(&a.p)
	} else {
		a.inf = true
	}
}

// nistecVersion is the filippo.io/nistec whose unexported routines
// p256asm_link.go links; go.mod requires it, and TestNistecVersionPinned
// keeps the two together.
const nistecVersion = "v0.0.4"

// linkedNistec reports whether this binary holds nistecVersion, unreplaced.
// A binary that links this package lists nistec among its dependencies,
// unless it records none: a test binary, where go.mod's requirement, which
// TestNistecVersionPinned checks, is the one built.
func linkedNistec() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	if len(bi.Deps) == 0 {
		return true
	}
	for _, m := range bi.Deps {
		if m.Path == "filippo.io/nistec" {
			return m.Version == nistecVersion && m.Replace == nil
		}
	}
	return false
}

// portableOnly makes P256 take nistec's exported arithmetic (tests).
var portableOnly atomic.Bool

var (
	asmOnce  sync.Once
	asmWorks bool
)

// asmOK reports, testing once, whether the linked assembly is usable: the
// build must hold the nistec version it was written against (a routine of
// another version may take other arguments, and calling it could do
// anything), and the assembly must multiply as feMontMul does and add as
// nistec's Add does, on points with assorted Z, through a doubling and
// cancellations, the cases that affineSum handles itself.
func asmOK() bool {
	asmOnce.Do(func() {
		if !haveAsm || !xLayoutOK() || !linkedNistec() {
			return
		}
		a, b := fe{0x0123456789abcdef, 0xfedcba9876543210, 0x0f1e2d3c4b5a6978, 0x7fffffff00000001}, feMontOne
		for range 8 {
			var got fe
			if p256Mul(&got, &a, &b); got != feMontMul(&a, &b) {
				return
			}
			a, b = got, a
		}
		var pts [8]nistec.P256Point
		g := nistec.NewP256Point().SetGenerator()
		pts[0].Set(g)
		for j := 1; j < len(pts); j++ {
			pts[j].Add(&pts[j-1], &pts[j-1]) // Z ≠ 1
			pts[j].Add(&pts[j], g)
		}
		var aff [len(pts)]affinePoint
		toAffine(aff[:], pts[:])
		var sum affineSum
		want := nistec.NewP256Point()
		check := func() bool {
			if sum.inf {
				return want.IsInfinity() == 1
			}
			return sum.p.Equal(want) == 1
		}
		sum.reset()
		for j := range pts {
			// +P_j, −P_j, +P_j again: covers set, add, the doubling (when
			// the sum is P_j), and the cancellation.
			for _, neg := range []bool{false, true, false} {
				var q nistec.P256Point
				q.Set(&pts[j])
				if neg {
					q.Negate(&q)
				}
				sum.add(&aff[j], neg)
				want.Add(want, &q)
				if !check() {
					return
				}
			}
		}
		sum.reset()
		want = nistec.NewP256Point()
		for _, neg := range []bool{false, false, true, true, true} {
			var q nistec.P256Point
			q.Set(g)
			if neg {
				q.Negate(&q)
			}
			sum.add(&aff[0], neg) // G, 2G (doubling), G, 0 (cancel), −G
			want.Add(want, &q)
			if !check() {
				return
			}
		}
		asmWorks = true
	})
	return asmWorks
}

// mulAdd sets a to u1·G + u2·Q (both little-endian) with the affine combs,
// reporting false when this build's assembly path is not usable.
func (v *P256) mulAdd(a *affineSum, u1, u2 *[32]byte) bool {
	if portableOnly.Load() || !asmOK() {
		return false
	}
	genOnce.Do(func() { genComb = newAffineComb(nistec.NewP256Point().SetGenerator()) })
	v.affOnce.Do(func() { v.aff = newAffineComb(v.q) })
	var d1, d2 [windows]int16
	recode(u1, &d1)
	recode(u2, &d2)
	a.reset()
	for i := range d1 {
		addDigit(a, &genComb[i], d1[i])
		addDigit(a, &v.aff[i], d2[i])
	}
	return true
}

func addDigit(a *affineSum, row *[combSize]affinePoint, v int16) {
	switch {
	case v > 0:
		a.add(&row[v-1], false)
	case v < 0:
		a.add(&row[-v-1], true)
	}
}

// P256Accelerated reports whether ES256 checks take nistec's assembly
// (amd64 and arm64 with the nistec version go.mod pins), rather than its
// exported arithmetic at about twice the time.
func P256Accelerated() bool { return !portableOnly.Load() && asmOK() }

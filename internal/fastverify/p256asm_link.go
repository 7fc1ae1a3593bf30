//go:build (amd64 || arm64) && !purego

package fastverify

import (
	_ "unsafe" // go:linkname

	"filippo.io/nistec"
)

const haveAsm = true

// Sets res = in1 + in2, or in1 − in2 when sign is not 0, in1 Jacobian and
// in2 affine; res may be in1. If sel is 0, res = in1; if zero is 0 (which
// takes precedence), res = (x₂, ±y₂, 1), the sign applied. When in1 is ±in2
// the result has Z = 0 (and is not their sum); in1 must not be the point at
// infinity. (nistec's declaration, p256_asm.go; the rest read from its
// assembly.)
//
//go:linkname p256PointAddAffineAsm filippo.io/nistec.p256PointAddAffineAsm
//go:noescape
func p256PointAddAffineAsm(res, in1 *nistec.P256Point, in2 *affinePoint, sign, sel, zero int)

// p256Mul sets res = in1·in2·2⁻²⁵⁶ mod p (Montgomery multiplication), as
// feMontMul does. (nistec's declaration, p256_asm.go.)
//
//go:linkname p256Mul filippo.io/nistec.p256Mul
//go:noescape
func p256Mul(res, in1, in2 *fe)

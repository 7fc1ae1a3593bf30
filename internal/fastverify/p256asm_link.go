//go:build (amd64 || arm64) && !purego

package fastverify

import (
	_ "unsafe" // go:linkname

	"filippo.io/nistec"
)

const haveAsm = true

// If zero is 0, sets res = in2; if sel is 0, sets res = in1; otherwise
// res = in1 + in2, or in1 − in2 when sign is not 0. Undefined when in1 is
// ±in2 or the point at infinity. (nistec's declaration, p256_asm.go.)
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

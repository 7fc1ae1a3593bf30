//go:build !((amd64 || arm64) && !purego)

package fastverify

import "filippo.io/nistec"

// Without nistec's assembly, P256 keeps to nistec's exported arithmetic.
const haveAsm = false

func p256PointAddAffineAsm(res, in1 *nistec.P256Point, in2 *affinePoint, sign, sel, zero int) {
	panic("fastverify: no P-256 assembly in this build")
}

func p256Mul(res, in1, in2 *fe) { *res = feMontMul(in1, in2) }

package fastverify

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"testing"

	"filippo.io/nistec"
)

// On amd64 and arm64 the assembly path must be the one taken: if nistec
// changes under us, this fails instead of every check quietly costing
// twice as much.
func TestP256AssemblyPathInUse(t *testing.T) {
	if !haveAsm {
		t.Skip("no nistec assembly in this build (" + runtime.GOARCH + ", or purego)")
	}
	if !asmOK() {
		t.Fatal("nistec's p256PointAddAffineAsm does not add as nistec's Add does: ES256 checks take the portable path")
	}
}

// toAffine agrees with nistec's own encoding on points with assorted Z.
func TestToAffine(t *testing.T) {
	if !xLayoutOK() {
		t.Skip("no Montgomery-form Jacobian points on " + runtime.GOARCH)
	}
	pts := make([]nistec.P256Point, 40)
	g := nistec.NewP256Point().SetGenerator()
	for j := range pts {
		k := make([]byte, 32)
		rand.Read(k)
		if _, err := pts[j].ScalarBaseMult(k); err != nil {
			t.Fatal(err)
		}
		pts[j].Add(&pts[j], g) // Z ≠ 1
	}
	aff := make([]affinePoint, len(pts))
	toAffine(aff, pts)
	for j := range pts {
		want := pts[j].Bytes() // 04 ‖ x ‖ y
		x, y := feMontMul(&aff[j].x, &fe{1}), feMontMul(&aff[j].y, &fe{1})
		if toBig(x).Cmp(new(big.Int).SetBytes(want[1:33])) != 0 || toBig(y).Cmp(new(big.Int).SetBytes(want[33:])) != 0 {
			t.Fatalf("point %d: affine form differs from Bytes()", j)
		}
	}
	inv := feMontInv(&feMontOne)
	if inv != feMontOne {
		t.Fatalf("1⁻¹ = %x", inv)
	}
}

// affineSum adds like nistec's Add on sums that keep hitting the cases the
// assembly leaves undefined: the sum equal to the point added (a doubling)
// or to its opposite (the point at infinity), and adds after infinity.
func TestAffineSumEqualAndOpposite(t *testing.T) {
	if !asmOK() {
		t.Skip("assembly path not available")
	}
	var small [3]nistec.P256Point // G, 2G, 3G
	small[0].SetGenerator()
	small[1].Double(&small[0])
	small[2].Add(&small[1], &small[0])
	var aff [3]affinePoint
	toAffine(aff[:], small[:])
	rng := mrand.New(mrand.NewPCG(5, 6))
	var sum affineSum
	sum.reset()
	want := nistec.NewP256Point()
	var doublings, cancels int
	for i := range 5000 {
		j, neg := rng.IntN(3), rng.IntN(2) == 1
		var q nistec.P256Point
		q.Set(&small[j])
		if neg {
			q.Negate(&q)
		}
		wasInf := sum.inf
		before := nistec.NewP256Point().Set(want)
		sum.add(&aff[j], neg)
		want.Add(want, &q)
		if !wasInf && before.Equal(&q) == 1 {
			doublings++
		}
		if !wasInf && want.IsInfinity() == 1 {
			cancels++
		}
		if sum.inf != (want.IsInfinity() == 1) || (!sum.inf && sum.p.Equal(want) != 1) {
			t.Fatalf("step %d: the sum differs from nistec's", i)
		}
	}
	if doublings == 0 || cancels == 0 {
		t.Fatalf("the walk hit %d doublings and %d cancellations: it tests nothing", doublings, cancels)
	}
}

// Signatures whose two multiplications add equal points at the first
// window (key G, e = r, so u1 = u2) verify as the standard library does,
// and with key −G (where u1·G + u2·Q is the point at infinity) are refused.
func TestP256EqualScalarsOnGenerator(t *testing.T) {
	bothP256Paths(t, func(t *testing.T) {
		for _, d := range []*big.Int{big.NewInt(1), new(big.Int).Sub(p256N, big.NewInt(1))} {
			x, y := elliptic.P256().ScalarBaseMult(d.FillBytes(make([]byte, 32)))
			pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}
			v, err := NewP256(pub)
			if err != nil {
				t.Fatal(err)
			}
			for range 20 {
				k, _ := rand.Int(rand.Reader, p256N)
				if k.Sign() == 0 {
					continue
				}
				rx, _ := elliptic.P256().ScalarBaseMult(k.FillBytes(make([]byte, 32)))
				r := rx.Mod(rx, p256N)
				// s = k⁻¹(e + r·d) with e = r; for d = −1 that is 0, so take
				// any s: u1 = u2 still.
				s := new(big.Int).Mul(r, new(big.Int).Add(d, big.NewInt(1)))
				s.Mul(s, new(big.Int).ModInverse(k, p256N)).Mod(s, p256N)
				if s.Sign() == 0 {
					s.SetInt64(12345)
				}
				sig := make([]byte, 64)
				r.FillBytes(sig[:32])
				s.FillBytes(sig[32:])
				hash := r.FillBytes(make([]byte, 32))
				got, want := v.Verify(hash, sig), stdES256(pub, hash, sig)
				if got != want || got != (d.Cmp(big.NewInt(1)) == 0) {
					t.Fatalf("d = %v: got %v, standard library %v", d, got, want)
				}
			}
		}
	})
}

func BenchmarkAffineCombBuild(b *testing.B) {
	g := nistec.NewP256Point().SetGenerator()
	for b.Loop() {
		newAffineComb(g)
	}
}

// The version linked by name is the one go.mod requires.
func TestNistecVersionPinned(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(mod, []byte("filippo.io/nistec "+nistecVersion+"\n")) {
		t.Fatalf("go.mod does not require filippo.io/nistec %s, the version p256asm_link.go links: "+
			"check its p256PointAddAffineAsm and p256Mul, then update nistecVersion", nistecVersion)
	}
	if haveAsm && !linkedNistec() {
		t.Fatalf("linkedNistec refuses the test binary")
	}
}

// recode's digits are within [−511, 512] and sum back to the scalar.
func TestRecode(t *testing.T) {
	scalars := edgeScalars()
	scalars = append(scalars, new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)))
	for range 2000 {
		k := make([]byte, 32)
		rand.Read(k)
		scalars = append(scalars, new(big.Int).SetBytes(k))
	}
	for _, k := range scalars {
		le := [32]byte(intToLE(k))
		var d [windows]int16
		recode(&le, &d)
		sum := new(big.Int)
		for i := len(d) - 1; i >= 0; i-- {
			if d[i] < -(combSize-1) || d[i] > combSize {
				t.Fatalf("%x: digit %d is %d", k, i, d[i])
			}
			sum.Lsh(sum, combBits).Add(sum, big.NewInt(int64(d[i])))
		}
		if sum.Cmp(k) != 0 {
			t.Fatalf("digits of %x sum to %x", k, sum)
		}
	}
}

// Every entry of the affine combs is the projective comb's entry.
func TestAffineCombMatchesComb(t *testing.T) {
	if !asmOK() {
		t.Skip("assembly path not available")
	}
	key := nistec.NewP256Point()
	k := make([]byte, 32)
	rand.Read(k)
	if _, err := key.ScalarBaseMult(k); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*nistec.P256Point{nistec.NewP256Point().SetGenerator(), key} {
		aff, proj := newAffineComb(p), newComb(p)
		for i := range aff {
			for j := range aff[i] {
				c := coords(&proj[i][j])
				a := &aff[i][j]
				var zz, zzz, x, y fe
				p256Mul(&zz, &c[2], &c[2])
				p256Mul(&zzz, &zz, &c[2])
				p256Mul(&x, &a.x, &zz)
				p256Mul(&y, &a.y, &zzz)
				if feReduce(x) != feReduce(c[0]) || feReduce(y) != feReduce(c[1]) {
					t.Fatalf("entry [%d][%d] differs", i, j)
				}
			}
		}
	}
}

package fastverify

import (
	"crypto/rand"
	"math/big"
	"runtime"
	"testing"

	"filippo.io/nistec"
)

var bigP, _ = new(big.Int).SetString("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff", 16)

func toBig(f fe) *big.Int {
	var b [32]byte
	for j := range 4 {
		for k := range 8 {
			b[31-8*j-k] = byte(f[j] >> (8 * k))
		}
	}
	return new(big.Int).SetBytes(b[:])
}

// feMontMul is a·b·2⁻²⁵⁶ mod p, fully reduced, for any inputs below 2²⁵⁶
// (nistec's elements need not be below p).
func TestFeMontMul(t *testing.T) {
	rInv := new(big.Int).ModInverse(new(big.Int).Lsh(big.NewInt(1), 256), bigP)
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	edges := []*big.Int{big.NewInt(0), big.NewInt(1), new(big.Int).Sub(bigP, big.NewInt(1)), bigP,
		new(big.Int).Add(bigP, big.NewInt(1)), max}
	for i := range 3000 {
		var a, b *big.Int
		if i < len(edges)*len(edges) {
			a, b = edges[i/len(edges)], edges[i%len(edges)]
		} else {
			a, _ = rand.Int(rand.Reader, new(big.Int).Add(max, big.NewInt(1)))
			b, _ = rand.Int(rand.Reader, new(big.Int).Add(max, big.NewInt(1)))
		}
		fa, fb := feFromBig(a), feFromBig(b)
		got := toBig(feMontMul(&fa, &fb))
		want := new(big.Int).Mul(a, b)
		want.Mul(want, rInv).Mod(want, bigP)
		if got.Cmp(want) != 0 {
			t.Fatalf("mont(%x, %x) = %x, want %x", a, b, got, want)
		}
	}
}

// The check without inversion agrees with BytesX on points with assorted
// Z, and refuses every other r and the point at infinity.
func TestXMatchesAgreesWithBytesX(t *testing.T) {
	if haveAsm && !xLayoutOK() {
		t.Fatal("nistec's point layout is not the one xMatches reads: every ES256 check pays an inversion again")
	}
	if !xLayoutOK() {
		t.Skip("no Montgomery-form Jacobian points on " + runtime.GOARCH + ": BytesX is used")
	}
	var scratch big.Int
	acc := nistec.NewP256Point()
	for range 500 {
		k := make([]byte, 32)
		rand.Read(k)
		q, err := nistec.NewP256Point().ScalarBaseMult(k)
		if err != nil {
			t.Fatal(err)
		}
		acc.Add(acc, q)
		xb, err := acc.BytesX()
		if err != nil {
			continue
		}
		x := new(big.Int).Mod(new(big.Int).SetBytes(xb), p256N)
		if !xMatches(acc, x, &scratch) {
			t.Fatalf("x mod n of %x not matched", xb)
		}
		r, _ := rand.Int(rand.Reader, p256N)
		if r.Sign() != 0 && r.Cmp(x) != 0 && xMatches(acc, r, &scratch) {
			t.Fatalf("r %x matched a point whose x is %x", r, xb)
		}
	}
	if xMatches(nistec.NewP256Point(), big.NewInt(1), &scratch) {
		t.Fatal("the point at infinity matched")
	}
}

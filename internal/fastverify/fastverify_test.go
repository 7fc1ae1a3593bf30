package fastverify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"math/big"
	mrand "math/rand/v2"
	"testing"

	"filippo.io/edwards25519"
)

func es256Sig(t testing.TB, k *ecdsa.PrivateKey, hash []byte) []byte {
	r, s, err := ecdsa.Sign(rand.Reader, k, hash)
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}

func stdES256(pub *ecdsa.PublicKey, hash, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	return ecdsa.Verify(pub, hash, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

// mutations of a valid signature that a forger or a broken client produces.
func mutations(sig []byte, n *big.Int, rng *mrand.Rand) [][]byte {
	var out [][]byte
	flip := append([]byte(nil), sig...)
	flip[rng.IntN(len(flip))] ^= 1 << rng.IntN(8)
	out = append(out, flip, sig[:len(sig)-1], append(append([]byte(nil), sig...), 0), make([]byte, len(sig)))
	swapped := append(append([]byte(nil), sig[len(sig)/2:]...), sig[:len(sig)/2]...)
	out = append(out, swapped)
	if n != nil { // ECDSA: r or s out of range, r+n, s+n, n−s (the other valid s for ECDSA is not the one signed, but valid: kept apart)
		for _, half := range []int{0, 32} {
			for _, v := range []*big.Int{big.NewInt(0), new(big.Int).Set(n), new(big.Int).Sub(n, big.NewInt(1)),
				new(big.Int).Add(new(big.Int).SetBytes(sig[half:half+32]), n)} {
				m := append([]byte(nil), sig...)
				b := v.Bytes()
				if len(b) > 32 {
					continue // does not fit: (r+n) overflows 32 bytes for large r
				}
				clear(m[half : half+32])
				copy(m[half+32-len(b):half+32], b)
				out = append(out, m)
			}
		}
	}
	return out
}

// bothP256Paths runs f with the assembly's mixed additions (where this
// build has them) and with nistec's exported arithmetic only.
func bothP256Paths(t *testing.T, f func(t *testing.T)) {
	t.Run("asm", f)
	t.Run("portable", func(t *testing.T) {
		portableOnly.Store(true)
		defer portableOnly.Store(false)
		f(t)
	})
}

// TestP256MatchesStandardLibrary: valid signatures verify, and on every
// corruption the answer is the standard library's.
func TestP256MatchesStandardLibrary(t *testing.T) { bothP256Paths(t, testP256MatchesStandardLibrary) }

func testP256MatchesStandardLibrary(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	for range 4 {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		v, err := NewP256(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 60 {
			var msg [8]byte
			binary.LittleEndian.PutUint64(msg[:], uint64(i))
			hash := sha256.Sum256(msg[:])
			sig := es256Sig(t, k, hash[:])
			if !v.Verify(hash[:], sig) {
				t.Fatalf("a valid signature was refused")
			}
			// The same s negated (n−s) is valid too for ECDSA: both must agree.
			neg := append([]byte(nil), sig...)
			new(big.Int).Sub(p256N, new(big.Int).SetBytes(sig[32:])).FillBytes(neg[32:])
			if got, want := v.Verify(hash[:], neg), stdES256(&k.PublicKey, hash[:], neg); got != want {
				t.Fatalf("n−s: got %v, standard library %v", got, want)
			}
			other := sha256.Sum256(append(msg[:], 1))
			if v.Verify(other[:], sig) {
				t.Fatalf("a signature verified for another hash")
			}
			for j, m := range mutations(sig, p256N, rng) {
				if got, want := v.Verify(hash[:], m), stdES256(&k.PublicKey, hash[:], m); got != want {
					t.Fatalf("mutation %d: got %v, standard library %v", j, got, want)
				}
			}
		}
		// Another key's signature is refused.
		k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		hash := sha256.Sum256([]byte("x"))
		if v.Verify(hash[:], es256Sig(t, k2, hash[:])) {
			t.Fatal("another key's signature verified")
		}
	}
}

// TestP256EdgeScalars drives the digit recoding through its corners: it
// builds signatures for chosen u1 and u2 (every 10-bit digit 512, every
// digit −511 with a carry through all windows, all ones, 0x7f and 0x80
// bytes, 0, 1, n−1) for keys G, 2G, −G and a random one, so that the
// combs add exactly those digits, and both verifiers must accept them.
func TestP256EdgeScalars(t *testing.T) { bothP256Paths(t, testP256EdgeScalars) }

func testP256EdgeScalars(t *testing.T) {
	random, _ := rand.Int(rand.Reader, p256N)
	for _, d := range []*big.Int{big.NewInt(1), big.NewInt(2), new(big.Int).Sub(p256N, big.NewInt(1)), random} {
		x, y := elliptic.P256().ScalarBaseMult(d.FillBytes(make([]byte, 32)))
		pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}
		v, err := NewP256(pub)
		if err != nil {
			t.Fatal(err)
		}
		scalars := edgeScalars()
		for _, u1 := range scalars {
			for _, u2 := range scalars {
				if u2.Sign() == 0 {
					continue // s = r/u2
				}
				// R = (u1 + u2·d)·G, r = x(R) mod n, s = r/u2, e = u1·s:
				// then e/s = u1 and r/s = u2.
				k := new(big.Int).Mul(u2, d)
				k.Add(k, u1).Mod(k, p256N)
				if k.Sign() == 0 {
					continue // R at infinity
				}
				rx, _ := elliptic.P256().ScalarBaseMult(k.FillBytes(make([]byte, 32)))
				r := rx.Mod(rx, p256N)
				if r.Sign() == 0 {
					continue
				}
				s := new(big.Int).ModInverse(u2, p256N)
				s.Mul(s, r).Mod(s, p256N)
				e := new(big.Int).Mul(u1, s)
				e.Mod(e, p256N)
				sig := make([]byte, 64)
				r.FillBytes(sig[:32])
				s.FillBytes(sig[32:])
				hash := e.FillBytes(make([]byte, 32))
				if got, want := v.Verify(hash, sig), stdES256(pub, hash, sig); !got || !want {
					t.Fatalf("d=%x u1=%x u2=%x: got %v, standard library %v", d, u1, u2, got, want)
				}
			}
		}
	}
}

// edgeScalars are scalars mod n whose signed 10-bit digits hit the
// recoding's corners.
func edgeScalars() []*big.Int {
	pattern := func(bitsSet ...int) *big.Int { // those bits of every 10-bit window
		x := new(big.Int)
		for i := 0; i < 26; i++ {
			for _, b := range bitsSet {
				if 10*i+b < 256 {
					x.SetBit(x, 10*i+b, 1)
				}
			}
		}
		return x
	}
	bytesOf := func(b byte) *big.Int {
		buf := make([]byte, 32)
		for i := range buf {
			buf[i] = b
		}
		return new(big.Int).SetBytes(buf)
	}
	one := big.NewInt(1)
	all := []*big.Int{
		big.NewInt(0), one, big.NewInt(2),
		new(big.Int).Sub(p256N, one), new(big.Int).Sub(p256N, big.NewInt(2)),
		pattern(9),    // digit 512 in every window
		pattern(0, 9), // 513: −511 and a carry in every window
		pattern(0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
		bytesOf(0x7f), bytesOf(0x80), bytesOf(0xff),
	}
	for _, x := range all {
		x.Mod(x, p256N)
	}
	return all
}

func TestEd25519MatchesStandardLibrary(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	for range 4 {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		v, err := NewEd25519(pub)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 60 {
			msg := make([]byte, rng.IntN(600))
			for j := range msg {
				msg[j] = byte(rng.Uint32())
			}
			sig := ed25519.Sign(priv, msg)
			if !v.Verify(msg, sig) {
				t.Fatalf("a valid signature was refused (message %d)", i)
			}
			if v.Verify(append(msg, 0), sig) {
				t.Fatal("a signature verified for another message")
			}
			for j, m := range mutations(sig, nil, rng) {
				if got, want := v.Verify(msg, m), len(m) == 64 && ed25519.Verify(pub, msg, m); got != want {
					t.Fatalf("mutation %d: got %v, standard library %v", j, got, want)
				}
			}
			// S + l: the same point, a non-canonical scalar: refused by both.
			m := append([]byte(nil), sig...)
			sPlusL := new(big.Int).Add(leToInt(sig[32:]), edL)
			if sPlusL.BitLen() <= 256 {
				copy(m[32:], intToLE(sPlusL))
				if v.Verify(msg, m) || ed25519.Verify(pub, msg, m) {
					t.Fatal("S+l accepted")
				}
			}
		}
	}
}

// TestEd25519SmallOrderKey: keys of small order and the identity decode,
// and both implementations give the same answers on them.
func TestEd25519SmallOrderKey(t *testing.T) {
	identity := edwards25519.NewIdentityPoint().Bytes()
	v, err := NewEd25519(identity)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("m")
	// With A = identity, R = [S]B verifies for any message: both accept it.
	S := edwards25519.NewScalar()
	var wide [64]byte
	wide[0] = 5
	S.SetUniformBytes(wide[:])
	R := new(edwards25519.Point).ScalarBaseMult(S)
	sig := append(R.Bytes(), S.Bytes()...)
	if got, want := v.Verify(msg, sig), ed25519.Verify(identity, msg, sig); got != want {
		t.Fatalf("identity key: got %v, standard library %v", got, want)
	}
}

var edL, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

func leToInt(b []byte) *big.Int {
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	return new(big.Int).SetBytes(be)
}

func intToLE(x *big.Int) []byte {
	be := x.FillBytes(make([]byte, 32))
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		be[i], be[j] = be[j], be[i]
	}
	return be
}

func TestRejectsWrongKeys(t *testing.T) {
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := NewP256(&k384.PublicKey); err == nil {
		t.Error("a P-384 key was taken")
	}
	if _, err := NewEd25519(make([]byte, 31)); err == nil {
		t.Error("a 31-byte Ed25519 key was taken")
	}
	bad := make([]byte, 32)
	bad[0] = 2 // y = 2 is not on the curve
	if _, err := NewEd25519(bad); err == nil {
		t.Error("an undecodable Ed25519 key was taken")
	}
}

// FuzzMatchesStandardLibrary: for any signature bytes and message, both
// verifiers agree, for both algorithms.
func FuzzMatchesStandardLibrary(f *testing.F) {
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ev, _ := NewP256(&ek.PublicKey)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	dv, _ := NewEd25519(pub)
	h := sha256.Sum256([]byte("seed"))
	f.Add([]byte("seed"), es256Sig(f, ek, h[:]), ed25519.Sign(priv, []byte("seed")))
	f.Add([]byte(""), make([]byte, 64), make([]byte, 64))
	f.Fuzz(func(t *testing.T, msg, esig, dsig []byte) {
		hash := sha256.Sum256(msg)
		if got, want := ev.Verify(hash[:], esig), stdES256(&ek.PublicKey, hash[:], esig); got != want {
			t.Fatalf("ES256: got %v, standard library %v", got, want)
		}
		portableOnly.Store(true)
		got := ev.Verify(hash[:], esig)
		portableOnly.Store(false)
		if want := stdES256(&ek.PublicKey, hash[:], esig); got != want {
			t.Fatalf("ES256, portable path: got %v, standard library %v", got, want)
		}
		if got, want := dv.Verify(msg, dsig), len(dsig) == 64 && ed25519.Verify(pub, msg, dsig); got != want {
			t.Fatalf("EdDSA: got %v, standard library %v", got, want)
		}
		// A fresh valid signature always verifies.
		if !ev.Verify(hash[:], es256Sig(t, ek, hash[:])) || !dv.Verify(msg, ed25519.Sign(priv, msg)) {
			t.Fatal("a valid signature was refused")
		}
	})
}

// BenchmarkVerify checks 1,024 different signatures in turn, as a gateway
// does: each touches other table entries (one signature checked again and
// again would find its 52 entries in the cache every time).
func BenchmarkVerify(b *testing.B) {
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ev, _ := NewP256(&ek.PublicKey)
	const distinct = 1024
	var hashes [distinct][32]byte
	var esigs [distinct][]byte
	for i := range distinct {
		hashes[i] = sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		esigs[i] = es256Sig(b, ek, hashes[i][:])
	}
	hash, esig := hashes[0], esigs[0]
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	dv, _ := NewEd25519(pub)
	msgs := make([][]byte, distinct)
	dsigs := make([][]byte, distinct)
	for i := range msgs {
		msgs[i] = make([]byte, 400)
		msgs[i][0], msgs[i][1] = byte(i), byte(i>>8)
		dsigs[i] = ed25519.Sign(priv, msgs[i])
	}
	msg, dsig := msgs[0], dsigs[0]
	b.Run("ES256/fastverify", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if !ev.Verify(hashes[i%distinct][:], esigs[i%distinct]) {
				b.Fatal("refused")
			}
			i++
		}
	})
	b.Run("ES256/crypto-ecdsa", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !stdES256(&ek.PublicKey, hash[:], esig) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("EdDSA/fastverify", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if !dv.Verify(msgs[i%distinct], dsigs[i%distinct]) {
				b.Fatal("refused")
			}
			i++
		}
	})
	b.Run("EdDSA/crypto-ed25519", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(pub, msg, dsig) {
				b.Fatal("refused")
			}
		}
	})
}

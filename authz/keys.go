// Signing keys and key sets: supported algorithms, key generation, PEM parsing, kids and the JWKS.

package authz

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Supported JWS algorithms (CONFORMANCE K1). HMAC and "none" are never among them.
const (
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
	AlgRS256 = "RS256"
	AlgPS256 = "PS256"
)

// SupportedAlgs lists the signing algorithms in order of preference.
var SupportedAlgs = []string{AlgES256, AlgEdDSA, AlgRS256, AlgPS256}

// minRSABits is the smallest RSA modulus accepted for signing keys.
const minRSABits = 2048

// SigningKey is a private key with its algorithm and key id.
type SigningKey struct {
	Alg     string
	Kid     string
	Private crypto.Signer

	// alg and public are what jwx signs and verifies with: the algorithm
	// is always the key's own, never one a token names.
	alg    jwa.SignatureAlgorithm
	public crypto.PublicKey
}

// Public returns the public half.
func (k *SigningKey) Public() crypto.PublicKey { return k.public }

// NormalizeAlg returns the canonical spelling of a supported algorithm.
func NormalizeAlg(alg string) (string, error) {
	for _, a := range SupportedAlgs {
		if strings.EqualFold(a, alg) {
			return a, nil
		}
	}
	return "", fmt.Errorf("unsupported signing algorithm %q; use one of %s", alg, strings.Join(SupportedAlgs, ", "))
}

// NewSigningKey checks that priv fits alg and derives the kid (RFC 7638 thumbprint).
func NewSigningKey(alg string, priv crypto.Signer) (*SigningKey, error) {
	alg, err := NormalizeAlg(alg)
	if err != nil {
		return nil, err
	}
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if alg != AlgES256 || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("an ECDSA key signs only ES256, on curve P-256 (key is on %s, algorithm %s)", k.Curve.Params().Name, alg)
		}
	case ed25519.PrivateKey:
		if alg != AlgEdDSA {
			return nil, fmt.Errorf("an Ed25519 key signs only EdDSA, not %s", alg)
		}
	case *rsa.PrivateKey:
		if alg != AlgRS256 && alg != AlgPS256 {
			return nil, fmt.Errorf("an RSA key signs RS256 or PS256, not %s", alg)
		}
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key has %d bits; at least %d are required", k.N.BitLen(), minRSABits)
		}
	default:
		return nil, fmt.Errorf("unsupported private key type %T", priv)
	}
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		return nil, err
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return &SigningKey{Alg: alg, Kid: base64.RawURLEncoding.EncodeToString(tp), Private: priv,
		alg: jwa.SignatureAlgorithm(alg), public: priv.Public()}, nil
}

// GenerateKey makes a fresh key for alg.
func GenerateKey(alg string) (*SigningKey, error) {
	alg, err := NormalizeAlg(alg)
	if err != nil {
		return nil, err
	}
	var priv crypto.Signer
	switch alg {
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	}
	if err != nil {
		return nil, err
	}
	return NewSigningKey(alg, priv)
}

// ParsePrivateKeyPEM reads the first private key in PEM data (PKCS#8,
// SEC 1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY").
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key found (expected a PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block)")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PUBLIC KEY", "CERTIFICATE":
			return nil, fmt.Errorf("found a %s block: a signing key file must hold the private key", block.Type)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s block: %v", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", key)
		}
		return signer, nil
	}
}

// MarshalPrivateKeyPEM writes a key as a PKCS#8 PEM block.
func MarshalPrivateKeyPEM(priv crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// KeySet is the server's signing keys: the first signs, all verify.
type KeySet struct {
	keys []*SigningKey
	jwks []byte
}

// NewKeySet builds a key set; keys[0] signs.
func NewKeySet(keys ...*SigningKey) (*KeySet, error) {
	if len(keys) == 0 {
		return nil, errors.New("no signing keys")
	}
	set := jwk.NewSet()
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k.Kid] {
			return nil, fmt.Errorf("signing key %s is configured twice", k.Kid)
		}
		seen[k.Kid] = true
		pub, err := jwk.FromRaw(k.Public())
		if err != nil {
			return nil, err
		}
		_ = pub.Set(jwk.KeyIDKey, k.Kid)
		_ = pub.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(k.Alg))
		_ = pub.Set(jwk.KeyUsageKey, jwk.ForSignature)
		if err := set.AddKey(pub); err != nil {
			return nil, err
		}
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	return &KeySet{keys: keys, jwks: doc}, nil
}

// Signer returns the key that signs new tokens.
func (s *KeySet) Signer() *SigningKey { return s.keys[0] }

// Keys returns every key, the signer first.
func (s *KeySet) Keys() []*SigningKey { return s.keys }

// JWKS returns the public JSON Web Key Set document (public keys only, K3).
func (s *KeySet) JWKS() []byte { return s.jwks }

// The keyring of generated signing keys in shared storage: rotation, retention and the key set in use.

package authz

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Keyring is the generated signing keys as kept in shared storage
// (CONFORMANCE K3): the newest signs; older ones keep verifying, and stay in
// the JWKS, until every token they signed has expired.
type Keyring struct {
	Keys []StoredKey `json:"keys"` // newest first
}

// StoredKey is one generated key with its history.
type StoredKey struct {
	Alg     string    `json:"alg"`
	PEM     string    `json:"pem"`
	Created time.Time `json:"created"`
	// Retired is when a newer key took over signing; zero for the newest.
	Retired time.Time `json:"retired,omitzero"`
	// VerifyUntil is when the last token this key signed expires: Retired
	// plus the retention in force then (see Server.KeyRetention).
	VerifyUntil time.Time `json:"verify_until,omitzero"`
}

// ParseKeyring reads a stored keyring.
func ParseKeyring(data []byte) (*Keyring, error) {
	var kr Keyring
	if err := json.Unmarshal(data, &kr); err != nil {
		return nil, fmt.Errorf("keyring: %v", err)
	}
	if len(kr.Keys) == 0 {
		return nil, errors.New("keyring: no keys")
	}
	return &kr, nil
}

// Marshal writes the keyring for storage.
func (kr *Keyring) Marshal() ([]byte, error) { return json.MarshalIndent(kr, "", "  ") }

// Rotate puts a new key of alg in front, retires the previous one at now
// to verify for retention more (the longest lifetime a token it signed can
// have), and drops keys no token needs any more.
func (kr *Keyring) Rotate(alg string, now time.Time, retention time.Duration) (*SigningKey, error) {
	k, err := GenerateKey(alg)
	if err != nil {
		return nil, err
	}
	pemBytes, err := MarshalPrivateKeyPEM(k.Private)
	if err != nil {
		return nil, err
	}
	if len(kr.Keys) > 0 && kr.Keys[0].Retired.IsZero() {
		kr.Keys[0].Retired, kr.Keys[0].VerifyUntil = now, now.Add(retention)
	}
	kept := []StoredKey{{Alg: k.Alg, PEM: string(pemBytes), Created: now}}
	for _, sk := range kr.Keys {
		if now.Before(sk.VerifyUntil) {
			kept = append(kept, sk)
		}
	}
	kr.Keys = kept
	return k, nil
}

// KeySet returns the keys still in use at now: the newest, which signs,
// and the retired ones some unexpired token may still carry.
func (kr *Keyring) KeySet(now time.Time) (*KeySet, error) {
	var keys []*SigningKey
	for i, sk := range kr.Keys {
		if i > 0 && !now.Before(sk.VerifyUntil) {
			continue
		}
		priv, err := ParsePrivateKeyPEM([]byte(sk.PEM))
		if err != nil {
			return nil, fmt.Errorf("keyring key %d: %v", i, err)
		}
		k, err := NewSigningKey(sk.Alg, priv)
		if err != nil {
			return nil, fmt.Errorf("keyring key %d: %v", i, err)
		}
		keys = append(keys, k)
	}
	return NewKeySet(keys...)
}

// keyHolder lets a running server switch key sets atomically.
type keyHolder struct{ p atomic.Pointer[KeySet] }

func (h *keyHolder) Load() *KeySet   { return h.p.Load() }
func (h *keyHolder) Store(k *KeySet) { h.p.Store(k) }

// SetKeys replaces the signing and verification keys of a running server:
// new tokens are signed with the new set's first key at once.
func (s *Server) SetKeys(k *KeySet) { s.keys.Store(k) }

// Keys returns the keys in use.
func (s *Server) Keys() *KeySet { return s.keys.Load() }

// The built-in login form's accounts: the Users interface and bcrypt-hashed static users.

package authz

import (
	"crypto/subtle"
	"fmt"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Users checks the built-in login form's accounts.
type Users interface {
	// Authenticate reports whether the password is the user's; unknown
	// users cost the same bcrypt comparison as known ones.
	Authenticate(username, password string) bool
}

// StaticUsers holds bcrypt hashes by user name, as Caddy's basic_auth does.
type StaticUsers struct {
	hashes map[string][]byte
	cost   int
	claims map[string]UserClaims // OpenID Connect claims (oidc.go)

	fakeOnce sync.Once
	fake     []byte
}

// NewStaticUsers checks that every hash is bcrypt.
func NewStaticUsers(hashes map[string]string) (*StaticUsers, error) {
	u := &StaticUsers{hashes: make(map[string][]byte, len(hashes)), cost: bcrypt.MinCost}
	for name, h := range hashes {
		if name == "" {
			return nil, fmt.Errorf("users: empty user name")
		}
		cost, err := bcrypt.Cost([]byte(h))
		if err != nil {
			return nil, fmt.Errorf("users: %s: not a bcrypt hash (make one with `caddy hash-password`): %v", name, err)
		}
		u.cost = max(u.cost, cost)
		u.hashes[name] = []byte(h)
	}
	return u, nil
}

// Len is the number of accounts.
func (u *StaticUsers) Len() int { return len(u.hashes) }

// decoyHash is a hash of the accounts' highest cost, made on first need, so
// an unknown user costs as much as a known one.
func (u *StaticUsers) decoyHash() []byte {
	u.fakeOnce.Do(func() {
		u.fake, _ = bcrypt.GenerateFromPassword([]byte("oauthgate decoy password"), u.cost)
	})
	return u.fake
}

// Authenticate implements Users.
func (u *StaticUsers) Authenticate(username, password string) bool {
	h, known := u.hashes[username]
	if !known {
		h = u.decoyHash()
	}
	ok := bcrypt.CompareHashAndPassword(h, []byte(password)) == nil
	return subtle.ConstantTimeEq(boolInt(ok), 1)&subtle.ConstantTimeEq(boolInt(known), 1) == 1
}

func boolInt(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

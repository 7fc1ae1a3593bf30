// Signing keys from files or from the keyring in Caddy's storage: loading, rotation, refresh, session key.

package caddymodule

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

// keyringPath is where the generated signing keys live in Caddy's storage.
const keyringPath = "oauthgate/signing_keys/keyring.json"

// DefaultKeyRefresh is how often instances re-read the keyring from storage.
const DefaultKeyRefresh = time.Minute

// loadKeys reads the configured key files, or loads (generating once) the
// key kept in Caddy's storage (CONFORMANCE K3).
func (a *App) loadKeys(ctx caddy.Context) (*authz.KeySet, error) {
	if len(a.SigningKeys) == 0 {
		set, err := a.storedKeys(ctx)
		if err != nil {
			return nil, fmt.Errorf("no signing_key configured and the generated keys in Caddy's storage are unusable: %v; "+
				"fix the storage or configure `signing_key ES256 /path/to/key.pem`", err)
		}
		return set, nil
	}
	keys := make([]*authz.SigningKey, 0, len(a.SigningKeys))
	for _, kc := range a.SigningKeys {
		k, err := loadKeyFile(kc)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	set, err := authz.NewKeySet(keys...)
	if err != nil {
		return nil, fmt.Errorf("signing_key: %v", err)
	}
	return set, nil
}

func loadKeyFile(kc SigningKeyConfig) (*authz.SigningKey, error) {
	alg := kc.Algorithm
	if alg == "" {
		alg = authz.AlgES256
	}
	if kc.File == "" {
		return nil, errors.New("signing_key needs a file: `signing_key ES256 /etc/caddy/oauth.pem`")
	}
	pemBytes, err := os.ReadFile(kc.File)
	if err != nil {
		return nil, fmt.Errorf("signing_key %s %s: cannot read the key file: %v; "+
			"create one with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s` "+
			"or remove signing_key to use a generated key", alg, kc.File, err, kc.File)
	}
	priv, err := authz.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("signing_key %s %s: %v", alg, kc.File, err)
	}
	k, err := authz.NewSigningKey(alg, priv)
	if err != nil {
		return nil, fmt.Errorf("signing_key %s %s: %v", alg, kc.File, err)
	}
	return k, nil
}

// keyStorage is the part of certmagic.Storage used for the generated key.
type keyStorage interface {
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
	Load(ctx context.Context, key string) ([]byte, error)
	Store(ctx context.Context, key string, value []byte) error
}

// sessionKeyPath holds the key that signs login sessions and CSRF tokens.
const sessionKeyPath = "oauthgate/session.key"

func newSessionKey() ([]byte, error) {
	k := make([]byte, 32)
	_, err := rand.Read(k)
	return k, err
}

// storedKeys loads the keyring from storage, creating it with one ES256 key
// on first start.
func (a *App) storedKeys(ctx context.Context) (*authz.KeySet, error) {
	data, err := loadOrCreate(ctx, a.storage, keyringPath, func() ([]byte, error) {
		kr := &authz.Keyring{}
		if _, err := kr.Rotate(authz.AlgES256, time.Now(), 0); err != nil { // nothing to retire yet
			return nil, err
		}
		return kr.Marshal()
	})
	if err != nil {
		return nil, err
	}
	kr, err := authz.ParseKeyring(data)
	if err != nil {
		return nil, err
	}
	return kr.KeySet(time.Now())
}

// RotateKey puts a new generated key in front of the keyring in storage and
// signs with it at once; other instances sharing the storage pick it up at
// their next refresh (CONFORMANCE K3).
func (a *App) RotateKey(ctx context.Context) (string, error) {
	if len(a.SigningKeys) > 0 {
		return "", errors.New("the signing keys come from files (signing_key): put a new key file first in the config and reload")
	}
	if err := a.storage.Lock(ctx, keyringPath); err != nil {
		return "", err
	}
	defer func() { _ = a.storage.Unlock(context.Background(), keyringPath) }()
	data, err := a.storage.Load(ctx, keyringPath)
	if err != nil {
		return "", err
	}
	kr, err := authz.ParseKeyring(data)
	if err != nil {
		return "", err
	}
	retention, err := a.server.KeyRetention(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the clients' token lifetimes: %w", err)
	}
	k, err := kr.Rotate(authz.AlgES256, time.Now(), retention)
	if err != nil {
		return "", err
	}
	if data, err = kr.Marshal(); err != nil {
		return "", err
	}
	if err := a.storage.Store(ctx, keyringPath, data); err != nil {
		return "", err
	}
	if err := a.rotateRSAKey(ctx, retention); err != nil {
		return "", fmt.Errorf("rotating the RS256 key of OpenID Connect: %w", err)
	}
	set, err := kr.KeySet(time.Now())
	if err == nil {
		set, err = a.withRSAKey(ctx, set)
	}
	if err != nil {
		return "", err
	}
	a.server.SetKeys(set)
	a.logger.Info("signing key rotated", zap.String("kid", k.Kid))
	return k.Kid, nil
}

// refreshKeys re-reads the keyring so keys rotated by another instance are
// used, and retired ones dropped, without a restart.
func (a *App) refreshKeys(ctx context.Context) {
	data, err := a.storage.Load(ctx, keyringPath)
	if err != nil {
		a.logger.Warn("reading the signing keyring", zap.Error(err))
		return
	}
	kr, err := authz.ParseKeyring(data)
	if err == nil {
		var set *authz.KeySet
		if set, err = kr.KeySet(time.Now()); err == nil {
			set, err = a.withRSAKey(ctx, set)
		}
		if err == nil {
			if string(set.JWKS()) != string(a.server.Keys().JWKS()) {
				a.server.SetKeys(set)
				a.logger.Info("signing keys reloaded from storage", zap.String("signing_kid", set.Signer().Kid))
			}
			return
		}
	}
	a.logger.Error("the signing keyring in storage is unusable; keeping the current keys", zap.Error(err))
}

// keyRereadEvery bounds how often a token signed with an unknown key makes
// this instance re-read the keyring: garbage kids cost at most this.
const keyRereadEvery = 200 * time.Millisecond

// rereadKeys re-reads the keyring for a token signed with a key this
// instance does not know — most likely just rotated by another instance,
// which signs with it at once — instead of refusing such tokens until the
// next key_refresh. At most once per keyRereadEvery; callers meanwhile wait
// for the read in flight. It reports whether the keys changed.
func (a *App) rereadKeys(ctx context.Context) bool {
	if len(a.SigningKeys) > 0 || a.storage == nil || a.reread == nil {
		return false // key files change only with the config
	}
	before := a.server.Keys()
	a.reread.Lock()
	defer a.reread.Unlock()
	if a.server.Keys() != before {
		return true // the read just before ours brought them
	}
	if time.Since(a.reread.at) < keyRereadEvery {
		return false
	}
	a.reread.at = time.Now()
	a.refreshKeys(ctx)
	return a.server.Keys() != before
}

// loadOrCreate reads path from storage, creating it with create under the
// storage lock, so instances starting together agree on one value.
func loadOrCreate(ctx context.Context, st keyStorage, path string, create func() ([]byte, error)) ([]byte, error) {
	if err := st.Lock(ctx, path); err != nil {
		return nil, fmt.Errorf("locking %s: %v", path, err)
	}
	defer func() { _ = st.Unlock(context.Background(), path) }()
	data, err := st.Load(ctx, path)
	if err == nil {
		return data, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("loading %s: %v", path, err)
	}
	if data, err = create(); err != nil {
		return nil, err
	}
	if err := st.Store(ctx, path, data); err != nil {
		return nil, fmt.Errorf("saving %s: %v", path, err)
	}
	return data, nil
}

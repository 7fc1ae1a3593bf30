package caddymodule

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/caddyserver/caddy/v2"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

// generatedKeyPath is where the generated ES256 key lives in Caddy's storage.
const generatedKeyPath = "oauthgate/signing_keys/es256.pem"

// loadKeys reads the configured key files, or loads (generating once) the
// key kept in Caddy's storage (CONFORMANCE K3).
func (a *App) loadKeys(ctx caddy.Context) (*authz.KeySet, error) {
	if len(a.SigningKeys) == 0 {
		k, err := storedKey(ctx, ctx.Storage())
		if err != nil {
			return nil, fmt.Errorf("oauthgate: no signing_key configured and the generated key in Caddy's storage is unusable: %v; "+
				"fix the storage or configure `signing_key ES256 /path/to/key.pem`", err)
		}
		return authz.NewKeySet(k)
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
		return nil, fmt.Errorf("oauthgate: signing_key: %v", err)
	}
	return set, nil
}

func loadKeyFile(kc SigningKeyConfig) (*authz.SigningKey, error) {
	alg := kc.Algorithm
	if alg == "" {
		alg = authz.AlgES256
	}
	if kc.File == "" {
		return nil, errors.New("oauthgate: signing_key needs a file: `signing_key ES256 /etc/caddy/oauth.pem`")
	}
	pemBytes, err := os.ReadFile(kc.File)
	if err != nil {
		return nil, fmt.Errorf("oauthgate: signing_key %s %s: cannot read the key file: %v; "+
			"create one with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s` "+
			"or remove signing_key to use a generated key", alg, kc.File, err, kc.File)
	}
	priv, err := authz.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("oauthgate: signing_key %s %s: %v", alg, kc.File, err)
	}
	k, err := authz.NewSigningKey(alg, priv)
	if err != nil {
		return nil, fmt.Errorf("oauthgate: signing_key %s %s: %v", alg, kc.File, err)
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

// storedKey loads the generated signing key, creating it once.
func storedKey(ctx context.Context, st keyStorage) (*authz.SigningKey, error) {
	data, err := loadOrCreate(ctx, st, generatedKeyPath, func() ([]byte, error) {
		k, err := authz.GenerateKey(authz.AlgES256)
		if err != nil {
			return nil, err
		}
		return authz.MarshalPrivateKeyPEM(k.Private)
	})
	if err != nil {
		return nil, err
	}
	priv, err := authz.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", generatedKeyPath, err)
	}
	return authz.NewSigningKey(authz.AlgES256, priv)
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

// Tests that a key rotated by another instance sharing the storage is picked up without a restart.

package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

// A key rotated by another instance sharing the storage (simulated by
// rotating the keyring file directly) is picked up without a restart: the
// JWKS lists both keys and new tokens carry the new kid, while tokens signed
// before keep validating.
// CONFORMANCE K3
func TestRotatedKeyPickedUpFromStorage_K3(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	g.load(baseApp(g.base, "key_refresh 100ms"), "\toauthgate_server\n\troute /api/* {\n\t\toauthgate_protect\n\t\trespond ok\n\t}")
	old := getToken(t, g, "reporting", reportingSecret, "")

	path := filepath.Join(g.storage, filepath.FromSlash(keyringPath))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := authz.ParseKeyring(data)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kr.Rotate(authz.AlgES256, time.Now(), 3*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	data, _ = kr.Marshal()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(5 * time.Second)
	for {
		_, jwks := call(t, "GET", g.base+"/oauth/jwks", nil, "")
		if strings.Contains(jwks, k.Kid) {
			var set struct{ Keys []map[string]any }
			_ = json.Unmarshal([]byte(jwks), &set)
			if len(set.Keys) != 2 {
				t.Fatalf("JWKS after the rotation: %s", jwks)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rotated key was not picked up from storage")
		}
		time.Sleep(50 * time.Millisecond)
	}
	fresh := getToken(t, g, "reporting", reportingSecret, "")
	if kid := jwtKid(t, fresh); kid != k.Kid {
		t.Fatalf("new token signed with %s, want the rotated key %s", kid, k.Kid)
	}
	for _, tok := range []string{old, fresh} {
		if s, _ := apiCall(t, g, tok); s != 200 {
			t.Fatalf("token after the rotation: %d", s)
		}
	}
}

func jwtKid(t *testing.T, tok string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	_ = json.Unmarshal(raw, &h)
	return h.Kid
}

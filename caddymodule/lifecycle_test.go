// Tests of reloads and keys: the memory store kept, generated and file keys, and validation errors.

package caddymodule

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

// CONFORMANCE S5 (memory store): `caddy reload` keeps issued opaque tokens.
func TestReloadKeepsMemoryStore_S5(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	site := "\toauthgate_server\n\troute /api/* {\n\t\toauthgate_protect\n\t\trespond \"ok {http.auth.user.id}\"\n\t}"
	g.load(baseApp(g.base, "token_format opaque"), site)
	tok := getToken(t, g, "reporting", reportingSecret, "api_v3")
	// A changed config (another scope, another ttl) is a real reload.
	g.load(baseApp(g.base, "token_format opaque\n\t\taccess_token_ttl 3h"), site+"\n\trespond /other \"x\"")
	resp, body := call(t, "GET", g.base+"/api/x", map[string]string{"Authorization": "Bearer " + tok}, "")
	if resp.StatusCode != 200 || body != "ok svc-reporting" {
		t.Fatalf("opaque token after reload: %d %q", resp.StatusCode, body)
	}
}

// CONFORMANCE K3: without signing_key an ES256 key is generated once and kept
// in Caddy's storage; every config using that storage signs with it.
func TestGeneratedKeyKeptInStorage_K3(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	g.load(baseApp(g.base, ""), "\toauthgate_server")
	_, jwks1 := call(t, "GET", g.base+"/oauth/jwks", nil, "")
	pemPath := filepath.Join(g.storage, filepath.FromSlash(keyringPath))
	data, err := os.ReadFile(pemPath)
	if err != nil {
		t.Fatalf("generated key not in storage: %v", err)
	}
	if !strings.Contains(string(data), "PRIVATE KEY") {
		t.Fatal("stored key is not a PEM private key")
	}
	tok := getToken(t, g, "reporting", reportingSecret, "")
	// Stop, then start again on the same storage (another instance or a restart).
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	g.load(baseApp(g.base, ""), "\toauthgate_server\n\troute /api/* {\n\t\toauthgate_protect\n\t\trespond ok\n\t}")
	_, jwks2 := call(t, "GET", g.base+"/oauth/jwks", nil, "")
	if jwks1 != jwks2 {
		t.Fatalf("key changed across restarts:\n%s\n%s", jwks1, jwks2)
	}
	if resp, _ := call(t, "GET", g.base+"/api/x", map[string]string{"Authorization": "Bearer " + tok}, ""); resp.StatusCode != 200 {
		t.Fatalf("token signed before the restart refused: %d", resp.StatusCode)
	}
	var set struct{ Keys []map[string]any }
	_ = json.Unmarshal([]byte(jwks2), &set)
	if len(set.Keys) != 1 || set.Keys[0]["alg"] != "ES256" || set.Keys[0]["d"] != nil {
		t.Fatalf("JWKS %s", jwks2)
	}
}

// CONFORMANCE K1
// CONFORMANCE K3: keys from PEM files, the first signs, all verify.
func TestSigningKeyFiles_K1(t *testing.T) {
	setSecrets(t)
	dir := t.TempDir()
	write := func(name, alg string) (string, string) {
		k, err := authz.GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		pemBytes, _ := authz.MarshalPrivateKeyPEM(k.Private)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		return p, k.Kid
	}
	ed, edKid := write("ed.pem", "EdDSA")
	es, esKid := write("es.pem", "ES256")
	g := newGateway(t)
	site := "\toauthgate_server\n\troute /api/* {\n\t\toauthgate_protect\n\t\trespond ok\n\t}"
	g.load(baseApp(g.base, fmt.Sprintf("signing_key ES256 %s", es)), site)
	old := getToken(t, g, "reporting", reportingSecret, "")
	// Rotation: a new EdDSA key signs, the old one still verifies.
	g.load(baseApp(g.base, fmt.Sprintf("signing_key EdDSA %s\n\t\tsigning_key ES256 %s", ed, es)), site)
	fresh := getToken(t, g, "reporting", reportingSecret, "")
	for name, tok := range map[string]string{"old": old, "new": fresh} {
		if resp, _ := call(t, "GET", g.base+"/api/x", map[string]string{"Authorization": "Bearer " + tok}, ""); resp.StatusCode != 200 {
			t.Fatalf("%s token refused after rotation: %d", name, resp.StatusCode)
		}
	}
	_, jwks := call(t, "GET", g.base+"/oauth/jwks", nil, "")
	if !strings.Contains(jwks, edKid) || !strings.Contains(jwks, esKid) || !strings.Contains(jwks, `"EdDSA"`) {
		t.Fatalf("JWKS lacks a key: %s", jwks)
	}
}

// CONFORMANCE O3: contradictions fail validation with a message that names
// the directive and the fix.
func TestValidationErrors_O3(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	missing := filepath.Join(t.TempDir(), "nope.pem")
	notKey := filepath.Join(t.TempDir(), "cert.pem")
	_ = os.WriteFile(notKey, []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), 0o600)
	client := func(body string) string {
		return fmt.Sprintf("\t\tscope api_v3 \"API\"\n\t\tclient c1 {\n%s\n\t\t}", body)
	}
	tests := []struct {
		name  string
		app   string
		site  string
		wants []string
	}{
		{"no issuer", "\toauthgate {\n\t\tscope a\n\t}", "\toauthgate_server", []string{"issuer is required", "issuer https://"}},
		{"relative issuer", "\toauthgate {\n\t\tissuer api.example.com\n\t}", "\toauthgate_server", []string{"issuer", "absolute"}},
		{"token_format misspelt", "\toauthgate {\n\t\tissuer https://a.example\n\t\ttoken_format jtw\n\t}", "\toauthgate_server", []string{"token_format", "jtw", "token_format jwt"}},
		{"unknown scope for a client", "\toauthgate {\n\t\tissuer https://a.example\n" + client("\t\t\tsecret {env.OAUTHGATE_TEST_ORO_SECRET}\n\t\t\tgrants client_credentials\n\t\t\tscopes api_v3 admin") + "\n\t}", "\toauthgate_server", []string{`client "c1"`, `scope "admin"`, "scope admin"}},
		{"unreadable key file", "\toauthgate {\n\t\tissuer https://a.example\n\t\tsigning_key ES256 " + missing + "\n\t}", "\toauthgate_server", []string{"signing_key ES256", missing, "cannot read", "openssl genpkey"}},
		{"key file without a private key", "\toauthgate {\n\t\tissuer https://a.example\n\t\tsigning_key ES256 " + notKey + "\n\t}", "\toauthgate_server", []string{"signing_key", "private key"}},
		{"unsupported algorithm", "\toauthgate {\n\t\tissuer https://a.example\n\t\tsigning_key HS256 " + notKey + "\n\t}", "\toauthgate_server", []string{"signing_key", "HS256"}},
		{"secret from an unset variable", "\toauthgate {\n\t\tissuer https://a.example\n" + client("\t\t\tsecret {env.OAUTHGATE_UNSET_VAR}\n\t\t\tgrants client_credentials") + "\n\t}", "\toauthgate_server", []string{`client "c1"`, "secret", "environment variable"}},
		{"confidential client without secret", "\toauthgate {\n\t\tissuer https://a.example\n" + client("\t\t\tgrants client_credentials") + "\n\t}", "\toauthgate_server", []string{`client "c1"`, "secret {env.VAR}"}},
		{"public client with client_credentials", "\toauthgate {\n\t\tissuer https://a.example\n" + client("\t\t\tpublic\n\t\t\tgrants client_credentials") + "\n\t}", "\toauthgate_server", []string{`client "c1"`, "confidential"}},
		{"unknown grant", "\toauthgate {\n\t\tissuer https://a.example\n" + client("\t\t\tsecret {env.OAUTHGATE_TEST_ORO_SECRET}\n\t\t\tgrants password") + "\n\t}", "\toauthgate_server", []string{`client "c1"`, `"password"`}},
		{"handler without the app", "", "\toauthgate_server", []string{"oauthgate", "global option"}},
		{"unknown option", "\toauthgate {\n\t\tissuer https://a.example\n\t\tissuerr x\n\t}", "\toauthgate_server", []string{"issuerr"}},
		{"any with one scope", "\toauthgate {\n\t\tissuer https://a.example\n\t}", "\toauthgate_protect api_v3 {\n\t\tany\n\t}", []string{"oauthgate_protect", "any"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := adaptErr(g.caddyfile(tt.app, tt.site))
			if err == nil {
				err = caddy.Validate(mustConfig(t, cfg))
			}
			if err == nil {
				t.Fatal("invalid config accepted")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func mustConfig(t *testing.T, raw []byte) *caddy.Config {
	t.Helper()
	var cfg caddy.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

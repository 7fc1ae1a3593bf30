package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// openid-client, a strict OpenID Connect relying party, signs alice in
// through the built binary with headless Chromium; the checks are
// clients/oidc.mjs.
// CONFORMANCE I1
// CONFORMANCE I2
// CONFORMANCE I3
// CONFORMANCE I4
// CONFORMANCE I5
func TestStrictOpenIDConnect(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and runs Node")
	}
	node := needNodeClients(t)
	chromium := testutil.Need(t, "chromium", "chromium")
	bin := buildCaddy(t)
	const password = "strict-alice-password"
	const secret = "strict-rp-secret-0123456789"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := testutil.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	callback := fmt.Sprintf("http://127.0.0.1:%d/cb", testutil.FreePort(t))
	afterLogout := callback + "/bye"
	cfg := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %s
	oauthgate {
		issuer %s
		scope api_v3 "Access the API v3" default
		users {
			alice %s {
				name "Alice Example"
				email alice@example.com
				email_verified
			}
		}
		client rp {
			name "Strict relying party"
			secret {env.OAUTHGATE_STRICT_RP_SECRET}
			redirect_uri %s
			post_logout_redirect_uri %s
			grants authorization_code refresh_token
			scopes openid profile email api_v3
		}
	}
}

%s {
	oauthgate_server
}
`, filepath.Join(dir, "storage"), base, hash, callback, afterLogout, base)
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logs, gw := runGateway(t, ctx, bin, cfgPath, dir, port, "OAUTHGATE_STRICT_RP_SECRET="+secret)

	script := exec.CommandContext(ctx, node, "oidc.mjs")
	script.Dir = clientsDir
	script.Env = append(os.Environ(),
		"OAUTHGATE_ISSUER="+base, "OAUTHGATE_CALLBACK="+callback, "OAUTHGATE_POST_LOGOUT="+afterLogout,
		"OAUTHGATE_CHROMIUM="+chromium, "OAUTHGATE_RP_ID=rp", "OAUTHGATE_RP_SECRET="+secret,
		"OAUTHGATE_USER=alice", "OAUTHGATE_PASSWORD="+password)
	out, err := script.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "oidc clients: all") {
		t.Fatalf("node oidc.mjs: %v\n%s\ngateway (%v) log:\n%s", err, out, gw.ProcessState, logs.String())
	}
	t.Logf("%s", out)
	if strings.Contains(logs.String(), secret) {
		t.Fatal("the client secret reached the gateway's log")
	}
}

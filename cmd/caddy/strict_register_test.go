// Tests with oauth4webapi clients that register themselves (RFC 7591) or are named by a metadata document, against the binary.

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

// oauth4webapi registers a public and a confidential client, sees the RFC
// 7591 §3.2.2 errors, and runs the code flow with PKCE through headless
// Chromium for the registered client and for a Client ID Metadata Document
// client; the consent pages mark them (registered; the document's host).
// The checks are clients/register.mjs.
// CONFORMANCE G1
// CONFORMANCE G4
func TestStrictRegistration_G1_G4(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and runs Node")
	}
	node := needNodeClients(t)
	chromium := testutil.Need(t, "chromium", "chromium")
	bin := buildCaddy(t)
	const password = "strict-alice-password"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := testutil.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	callback := fmt.Sprintf("http://127.0.0.1:%d/cb", testutil.FreePort(t))
	cfg := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %s
	oauthgate {
		issuer %s
		scope api_v3 "Access the API v3" default
		scope admin "Administration"
		users {
			alice %s
		}
		registration {
			mode open
			metadata_documents loopback
			scopes api_v3
			unused_after 30d
		}
	}
}

%s {
	oauthgate_server
	route /api/* {
		oauthgate_protect api_v3
		respond "api"
	}
}
`, filepath.Join(dir, "storage"), base, hash, base)
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logs, _ := runGateway(t, ctx, bin, cfgPath, dir, port)
	script := exec.CommandContext(ctx, node, "register.mjs")
	script.Dir = clientsDir
	script.Env = append(os.Environ(), "OAUTHGATE_ISSUER="+base, "OAUTHGATE_API="+base+"/api/v3/projects",
		"OAUTHGATE_CALLBACK="+callback, "OAUTHGATE_CHROMIUM="+chromium, "OAUTHGATE_USER=alice", "OAUTHGATE_PASSWORD="+password)
	out, err := script.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "registration clients: all") {
		t.Fatalf("node register.mjs: %v\n%s\ngateway log:\n%s", err, out, logs.String())
	}
	t.Logf("%s", out)
}

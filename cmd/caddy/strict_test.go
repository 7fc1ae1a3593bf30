// Tests with strict third-party JavaScript clients (oauth4webapi, openid-client, jose) against the binary.

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// clientsDir is the Node project of strict third-party clients.
const clientsDir = "../../clients"

// needNodeClients returns node and checks that clients/node_modules holds
// exactly the versions package-lock.json pins. Under CI=true anything
// missing fails the test, naming it and the command that installs it; on a
// developer machine the test is skipped with the same message.
func needNodeClients(t *testing.T) string {
	t.Helper()
	missing := func(msg string) {
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is required for the strict-client tests and is missing: apt-get install -y nodejs npm (./test.sh does it)")
	}
	v, err := exec.Command(node, "-p", "process.versions.node").Output()
	if major, _ := strconv.Atoi(strings.Split(string(v), ".")[0]); err != nil || major < 20 {
		missing(fmt.Sprintf("clients/ needs Node.js 20 or newer; %s is %s (%v)", node, strings.TrimSpace(string(v)), err))
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	b, err := os.ReadFile(filepath.Join(clientsDir, "package-lock.json"))
	if err != nil || json.Unmarshal(b, &lock) != nil || len(lock.Packages) < 2 {
		t.Fatalf("clients/package-lock.json is unreadable: %v", err)
	}
	for path, p := range lock.Packages {
		if path == "" {
			continue
		}
		var installed struct {
			Version string `json:"version"`
		}
		b, err := os.ReadFile(filepath.Join(clientsDir, path, "package.json"))
		if err != nil || json.Unmarshal(b, &installed) != nil || installed.Version != p.Version {
			missing(fmt.Sprintf("clients/%s %s is not installed (found %q): run `npm ci` in clients/ (./test.sh does it)", path, p.Version, installed.Version))
		}
	}
	return node
}

// oddWebSecret has every character RFC 6749 §2.3.1 form-encodes.
const oddWebSecret = "strict+web%2F:sec/ret=x&y z"

// oauth4webapi, openid-client and jose — strict clients nobody on this
// project wrote — against the built gateway, in the JWT configuration and
// in the opaque one under an issuer with a path: discovery from both
// well-known locations, client_credentials, authorization code with PKCE
// through headless Chromium (login form and consent), refresh rotation,
// revocation, introspection, RFC 9207 iss checks, and RFC 9068 validation
// of JWT access tokens against the JWKS. The checks are clients/strict.mjs.
// CONFORMANCE V3
// CONFORMANCE A6
// CONFORMANCE A7
// CONFORMANCE K1
// CONFORMANCE T4
// CONFORMANCE V1
// CONFORMANCE V2
func TestStrictClients(t *testing.T) {
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
	for _, c := range []struct{ format, issuerPath string }{{"jwt", ""}, {"opaque", "/tenant"}} {
		t.Run(c.format, func(t *testing.T) {
			dir := t.TempDir()
			port := testutil.FreePort(t)
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			issuer := base + c.issuerPath
			callback := fmt.Sprintf("http://127.0.0.1:%d/cb", testutil.FreePort(t))
			cfg := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %s
	oauthgate {
		issuer %s
		token_format %s
		scope api_v3 "Access the API v3" default
		scope bcf_v2_1 "BCF 2.1 API"
		users {
			alice %s
		}
		client webapp {
			name "Strict web app"
			secret {env.OAUTHGATE_STRICT_WEB_SECRET}
			redirect_uri %s
			grants authorization_code refresh_token
			scopes api_v3 bcf_v2_1
		}
		client service {
			secret {env.OAUTHGATE_STRICT_SVC_SECRET}
			grants client_credentials
			scopes api_v3
			user svc-strict
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
`, filepath.Join(dir, "storage"), issuer, c.format, hash, callback, base)
			cfgPath := filepath.Join(dir, "Caddyfile")
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			secrets := []string{"OAUTHGATE_STRICT_WEB_SECRET=" + oddWebSecret, "OAUTHGATE_STRICT_SVC_SECRET=svc-secret-0123456789"}
			logs, _ := runGateway(t, ctx, bin, cfgPath, dir, port, secrets...)

			script := exec.CommandContext(ctx, node, "strict.mjs")
			script.Dir = clientsDir
			script.Env = append(os.Environ(),
				"OAUTHGATE_ISSUER="+issuer, "OAUTHGATE_FORMAT="+c.format, "OAUTHGATE_API="+base+"/api/v3/projects",
				"OAUTHGATE_CALLBACK="+callback, "OAUTHGATE_CHROMIUM="+chromium,
				"OAUTHGATE_WEB_ID=webapp", "OAUTHGATE_WEB_SECRET="+oddWebSecret,
				"OAUTHGATE_SVC_ID=service", "OAUTHGATE_SVC_SECRET=svc-secret-0123456789",
				"OAUTHGATE_USER=alice", "OAUTHGATE_PASSWORD="+password)
			out, err := script.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "strict clients: all") {
				t.Fatalf("node strict.mjs (%s, issuer %s): %v\n%s\ngateway log:\n%s", c.format, issuer, err, out, logs.String())
			}
			t.Logf("%s", out)
		})
	}
}

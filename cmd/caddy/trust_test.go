// The built binary as a pure gateway: caddy validate offline, http off loopback refused, a failed discovery logged.

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// A pure gateway (only trust blocks): `caddy validate` needs no network,
// refuses plain http off loopback, and `caddy run` says clearly when an
// issuer cannot be discovered — and keeps running.
func TestPureGatewayValidateAndRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildCaddy(t)
	dir := t.TempDir()
	port, dead := testutil.FreePort(t), testutil.FreePort(t)
	write := func(name, trust string) string {
		p := filepath.Join(dir, name)
		cfg := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\toauthgate {\n%s\n\t}\n}\nhttp://127.0.0.1:%d {\n\troute /orders/* {\n\t\toauthgate_protect orders:read {\n\t\t\tresource http://127.0.0.1:%d/orders\n\t\t}\n\t\trespond \"ok\"\n\t}\n}\n", trust, port, port)
		_ = os.WriteFile(p, []byte(cfg), 0o600)
		return p
	}
	env := append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir, "IDP_SECRET=s3cret-from-env")
	offline := write("offline.Caddyfile", "\t\ttrust https://idp.invalid.example/realms/main {\n\t\t\taudience api://orders\n\t\t\tintrospect {\n\t\t\t\tclient_id gw\n\t\t\t\tclient_secret {env.IDP_SECRET}\n\t\t\t}\n\t\t}")
	cmd := exec.Command(bin, "validate", "--config", offline)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("caddy validate of a pure gateway, no network: %v\n%s", err, out)
	}
	plain := write("plain.Caddyfile", "\t\ttrust http://idp.example.com {\n\t\t\taudience api\n\t\t}")
	cmd = exec.Command(bin, "validate", "--config", plain)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "plain http") {
		t.Fatalf("caddy validate of an http issuer off loopback: %v\n%s", err, out)
	}

	deadCfg := write("dead.Caddyfile", fmt.Sprintf("\t\ttrust http://127.0.0.1:%d {\n\t\t\taudience api\n\t\t}", dead))
	logs := new(syncBuffer)
	proc := exec.Command(bin, "run", "--config", deadCfg)
	proc.Env, proc.Stdout, proc.Stderr = env, logs, logs
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proc.Process.Kill(); _, _ = proc.Process.Wait() })
	want := fmt.Sprintf(`"issuer":"http://127.0.0.1:%d"`, dead)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s := logs.String()
		if strings.Contains(s, "discovery failed") && strings.Contains(s, want) && strings.Contains(s, "connection refused") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy run did not say that discovery failed:\n%s", s)
		}
	}
}

// Tests of the built binary: its modules, validating and running the example Caddyfile, the README tour.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

var (
	buildOnce sync.Once
	built     string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildCaddy builds this command once per test binary run.
func buildCaddy(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "oauthgate-caddy-"); buildErr != nil {
			return
		}
		built = filepath.Join(buildDir, "caddy")
		out, err := exec.Command("go", "build", "-o", built, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// The built binary lists our modules, validates the example, explains a bad
// config (CONFORMANCE O3), and runs the example as is: the README tour with curl.
func TestBinaryAndExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildCaddy(t)
	curl := testutil.Need(t, "curl", "curl")
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run("list-modules")
	if err != nil {
		t.Fatalf("list-modules: %v\n%s", err, out)
	}
	for _, m := range []string{"oauthgate", "http.handlers.oauthgate_server", "http.handlers.oauthgate_protect", "oauthgate.stores.memory", "oauthgate.stores.redis", "admin.api.oauthgate"} {
		if !strings.Contains("\n"+out+"\n", "\n"+m+"\n") {
			t.Errorf("list-modules lacks %s", m)
		}
	}

	example, err := os.ReadFile("../../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	apiPort, upPort, adminPort := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	cfg := strings.NewReplacer("8080", fmt.Sprint(apiPort), "9081", fmt.Sprint(upPort), "2019", fmt.Sprint(adminPort)).Replace(string(example))
	cfgPath := filepath.Join(dir, "Caddyfile")
	_ = os.WriteFile(cfgPath, []byte(cfg), 0o600)
	if out, err := run("validate", "--config", cfgPath); err != nil {
		t.Fatalf("caddy validate Caddyfile.example: %v\n%s", err, out)
	}

	bad := filepath.Join(dir, "bad.Caddyfile")
	_ = os.WriteFile(bad, []byte("{\n\toauthgate {\n\t\tissuer https://a.example\n\t\ttoken_format jtw\n\t}\n}\n:1\n"), 0o600)
	if out, err := run("validate", "--config", bad); err == nil || !strings.Contains(out, "token_format jwt") {
		t.Fatalf("caddy validate of a misspelt token_format: %v\n%s", err, out)
	}

	// Run the example as is and take the README tour with curl.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := new(syncBuffer)
	proc := exec.CommandContext(ctx, bin, "run", "--config", cfgPath)
	proc.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	proc.Stdout, proc.Stderr = logs, logs
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proc.Process.Kill() })
	base := fmt.Sprintf("http://localhost:%d", apiPort)
	curlDo := func(args ...string) string {
		out, err := exec.CommandContext(ctx, curl, append([]string{"-sS", "--max-time", "5"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	waitListening(t, apiPort, logs)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Scope       string `json:"scope"`
	}
	body := curlDo("-u", "demo:demo-secret-change-me", "-d", "grant_type=client_credentials", base+"/oauth/token")
	if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.AccessToken == "" || tok.Scope != "api_v3" {
		t.Fatalf("token: %v %s", err, body)
	}
	api := curlDo("-H", "Authorization: Bearer "+tok.AccessToken, base+"/api/v3/projects")
	var echoed map[string]string
	if err := json.Unmarshal([]byte(api), &echoed); err != nil {
		t.Fatalf("demo upstream answer: %v %s", err, api)
	}
	if echoed["subject"] != "svc-demo" || echoed["client_id"] != "demo" || echoed["scope"] != "api_v3" || echoed["authorization"] != "" {
		t.Fatalf("demo upstream saw %v", echoed)
	}
	// Seed 001's sessionID header; the example's log filters keep it out of the logs read below.
	if api := curlDo("-H", "sessionID: "+tok.AccessToken, base+"/api/v3/projects"); !strings.Contains(api, `"subject":"svc-demo"`) {
		t.Fatalf("sessionID call: %s", api)
	}
	if code := curlDo("-o", "/dev/null", "-w", "%{http_code}", base+"/api/v3/projects"); code != "401" {
		t.Fatalf("no token: %s", code)
	}
	if code := curlDo("-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer "+tok.AccessToken, base+"/bcf/topics"); code != "403" {
		t.Fatalf("missing scope: %s", code)
	}
	// Stop the server so every log line is written, then read the log.
	_ = proc.Process.Signal(os.Interrupt)
	_ = proc.Wait()
	if strings.Contains(logs.String(), tok.AccessToken) || strings.Contains(logs.String(), "demo-secret-change-me") {
		t.Fatal("a token or secret reached the log")
	}
	if !strings.Contains(logs.String(), `"user_id":"svc-demo"`) {
		t.Fatalf("the access log does not show the subject:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the child's writers and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runGateway starts bin with the Caddyfile at cfgPath, Caddy's data and
// config under dir and the extra environment, waits until port listens,
// and returns its combined output and the process, which ends with the
// test or ctx.
func runGateway(t *testing.T, ctx context.Context, bin, cfgPath, dir string, port int, env ...string) (*syncBuffer, *exec.Cmd) {
	t.Helper()
	logs := new(syncBuffer)
	gw := exec.CommandContext(ctx, bin, "run", "--config", cfgPath)
	gw.Env = append(append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir), env...)
	gw.Stdout, gw.Stderr = logs, logs
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Process.Kill(); _ = gw.Wait() })
	waitListening(t, port, logs)
	return logs, gw
}

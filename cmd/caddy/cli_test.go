// Tests of the built binary's `caddy oauthgate` CLI against a running instance, and of explain.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// running is a `caddy run` process of the built binary.
type running struct {
	t         *testing.T
	bin, base string
	admin     string
	env       []string
	logs      *syncBuffer
}

func startCaddy(t *testing.T, caddyfile func(api, admin int) string) *running {
	return startCaddyIn(t, t.TempDir(), caddyfile)
}

// startCaddyIn starts caddy with its data and config homes in dir: several
// instances given one dir share Caddy's storage (the generated keys).
func startCaddyIn(t *testing.T, dir string, caddyfile func(api, admin int) string) *running {
	bin := buildCaddy(t)
	api, admin := testutil.FreePort(t), testutil.FreePort(t)
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(cfg, []byte(caddyfile(api, admin)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &running{t: t, bin: bin, base: fmt.Sprintf("http://127.0.0.1:%d", api), admin: fmt.Sprintf("127.0.0.1:%d", admin),
		env: append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir), logs: new(syncBuffer)}
	proc := exec.Command(bin, "run", "--config", cfg)
	proc.Env, proc.Stdout, proc.Stderr = r.env, r.logs, r.logs
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proc.Process.Kill(); _ = proc.Wait() })
	// The admin endpoint starts before the HTTP app: wait for both.
	deadline := time.Now().Add(20 * time.Second)
	for _, addr := range []string{r.admin, strings.TrimPrefix(r.base, "http://")} {
		for {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("caddy did not start:\n%s", r.logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return r
}

// cli runs `caddy oauthgate …` against the running instance.
func (r *running) cli(args ...string) (string, error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bin, append(append([]string{"oauthgate"}, args...), "--address", r.admin)...)
	cmd.Env = r.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (r *running) mustCLI(args ...string) string {
	r.t.Helper()
	out, err := r.cli(args...)
	if err != nil {
		r.t.Fatalf("caddy oauthgate %v: %v\n%s", args, err, out)
	}
	return out
}

func (r *running) token(id, secret string) (int, string) {
	r.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequest("POST", r.base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	tok, _ := m["access_token"].(string)
	return resp.StatusCode, tok
}

func (r *running) api(tok string) int {
	req, _ := http.NewRequest("GET", r.base+"/api/x", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The `caddy oauthgate` CLI manages clients, tokens and keys of a running
// instance through its admin API.
// CONFORMANCE M2
// CONFORMANCE M3
// CONFORMANCE K4
// CONFORMANCE K3
func TestCLIAgainstRunningInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	r := startCaddy(t, func(api, admin int) string {
		return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	oauthgate {
		issuer http://127.0.0.1:%d
		scope api_v3 "API"
		client static-one {
			secret_hash 0fefc1b27100e636d38ff6bc989040691f4a48220d8bc2183b6bbcfd001524c7
			grants client_credentials
			scopes api_v3
		}
	}
}
http://127.0.0.1:%d {
	oauthgate_server
	route /api/* {
		oauthgate_protect api_v3
		respond "ok {http.auth.user.id}"
	}
}
`, admin, api, api)
	})

	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	out := r.mustCLI("client", "create", "--name", "Reporting", "--grant", "client_credentials", "--scope", "api_v3", "--default-scope", "api_v3", "--user", "svc-rep", "--json")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ClientID == "" || len(created.ClientSecret) < 43 {
		t.Fatalf("create: %v %s", err, out)
	}
	status, tok := r.token(created.ClientID, created.ClientSecret)
	if status != 200 || r.api(tok) != 200 {
		t.Fatalf("new client's token: %d, API %d", status, r.api(tok))
	}

	table := r.mustCLI("client", "list")
	if !strings.Contains(table, "ID") || !strings.Contains(table, created.ClientID) || !strings.Contains(table, "static-one") || !strings.Contains(table, "config") {
		t.Fatalf("list:\n%s", table)
	}
	for _, view := range []string{r.mustCLI("client", "show", created.ClientID, "--json"), r.mustCLI("client", "list", "--json"), table} {
		if strings.Contains(view, created.ClientSecret) || strings.Contains(view, "secret_sha256") {
			t.Fatalf("a listing shows the secret or its hash:\n%s", view)
		}
	}

	// Disable: invalid_client and the issued token stops validating; enable again.
	r.mustCLI("client", "disable", created.ClientID)
	if status, _ := r.token(created.ClientID, created.ClientSecret); status != 401 {
		t.Fatalf("disabled client's token request: %d", status)
	}
	if code := r.api(tok); code != 401 {
		t.Fatalf("disabled client's token: %d", code)
	}
	r.mustCLI("client", "enable", created.ClientID)
	if code := r.api(tok); code != 200 {
		t.Fatalf("re-enabled client's token: %d", code)
	}

	// Rotate the secret: the new one works, the old one no longer.
	var rotated struct {
		ClientSecret string `json:"client_secret"`
	}
	_ = json.Unmarshal([]byte(r.mustCLI("client", "rotate-secret", created.ClientID, "--json")), &rotated)
	if rotated.ClientSecret == "" || rotated.ClientSecret == created.ClientSecret {
		t.Fatal("rotate-secret returned no new secret")
	}
	if status, _ := r.token(created.ClientID, created.ClientSecret); status != 401 {
		t.Fatalf("old secret after rotation: %d", status)
	}
	status, tok2 := r.token(created.ClientID, rotated.ClientSecret)
	if status != 200 {
		t.Fatalf("new secret: %d", status)
	}

	// Revoke one token by the CLI (read from stdin, kept out of argv).
	cmd := exec.Command(r.bin, "oauthgate", "token", "revoke", "-", "--address", r.admin)
	cmd.Env, cmd.Stdin = r.env, strings.NewReader(tok2+"\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "true") {
		t.Fatalf("token revoke: %v %s", err, out)
	}
	if code := r.api(tok2); code != 401 {
		t.Fatalf("revoked token: %d", code)
	}

	// Rotate the signing key: the old token still verifies, the JWKS lists both.
	var rot struct{ Kid string }
	_ = json.Unmarshal([]byte(r.mustCLI("keys", "rotate", "--json")), &rot)
	resp, err := http.Get(r.base + "/oauth/jwks")
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct{ Keys []map[string]any }
	_ = json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	if rot.Kid == "" || len(jwks.Keys) != 2 || jwks.Keys[0]["kid"] != rot.Kid {
		t.Fatalf("after keys rotate: kid %q, JWKS %v", rot.Kid, jwks.Keys)
	}
	if code := r.api(tok); code != 200 {
		t.Fatalf("token signed before the rotation: %d", code)
	}

	// Static clients are read-only.
	if out, err := r.cli("client", "disable", "static-one"); err == nil || !strings.Contains(out, "read-only") {
		t.Fatalf("disabling a static client: %v %s", err, out)
	}
	// Delete: the client's tokens stop validating, and it is gone.
	r.mustCLI("client", "delete", created.ClientID)
	if code := r.api(tok); code != 401 {
		t.Fatalf("deleted client's token: %d", code)
	}
	var notFound *exec.ExitError
	if out, err := r.cli("client", "show", created.ClientID); !errors.As(err, &notFound) || notFound.ExitCode() != 3 || !strings.Contains(out, "no such client") {
		t.Fatalf("show after delete: %v %s", err, out)
	}
	if strings.Contains(r.logs.String(), created.ClientSecret) || strings.Contains(r.logs.String(), rotated.ClientSecret) || strings.Contains(r.logs.String(), tok) {
		t.Fatal("a secret or token reached the log")
	}
	if !strings.Contains(r.logs.String(), `"client created"`) {
		t.Fatal("client changes are not logged")
	}
}

// `caddy oauthgate explain` tells which oauthgate_protect applies, what it
// requires, the CORS outcome, and with a token the decision and the headers
// the upstream would get.
func TestExplain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	var cfgPath string
	r := startCaddy(t, func(api, admin int) string {
		cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	oauthgate {
		issuer http://127.0.0.1:%d
		scope api_v3 "API"
		scope api_write "Writes"
		client rep {
			secret_hash 0fefc1b27100e636d38ff6bc989040691f4a48220d8bc2183b6bbcfd001524c7
			grants client_credentials
			scopes api_v3
			default_scopes api_v3
			user svc-rep
		}
	}
}
http://127.0.0.1:%d {
	oauthgate_server
	route /api/* {
		@writes method POST
		oauthgate_protect @writes api_write
		oauthgate_protect api_v3 {
			cors {
				origins https://app.example.com
			}
		}
		reverse_proxy 127.0.0.1:1
	}
	respond /health "ok"
}
`, admin, api, api)
		cfgPath = filepath.Join(t.TempDir(), "Caddyfile")
		_ = os.WriteFile(cfgPath, []byte(cfg), 0o600)
		return cfg
	})
	_, tok := r.token("rep", "demo-secret-change-me")
	explain := func(args ...string) string {
		cmd := exec.Command(r.bin, append([]string{"oauthgate", "explain"}, append(args, "--config", cfgPath)...)...)
		cmd.Env = r.env // same storage: the same signing keys as the running instance
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("explain %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := explain("GET", r.base+"/api/v3/projects", "--origin", "https://app.example.com")
	for _, want := range []string{"oauthgate_protect requires all of [api_v3]", "origin https://app.example.com allowed", "without a token: 401"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain without token lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "api_write") {
		t.Errorf("the POST-only protect was listed for a GET:\n%s", out)
	}
	out = explain("GET", r.base+"/api/v3/projects", "--token", tok, "--origin", "https://evil.example")
	liveOut := out
	for _, want := range []string{"token: ALLOWED (subject svc-rep, client rep", "upstream header X-Oauth-Subject: svc-rep", "upstream header X-Oauth-Client-Id: rep", "Authorization: removed", "NOT allowed"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain with token lacks %q:\n%s", want, out)
		}
	}
	out = explain("POST", r.base+"/api/v3/projects", "--token", tok)
	if !strings.Contains(out, "requires all of [api_write]") || !strings.Contains(out, "REFUSED 403 insufficient_scope") {
		t.Errorf("explain POST:\n%s", out)
	}
	if out := explain("GET", r.base+"/health"); strings.Contains(out, "oauthgate_protect") || !strings.Contains(out, "static_response") {
		t.Errorf("explain of an unprotected path:\n%s", out)
	}

	// Issue 17 item 19: the memory store explain provisions is empty, so it
	// asks the running gateway, which knows the token is revoked.
	if !strings.Contains(liveOut, "running gateway (admin API): ACTIVE") {
		t.Errorf("explain of a live token does not say what the running gateway says:\n%s", out)
	}
	r.mustCLI("token", "revoke", tok)
	out = explain("GET", r.base+"/api/v3/projects", "--token", tok)
	if !strings.Contains(out, "running gateway (admin API): REFUSED invalid_token (revoked)") {
		t.Errorf("explain of a token the running gateway has revoked:\n%s", out)
	}

	// Exit statuses through the real binary (caddy's own main around them).
	for args, want := range map[string]int{"client show nobody": 3, "client frob": 2} {
		_, err := r.cli(strings.Fields(args)...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != want {
			t.Errorf("caddy oauthgate %s: %v, want exit status %d", args, err, want)
		}
	}
	unreachable := exec.Command(r.bin, "oauthgate", "client", "list", "--address", "127.0.0.1:1")
	unreachable.Env = r.env
	var exit *exec.ExitError
	if err := unreachable.Run(); !errors.As(err, &exit) || exit.ExitCode() != 5 {
		t.Errorf("caddy oauthgate client list against nothing: %v, want exit status 5", err)
	}
}

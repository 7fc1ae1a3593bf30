// The built binary as a pure gateway: caddy validate offline, http off loopback refused, a failed discovery logged.

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
	"golang.org/x/oauth2/clientcredentials"
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

// Two oauthgate instances as the trusted issuers of a third, each a built
// binary of its own: one issues JWTs (checked with its JWKS, found by
// discovery), the other opaque tokens (checked by introspection, with the
// gateway's own client). x/oauth2 gets the tokens; the upstream answer
// shows which issuer decided.
// CONFORMANCE X1
// CONFORMANCE X2
func TestTrustedOauthgateInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildCaddy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const svcSecret, gwSecret = "peer-service-secret-0123456789", "peer-gateway-secret-0123456789"
	env := []string{"PEER_SVC_SECRET=" + svcSecret, "PEER_GW_SECRET=" + gwSecret}
	run := func(name, cfg string, port int) *syncBuffer {
		dir := t.TempDir()
		path := filepath.Join(dir, name+".Caddyfile")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		logs, _ := runGateway(t, ctx, bin, path, dir, port, env...)
		return logs
	}
	issuer := func(port int, format string) string {
		return fmt.Sprintf(`{
	admin off
	auto_https off
	oauthgate {
		issuer http://127.0.0.1:%[1]d
		token_format %[2]s
		scope orders:read "Read orders"
		scope orders:write "Change orders"
		client orders-svc {
			secret {env.PEER_SVC_SECRET}
			grants client_credentials
			scopes orders:read orders:write
			audience api://orders
		}
		client gateway {
			secret {env.PEER_GW_SECRET}
			grants client_credentials
		}
	}
}
http://127.0.0.1:%[1]d {
	oauthgate_server
}
`, port, format)
	}
	pJWT, pOpaque, pGW := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	jwtIss, opaqueIss := fmt.Sprintf("http://127.0.0.1:%d", pJWT), fmt.Sprintf("http://127.0.0.1:%d", pOpaque)
	run("jwt-issuer", issuer(pJWT, "jwt"), pJWT)
	run("opaque-issuer", issuer(pOpaque, "opaque"), pOpaque)
	gwLogs := run("gateway", fmt.Sprintf(`{
	admin off
	auto_https off
	oauthgate {
		trust %[1]s {
			audience api://orders
		}
		trust %[2]s {
			audience api://orders
			introspect {
				client_id gateway
				client_secret {env.PEER_GW_SECRET}
				cache 1m
			}
		}
	}
}
http://127.0.0.1:%[3]d {
	route /orders/* {
		oauthgate_protect orders:read
		respond "{oauth.issuer} {oauth.subject} {http.request.header.X-OAuth-Scope}"
	}
	route /jwt-only/* {
		oauthgate_protect orders:read {
			issuers %[1]s
		}
		respond "ok"
	}
}
`, jwtIss, opaqueIss, pGW), pGW)
	token := func(iss string, scopes ...string) string {
		cc := clientcredentials.Config{ClientID: "orders-svc", ClientSecret: svcSecret, TokenURL: iss + "/oauth/token", Scopes: scopes}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("token from %s: %v", iss, err)
		}
		return tok.AccessToken
	}
	get := func(path, tok string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://127.0.0.1:%d%s", pGW, path), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	jwtTok, opaqueTok := token(jwtIss, "orders:read"), token(opaqueIss, "orders:read", "orders:write")
	if !strings.HasPrefix(opaqueTok, "oga_") || strings.Count(jwtTok, ".") != 2 {
		t.Fatalf("unexpected token forms: %.12s… %.12s…", jwtTok, opaqueTok)
	}
	for _, c := range []struct {
		path, tok  string
		status     int
		body, what string
	}{
		{"/orders/1", jwtTok, 200, jwtIss + " orders-svc orders:read", "a JWT of the first instance, by its JWKS"},
		{"/orders/1", opaqueTok, 200, opaqueIss + " orders-svc orders:read orders:write", "an opaque token of the second, by introspection"},
		{"/orders/1", opaqueTok, 200, opaqueIss + " orders-svc orders:read orders:write", "the same, from the cache"},
		{"/jwt-only/1", jwtTok, 200, "ok", "the JWT issuer on its own route"},
		{"/jwt-only/1", opaqueTok, 401, "", "the opaque issuer where only the JWT issuer is accepted"},
		{"/orders/1", "oga_" + strings.Repeat("A", 43), 401, "", "an opaque token neither issued"},
	} {
		status, body := get(c.path, c.tok)
		if status != c.status || (c.body != "" && body != c.body) {
			t.Errorf("%s: %d %q, want %d %q", c.what, status, body, c.status, c.body)
		}
	}
	// A token without the route's scope: 403 from the trusted issuer's claims.
	if status, _ := get("/orders/1", token(jwtIss, "orders:write")); status != 403 {
		t.Errorf("a JWT without orders:read: %d, want 403", status)
	}
	if strings.Contains(gwLogs.String(), gwSecret) || strings.Contains(gwLogs.String(), opaqueTok) {
		t.Fatal("a secret or a token reached the gateway's log")
	}
}

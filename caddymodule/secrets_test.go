// Tests that secrets are kept as hashes only and stay out of logs, of JSON static clients, the default store.

package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/oauth2"
)

// CONFORMANCE K4: client secrets are kept only as hashes, and neither secrets
// nor tokens reach the logs, even at DEBUG.
// CONFORMANCE O2 (issuance and refusal lines carry client and reason).
func TestNoSecretsOrTokensInLogsOrMemory_K4(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	logPath := filepath.Join(t.TempDir(), "caddy.log")
	app := strings.Replace(baseApp(g.base, "token_format opaque"), "\toauthgate {", fmt.Sprintf("\tlog {\n\t\toutput file %s\n\t\tlevel DEBUG\n\t}\n\toauthgate {", logPath), 1)
	cfg := g.caddyfile(app, "\tlog\n\toauthgate_server\n\troute /api/* {\n\t\toauthgate_protect\n\t\trespond ok\n\t}")
	// The harness discards the default log; this config logs to a file instead.
	cfg = strings.Replace(cfg, "\tlog {\n\t\toutput discard\n\t}\n", "", 1)
	raw := adapt(t, cfg)
	if strings.Contains(string(raw), reportingSecret) {
		t.Fatal("the adapted JSON contains the secret instead of its placeholder")
	}
	if err := g.loadJSON(raw); err != nil {
		t.Fatal(err)
	}
	tok := getToken(t, g, "reporting", reportingSecret, "api_v3")
	_, _ = ccConfig(g, "reporting", "wrong-secret-value", oauth2.AuthStyleInHeader).Token(context.Background())
	call(t, "GET", g.base+"/api/x", map[string]string{"Authorization": "Bearer " + tok}, "")

	// In memory: the provisioned client holds a hash, not the secret.
	v, err := caddy.ActiveContext().App("oauthgate")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []any{v.(*App).Clients, v.(*App).Server()} {
		if dump := fmt.Sprintf("%+v", c); strings.Contains(dump, reportingSecret) {
			t.Fatal("a plain secret is kept after provisioning")
		}
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	logs, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{"token": tok, "secret": reportingSecret, "wrong secret": "wrong-secret-value"} {
		if strings.Contains(string(logs), secret) {
			t.Errorf("the %s appears in the log", name)
		}
	}
	var issued, refused bool
	for _, line := range strings.Split(string(logs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		switch m["msg"] {
		case "token issued":
			issued = m["client_id"] == "reporting" && m["subject"] == "svc-reporting" && m["grant"] == "client_credentials"
		case "client authentication failed":
			refused = m["error"] == "invalid_client" && m["reason"] != "" && m["client_id"] == "reporting" && m["remote_ip"] == "127.0.0.1"
		}
	}
	if !issued || !refused {
		t.Fatalf("issuance/refusal lines missing or incomplete (issued %v, refused %v):\n%s", issued, refused, logs)
	}
}

// CONFORMANCE M1: static clients from JSON config (not only the Caddyfile),
// with default scopes, per-client lifetime, subject and audience.
func TestStaticClientsFromJSON_M1(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	cfg := fmt.Sprintf(`{
	"admin": {"disabled": true},
	"storage": {"module": "file_system", "root": %q},
	"logging": {"logs": {"default": {"writer": {"output": "discard"}}}},
	"apps": {
		"oauthgate": {
			"issuer": %q,
			"scopes": [{"name": "api_v3", "default": true}, {"name": "bcf_v2_1"}],
			"clients": [{
				"id": "bim", "name": "BIM tool", "secret": "{env.OAUTHGATE_TEST_ORO_SECRET}",
				"grants": ["client_credentials"], "scopes": ["api_v3", "bcf_v2_1"],
				"default_scopes": ["bcf_v2_1"], "user": "bim-bot", "audience": ["bim"],
				"access_token_ttl": "15m"
			}]
		},
		"http": {"servers": {"s": {"listen": [":%d"], "routes": [
			{"handle": [{"handler": "oauthgate_server"}]},
			{"handle": [{"handler": "oauthgate_protect", "scopes": ["bcf_v2_1"], "audience": ["bim"]},
			            {"handler": "static_response", "body": "{http.auth.user.id} {oauth.scope}"}]}
		]}}}
	}
}`, g.storage, g.base, g.port)
	if err := g.loadJSON([]byte(cfg)); err != nil {
		t.Fatal(err)
	}
	tok, err := ccConfig(g, "bim", oroSecret, oauth2.AuthStyleInParams).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("scope") != "bcf_v2_1" || tok.Extra("expires_in") != float64(900) {
		t.Fatalf("scope %v expires_in %v", tok.Extra("scope"), tok.Extra("expires_in"))
	}
	resp, body := call(t, "GET", g.base+"/x", map[string]string{"Authorization": "Bearer " + tok.AccessToken}, "")
	if resp.StatusCode != 200 || body != "bim-bot bcf_v2_1" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

// CONFORMANCE S1: the memory store is the default: no store line, nothing to set up.
func TestMemoryStoreIsDefault_S1(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	g.load(baseApp(g.base, "token_format opaque"), "\toauthgate_server")
	v, err := caddy.ActiveContext().App("oauthgate")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.(*App).store.(measuredStore).s.(interface{ Sweep() int }); !ok {
		t.Fatalf("default store is %T, want the memory store", v.(*App).store.(measuredStore).s)
	}
	if tok := getToken(t, g, "reporting", reportingSecret, ""); !strings.HasPrefix(tok, "oga_") {
		t.Fatal("no opaque token from the default store")
	}
}

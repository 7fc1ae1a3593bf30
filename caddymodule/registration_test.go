// Tests of the registration block in a running gateway (CONFORMANCE G1, G4): parsing, provisioning refusals, metadata, listing.

package caddymodule

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// CONFORMANCE G1
// The registration block refuses what it cannot mean, with
// the line; provisioning (caddy validate) refuses client_credentials in
// mode open, mode token without its token, and scopes not in the catalog.
func TestRegistrationConfigErrors_G1(t *testing.T) {
	for block, want := range map[string]string{
		"mode sometimes":           `mode "sometimes"`,
		"metadata_documents yes":   "usage: metadata_documents on|off|loopback",
		"rate 20":                  "rate wants <count>/<duration>",
		"rate x/1m":                "rate wants <count>/<duration>",
		"max_clients 0":            "max_clients wants a positive number",
		"unused_after never":       "invalid duration",
		"initial_access_token a b": "wrong argument count",
		"color red":                "unrecognized registration option",
	} {
		_, err := adaptErr("{\n\toauthgate {\n\t\tregistration {\n\t\t\t" + block + "\n\t\t}\n\t}\n}\n:80\n")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Caddyfile:") {
			t.Errorf("%q: err = %v, want %q with a line", block, err, want)
		}
	}
	if _, err := adaptErr("{\n\toauthgate {\n\t\tregistration {\n\t\t}\n\t\tregistration {\n\t\t}\n\t}\n}\n:80\n"); err == nil {
		t.Error("two registration blocks accepted")
	}
	if cfg, err := adaptErr("{\n\toauthgate {\n\t\tregistration {\n\t\t\tunused_after off\n\t\t}\n\t}\n}\n:80\n"); err != nil || !strings.Contains(string(cfg), `"unused_after":-1`) {
		t.Errorf("unused_after off: %v %s", err, cfg)
	}
	setSecrets(t)
	t.Setenv("OAUTHGATE_TEST_REG_TOKEN", "registration-token-0123456789")
	t.Setenv("OAUTHGATE_TEST_SHORT", "short")
	g := newGateway(t)
	for block, want := range map[string]string{
		"mode open\n\t\t\tgrants client_credentials": "client_credentials cannot be granted",
		"mode token":                   "mode token needs `initial_access_token",
		"mode open\n\t\t\tscopes nope": `scope "nope" is not in the catalog`,
		"mode open\n\t\t\tinitial_access_token {env.OAUTHGATE_TEST_REG_TOKEN}": "only for `mode token`",
		"mode token\n\t\t\tinitial_access_token {env.OAUTHGATE_TEST_SHORT}":    "at least 16 characters",
		"mode open\n\t\t\tgrants authorization_code refresh_token implicit":    `unknown grant "implicit"`,
	} {
		err := g.loadErr(baseApp(g.base, "registration {\n\t\t\t"+block+"\n\t\t}"), "\toauthgate_server")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", block, err, want)
		}
	}
}

// CONFORMANCE G1
// CONFORMANCE G4
// With registration on, the metadata names the
// registration endpoint and metadata document support (absent when off),
// a client registers through the gateway, and the admin API and the CLI
// list it as registered; mode token takes the token from the environment.
func TestRegistrationGateway_G1(t *testing.T) {
	setSecrets(t)
	t.Setenv("OAUTHGATE_TEST_REG_TOKEN", "registration-token-0123456789")
	g := newGateway(t)
	g.load(baseApp(g.base, ""), "\toauthgate_server")
	_, body := call(t, "GET", g.base+"/.well-known/oauth-authorization-server", nil, "")
	if strings.Contains(body, "registration_endpoint") || strings.Contains(body, "client_id_metadata_document_supported") {
		t.Fatalf("registration is listed while off: %s", body)
	}
	if resp, _ := call(t, "POST", g.base+"/oauth/register", map[string]string{"Content-Type": "application/json"}, `{}`); resp.StatusCode == http.StatusCreated {
		t.Fatal("registration served while off")
	}

	g.load(baseApp(g.base, `registration {
			mode token
			metadata_documents on
			initial_access_token {env.OAUTHGATE_TEST_REG_TOKEN}
			scopes api_v3
			rate 5/1m
		}`), "\toauthgate_server")
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		_, body := call(t, "GET", g.base+path, nil, "")
		md := decodeJSON(t, body)
		if md["registration_endpoint"] != g.base+"/oauth/register" || md["client_id_metadata_document_supported"] != true {
			t.Fatalf("%s: %s", path, body)
		}
	}
	reg := `{"redirect_uris":["http://127.0.0.1/cb"],"client_name":"Agent","token_endpoint_auth_method":"none"}`
	resp, body := call(t, "POST", g.base+"/oauth/register", map[string]string{"Content-Type": "application/json"}, reg)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "invalid_token") {
		t.Fatalf("without the token: %d %s", resp.StatusCode, body)
	}
	resp, body = call(t, "POST", g.base+"/oauth/register", map[string]string{"Content-Type": "application/json",
		"Authorization": "Bearer registration-token-0123456789"}, reg)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	id := decodeJSON(t, body)["client_id"].(string)
	status, list := adminCall(t, "GET", "/oauthgate/clients", "")
	if status != http.StatusOK || !strings.Contains(list, fmt.Sprintf(`"id":%q`, id)) || !strings.Contains(list, `"registered":true`) {
		t.Fatalf("admin list: %d %s", status, list)
	}
	var row bytes.Buffer
	clientRow(&row, tokenstore.Client{ID: id, Name: "Agent", Registered: true})
	if !strings.Contains(row.String(), "registered") {
		t.Fatalf("CLI row: %q", row.String())
	}
	// The rate is the configured one: 5 a minute from one address.
	refused := 0
	for range 10 {
		if resp, _ := call(t, "POST", g.base+"/oauth/register", map[string]string{"Content-Type": "application/json"}, reg); resp.StatusCode == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused != 7 {
		t.Fatalf("%d of 10 refused, want 7 (5 a minute, 2 attempts made: every attempt counts)", refused)
	}
}

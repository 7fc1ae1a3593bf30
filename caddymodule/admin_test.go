// Tests of the admin API's client endpoints: the one client object in and out.

package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// adminCall sends one request to the admin API's handler of the running
// config and returns the status and the body.
func adminCall(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	err := AdminAPI{}.serve(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	if err != nil {
		var ae caddy.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("%s %s: %v is not an API error", method, path, err)
		}
		return ae.HTTPStatus, ae.Message
	}
	return rec.Code, rec.Body.String()
}

// CONFORMANCE M1
// CONFORMANCE M2
// CONFORMANCE K4
// The admin API reads and writes the one client object: create takes
// secret (kept only as its hash) or secret_hash (SHA-256 or bcrypt) as the
// configuration does, durations are Caddy duration strings on the way in
// and out, show and list never carry a secret or its hash, and a patch
// names only what changes.
func TestAdminAPIClientObject_M2(t *testing.T) {
	g, _ := protectedGateway(t, "", "\toauthgate_server")
	bhash, _ := bcrypt.GenerateFromPassword([]byte("a human secret, long enough"), 4)

	status, body := adminCall(t, "POST", "/oauthgate/clients",
		`{"id":"chosen","secret":"a chosen secret of 24 chars","grants":["client_credentials"],"scopes":["api_v3"],"access_token_ttl":"1d"}`)
	if status != 201 || strings.Contains(body, "client_secret") || strings.Contains(body, "secret") {
		t.Fatalf("create with a secret: %d %s (want 201, and no secret in the answer)", status, body)
	}
	var made tokenstore.Client
	_ = json.Unmarshal([]byte(body), &made)
	if made.ID != "chosen" || made.AccessTokenTTL != tokenstore.Duration(24*60*60*1e9) || !strings.Contains(body, `"access_token_ttl":"24h0m0s"`) {
		t.Fatalf("created client object: %s", body)
	}
	if tok := getToken(t, g, "chosen", "a chosen secret of 24 chars", "api_v3"); tok == "" {
		t.Fatal("the chosen secret does not authenticate")
	}
	app, err := activeApp()
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := app.store.GetClient(t.Context(), "chosen"); err != nil || rec.Secret != "" || len(rec.SecretHash) != 64 {
		t.Fatalf("the store keeps %+v, %v; want the secret's SHA-256 only", rec, err)
	}
	status, body = adminCall(t, "POST", "/oauthgate/clients",
		`{"id":"hashed","secret_hash":"`+string(bhash)+`","grants":["client_credentials"],"scopes":["api_v3"]}`)
	if status != 201 || strings.Contains(body, "$2a$") {
		t.Fatalf("create with a bcrypt secret_hash: %d %s", status, body)
	}
	if tok := getToken(t, g, "hashed", "a human secret, long enough", "api_v3"); tok == "" {
		t.Fatal("the bcrypt secret does not authenticate")
	}
	status, body = adminCall(t, "POST", "/oauthgate/clients", `{"id":"gen","grants":["client_credentials"],"scopes":["api_v3"]}`)
	var gen struct {
		ClientSecret string `json:"client_secret"`
	}
	_ = json.Unmarshal([]byte(body), &gen)
	if status != 201 || !strings.HasPrefix(gen.ClientSecret, "ogs_") {
		t.Fatalf("create without a secret: %d %s (want a generated one, once)", status, body)
	}
	for _, path := range []string{"/oauthgate/clients", "/oauthgate/clients/chosen", "/oauthgate/clients/hashed", "/oauthgate/clients/reporting"} {
		if status, body := adminCall(t, "GET", path, ""); status != 200 || strings.Contains(body, "secret") {
			t.Fatalf("GET %s: %d %s (want no secret or secret_hash)", path, status, body)
		}
	}
	status, body = adminCall(t, "PATCH", "/oauthgate/clients/chosen", `{"refresh_token_ttl":"36h","name":"Renamed"}`)
	if status != 200 || !strings.Contains(body, `"refresh_token_ttl":"36h0m0s"`) || !strings.Contains(body, `"access_token_ttl":"24h0m0s"`) ||
		!strings.Contains(body, `"name":"Renamed"`) {
		t.Fatalf("patch: %d %s (want the named fields changed, the rest kept)", status, body)
	}
	for name, patch := range map[string]string{
		"secret":        `{"secret":"another secret of 24 chars"}`,
		"secret_hash":   `{"secret_hash":"` + string(bhash) + `"}`,
		"id":            `{"id":"other"}`,
		"unknown field": `{"colour":"blue"}`,
		"bad duration":  `{"access_token_ttl":"2 hours"}`,
	} {
		if status, body := adminCall(t, "PATCH", "/oauthgate/clients/chosen", patch); status != 400 {
			t.Errorf("patch of %s: %d %s, want 400", name, status, body)
		}
	}
	if tok := getToken(t, g, "chosen", "a chosen secret of 24 chars", "api_v3"); tok == "" {
		t.Fatal("a refused patch changed the client")
	}
}

// Tests of operator mistakes caught: bad redirect URIs, a full memory store, validate, shadowed clients.

package caddymodule

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/oauthgate/caddy-oauthgate/authz"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// validateCaddyfile adapts and validates a config as `caddy validate` does.
func validateCaddyfile(t *testing.T, g *gateway, oauthgate, site string) error {
	t.Helper()
	cfg, err := adaptErr(g.caddyfile(oauthgate, site))
	if err != nil {
		return err
	}
	return validate(cfg)
}

// Issue 17 item 8: a Caddyfile client's redirect URI is held to the same
// rules as the admin API's: javascript:, data:, file: and plain remote http
// fail `caddy validate` with the reason.
// CONFORMANCE M1
func TestCaddyfileRedirectURISchemes(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	client := func(uri string) string {
		return baseApp(g.base, `client web {
			secret {env.OAUTHGATE_TEST_ORO_SECRET}
			grants authorization_code
			scopes api_v3
			redirect_uri `+uri+`
		}`)
	}
	for uri, why := range map[string]string{
		"javascript:alert(1)":   "scheme javascript",
		"data:text/html,x":      "scheme data",
		"file:///etc/passwd":    "scheme file",
		"http://app.example/cb": "loopback host",
	} {
		err := validateCaddyfile(t, g, client(uri), "oauthgate_server")
		if err == nil || !strings.Contains(err.Error(), `client "web"`) || !strings.Contains(err.Error(), why) {
			t.Errorf("redirect_uri %s: %v, want an error naming the client and %q", uri, err, why)
		}
	}
	for _, uri := range []string{"https://app.example/cb", "http://127.0.0.1/cb", "com.example.app:/cb", "urn:ietf:wg:oauth:2.0:oob"} {
		if err := validateCaddyfile(t, g, client(uri), "oauthgate_server"); err != nil {
			t.Errorf("redirect_uri %s: %v", uri, err)
		}
	}
}

// Issue 17 item 14: a full memory store is told apart from an outage: the
// 503's description names max_entries, a metric counts it, and one ERROR
// line (at most one a minute) tells the operator the cause and the fix.
// CONFORMANCE S4
// CONFORMANCE O1
func TestFullMemoryStoreSaysSo(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	logFile := filepath.Join(t.TempDir(), "log.json")
	caddyfile := strings.Replace(g.caddyfile(baseApp(g.base, "token_format opaque\n\t\tstore memory {\n\t\t\tmax_entries 3\n\t\t}"),
		"metrics /metrics\n\toauthgate_server"), "log {\n\t\toutput discard\n\t}", "log {\n\t\toutput file "+logFile+"\n\t\tformat json\n\t}", 1)
	cfg := adapt(t, caddyfile)
	if err := g.loadJSON(cfg); err != nil {
		t.Fatal(err)
	}
	var full int
	for range 8 {
		status, body := tokenPostPath(t, g, "/oauth/token", "reporting", reportingSecret, url.Values{"grant_type": {"client_credentials"}})
		if status == 200 {
			continue
		}
		m := decodeJSON(t, body)
		if status != 503 || m["error"] != "temporarily_unavailable" || !strings.Contains(fmt.Sprint(m["error_description"]), "max_entries") {
			t.Fatalf("a full store: %d %s", status, body)
		}
		full++
	}
	if full < 5 {
		t.Fatalf("%d of 8 issuances refused with max_entries 3", full)
	}
	_, exp := call(t, "GET", g.base+"/metrics", nil, "")
	if v := metricValue(t, exp, "oauthgate_store_full_total"); v != float64(full) {
		t.Errorf("oauthgate_store_full_total = %v, want %d", v, full)
	}
	logs, _ := os.ReadFile(logFile)
	if n := bytes.Count(logs, []byte("the token store is full")); n != 1 {
		t.Errorf("%d log lines about the full store, want 1 (at most one a minute):\n%s", n, logs)
	}
	if !bytes.Contains(logs, []byte(`"level":"error"`)) || !bytes.Contains(logs, []byte("raise max_entries")) {
		t.Errorf("the log line does not say ERROR with the fix:\n%s", logs)
	}

	// The minute is injected: a later refusal is told again.
	clk := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	core, observed := observer.New(zap.ErrorLevel)
	n := &fullNotice{logger: zap.New(core), now: func() time.Time { return clk }}
	n.note()
	n.note()
	clk = clk.Add(59 * time.Second)
	n.note()
	clk = clk.Add(2 * time.Second)
	n.note()
	if got := observed.Len(); got != 2 {
		t.Errorf("%d lines over 61 s, want 2", got)
	}
}

// Issue 17 item 16: `caddy validate` catches what would otherwise fail
// quietly at run time: a route scope nobody declared (every request would
// get 403), a plain client secret in the Caddyfile (it would land in the
// saved JSON), and it warns about an issuer with a trailing slash. Errors
// never say "oauthgate: oauthgate:" (Caddy names the app already).
// CONFORMANCE O3
func TestValidateCatchesOperatorMistakes(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	err := validateCaddyfile(t, g, baseApp(g.base, ""), "oauthgate_server\n\troute /api/* {\n\t\toauthgate_protect api_v4\n\t\trespond ok\n\t}")
	if err == nil || !strings.Contains(err.Error(), `scope "api_v4" is not in the catalog`) || !strings.Contains(err.Error(), "scope api_v4") {
		t.Errorf("a route scope outside the catalog: %v", err)
	}
	_, err = adaptErr(g.caddyfile(strings.Replace(baseApp(g.base, ""), "secret {env.OAUTHGATE_TEST_ORO_SECRET}", "secret hunter2-but-longer", 1), "oauthgate_server"))
	if err == nil || !strings.Contains(err.Error(), "placeholder such as {env.ORO_SECRET}") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a literal client secret in the Caddyfile: %v", err)
	}

	for _, bad := range [][2]string{
		{baseApp(g.base, "token_format jtw"), "oauthgate_server"},
		{baseApp(g.base, "signing_key ES256 /nonexistent/oauth.pem"), "oauthgate_server"},
		{baseApp(g.base, "users {\n\t\t\tbob nothash\n\t\t}"), "oauthgate_server"},
		{baseApp("ftp://x", ""), "oauthgate_server"},
		{baseApp(g.base, "scope api_v3 twice"), "oauthgate_server"},
	} {
		err := validateCaddyfile(t, g, bad[0], bad[1])
		if err == nil {
			t.Errorf("no error for %s", bad[0])
		} else if strings.Contains(err.Error(), "oauthgate: oauthgate:") {
			t.Errorf("doubled prefix: %v", err)
		}
	}

	logFile := filepath.Join(t.TempDir(), "log.json")
	withLog := func(issuer string) string {
		return strings.Replace(g.caddyfile(baseApp(issuer, ""), "oauthgate_server"), "log {\n\t\toutput discard\n\t}",
			"log {\n\t\toutput file "+logFile+"\n\t\tformat json\n\t}", 1)
	}
	if err := validate(adapt(t, withLog(g.base+"/"))); err != nil {
		t.Fatal(err)
	}
	if logs, _ := os.ReadFile(logFile); !bytes.Contains(logs, []byte("the issuer ends with a slash")) {
		t.Errorf("no warning for an issuer with a trailing slash:\n%s", logs)
	}
	_ = os.Truncate(logFile, 0)
	if err := validate(adapt(t, withLog(g.base))); err != nil {
		t.Fatal(err)
	}
	if logs, _ := os.ReadFile(logFile); bytes.Contains(logs, []byte("the issuer ends with a slash")) {
		t.Errorf("a warning for an issuer without a trailing slash:\n%s", logs)
	}
}

// Issue 17 item 17: a configured client whose id is a dynamic client's
// fails the reload, naming the client and the fix; the running config and
// the dynamic client go on working, and once it is deleted the reload passes.
// CONFORMANCE M1
// CONFORMANCE M2
func TestConfiguredClientCannotHideADynamicOne(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	g.load(baseApp(g.base, ""), "oauthgate_server")
	v, err := caddy.ActiveContext().App("oauthgate")
	if err != nil {
		t.Fatal(err)
	}
	reg := v.(*App).Server().Registry()
	_, secret, err := reg.Create(t.Context(), tokenstore.Client{ID: "shared-id", Grants: []string{authz.GrantClientCredentials}, Scopes: []string{"api_v3"}})
	if err != nil {
		t.Fatal(err)
	}
	clash := baseApp(g.base, `client shared-id {
			secret {env.OAUTHGATE_TEST_ORO_SECRET}
			grants client_credentials
			scopes api_v3
		}`)
	err = g.loadErr(clash, "oauthgate_server")
	if err == nil || !strings.Contains(err.Error(), `client "shared-id" is configured here and also exists as a dynamic client`) ||
		!strings.Contains(err.Error(), "caddy oauthgate client delete shared-id") {
		t.Fatalf("reload with a configured client hiding a dynamic one: %v", err)
	}
	if status, _ := tokenPostPath(t, g, "/oauth/token", "shared-id", secret, url.Values{"grant_type": {"client_credentials"}}); status != 200 {
		t.Fatalf("the dynamic client after the refused reload: %d", status)
	}
	if err := reg.Delete(t.Context(), "shared-id"); err != nil {
		t.Fatalf("the dynamic client cannot be deleted: %v", err)
	}
	g.load(clash, "oauthgate_server")
	if status, _ := tokenPostPath(t, g, "/oauth/token", "shared-id", oroSecret, url.Values{"grant_type": {"client_credentials"}}); status != 200 {
		t.Fatalf("the configured client after the dynamic one was deleted: %d", status)
	}
}

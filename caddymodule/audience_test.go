// Tests that a protected route without `audience` is warned of by validate and explained by explain.

package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// Issue 17 item 7: a route without `audience` accepts every audience the
// server issues. The behaviour stays, but `caddy validate` warns when
// clients are given audiences while a protected route lists none, and
// `caddy oauthgate explain` says what such a route accepts.
// CONFORMANCE R4
func TestOpenAudienceIsWarnedAndExplained(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	logFile := filepath.Join(t.TempDir(), "log.json")
	site := `
	oauthgate_server
	route /open/* {
		oauthgate_protect api_v3
		respond "open"
	}
	route /backend/* {
		oauthgate_protect api_v3 {
			audience backend
		}
		respond "backend"
	}`
	caddyfile := strings.Replace(g.caddyfile(baseApp(g.base, ""), site), "log {\n\t\toutput discard\n\t}",
		"log {\n\t\toutput file "+logFile+"\n\t\tformat json\n\t\tlevel WARN\n\t}", 1)
	cfg := adapt(t, caddyfile)
	if err := validate(cfg); err != nil {
		t.Fatal(err)
	}
	logs, _ := os.ReadFile(logFile)
	var warnings []map[string]any
	for _, line := range bytes.Split(logs, []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && strings.Contains(fmt.Sprint(m["msg"]), "without `audience`") {
			warnings = append(warnings, m)
		}
	}
	if len(warnings) != 1 {
		t.Fatalf("caddy validate: %d audience warnings, want 1 (the /open route):\n%s", len(warnings), logs)
	}
	if ids := fmt.Sprint(warnings[0]["clients_with_audience"]); !strings.Contains(ids, "reporting") || !strings.Contains(ids, "oro") {
		t.Errorf("the warning does not name the clients with audiences: %v", warnings[0])
	}

	var out bytes.Buffer
	explain := func(target string) {
		t.Helper()
		err := Explain(&out, cfg, "GET", target, "", "")
		// Explain provisions without cleaning up (a one-shot CLI process):
		// give back its hold on the memory store, shared by later tests.
		_, _ = memoryPool.Delete(memoryPoolKey)
		if err != nil {
			t.Fatal(err)
		}
	}
	explain(g.base + "/open/x")
	if !strings.Contains(out.String(), "any audience this server issues") {
		t.Errorf("explain of a route without audience:\n%s", out.String())
	}
	out.Reset()
	explain(g.base + "/backend/x")
	if !strings.Contains(out.String(), "audience one of [backend]") || strings.Contains(out.String(), "any audience") {
		t.Errorf("explain of a route with audience:\n%s", out.String())
	}

	// No client has an audience of its own: nothing to warn about.
	noAud := strings.NewReplacer("\t\t\taudience backend\n", "", "\t\t\taudience frontend\n", "").Replace(caddyfile)
	_ = os.Truncate(logFile, 0)
	if err := validate(adapt(t, noAud)); err != nil {
		t.Fatal(err)
	}
	if logs, _ := os.ReadFile(logFile); bytes.Contains(logs, []byte("without `audience`")) {
		t.Errorf("warned although no client has an audience:\n%s", logs)
	}
}

// validate is what `caddy validate` does with a JSON config.
func validate(cfgJSON []byte) error {
	var cfg caddy.Config
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return err
	}
	return caddy.Validate(&cfg)
}

// Tests of the Caddyfile: golden adapted JSON, the JSON round trip, and errors naming line and option.

package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Caddyfile → JSON golden tests for the app and both directives. Run with
// -update after an intended change and review the diff.
func TestCaddyfileGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.caddyfile")
	if len(files) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, in := range files {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := adapt(t, string(src))
			var pretty bytes.Buffer
			_ = json.Indent(&pretty, got, "", "\t")
			pretty.WriteByte('\n')
			out := strings.TrimSuffix(in, ".caddyfile") + ".json"
			if *update {
				if err := os.WriteFile(out, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Fatalf("adapted JSON differs from %s:\n%s", out, pretty.String())
			}
		})
	}
}

// The JSON config round-trips: what the Caddyfile adapts to unmarshals into
// the module types and marshals back to the same JSON (caddy adapt ↔ JSON config).
func TestJSONRoundTrip(t *testing.T) {
	src, _ := os.ReadFile("testdata/golden/app_full.caddyfile")
	var cfg struct {
		Apps map[string]json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(adapt(t, string(src)), &cfg); err != nil {
		t.Fatal(err)
	}
	var app App
	dec := json.NewDecoder(bytes.NewReader(cfg.Apps["oauthgate"]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&app); err != nil {
		t.Fatalf("adapted JSON does not fit the App type: %v", err)
	}
	back, _ := json.Marshal(app)
	var a, b any
	_ = json.Unmarshal(cfg.Apps["oauthgate"], &a)
	_ = json.Unmarshal(back, &b)
	if ja, jb := mustJSON(a), mustJSON(b); ja != jb {
		t.Fatalf("round trip changed the app:\n%s\n%s", ja, jb)
	}
	if !strings.Contains(string(cfg.Apps["oauthgate"]), `"secret":"{env.POSTMAN_SECRET}"`) {
		t.Fatal("the secret placeholder must stay a placeholder in the JSON")
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// Caddyfile errors name the line and the option.
func TestCaddyfileErrors(t *testing.T) {
	tests := map[string]string{
		"oauthgate_protect {\n\tbogus\n}":             "unrecognized oauthgate_protect option",
		"oauthgate_server extra":                      "wrong argument count",
		"oauthgate_server {\n\tlogin x\n}":            "usage: login form",
		"oauthgate_server {\n\tbogus\n}":              "unrecognized oauthgate_server option",
		"oauthgate_protect {\n\ttoken_header\n}":      "wrong argument count",
		"oauthgate_protect {\n\theader_prefix a b\n}": "wrong argument count",
	}
	for in, want := range tests {
		d := caddyfile.NewTestDispenser(in)
		var err error
		if strings.HasPrefix(in, "oauthgate_server") {
			err = new(ServerHandler).UnmarshalCaddyfile(d)
		} else {
			err = new(Protect).UnmarshalCaddyfile(d)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
	}
	for _, app := range []string{
		"{\n\toauthgate {\n\t\tscope\n\t}\n}\n:80\n",
		"{\n\toauthgate {\n\t\tscope a b c d\n\t}\n}\n:80\n",
		"{\n\toauthgate {\n\t\taccess_token_ttl forever\n\t}\n}\n:80\n",
		"{\n\toauthgate {\n\t\tclient x {\n\t\t\tcolor red\n\t\t}\n\t}\n}\n:80\n",
		"{\n\toauthgate {\n\t\tstore memory {\n\t\t\tmax_entries -1\n\t\t}\n\t}\n}\n:80\n",
		"{\n\toauthgate {\n\t\tstore nosuch\n\t}\n}\n:80\n",
	} {
		if _, err := adaptErr(app); err == nil || !strings.Contains(err.Error(), "Caddyfile:") {
			t.Errorf("%q: err = %v, want an error with a line number", app, err)
		}
	}
}

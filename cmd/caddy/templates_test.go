// Tests that `caddy validate` refuses a broken template file and accepts a good base.html.

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A broken file in `templates DIR` fails `caddy validate`, naming the file
// and html/template's error; a good replacement of base.html alone validates.
// CONFORMANCE O3
func TestValidateBrokenTemplate_O3(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildCaddy(t)
	for _, c := range []struct{ file, src, want string }{
		{"base.html", `{{define "head"}}<!doctype html><title>{{.Title}</title>{{end}}`, `template: base.html:1: bad character U+007D '}'`},
		{"consent.html", `{{template "head" .}}{{template "nope" .}}{{template "foot"}}`, `consent.html:1:32: no such template \"nope\"`}, // as the JSON log spells it
		{"base.html", `{{define "head"}}<!doctype html><title>{{.Title}}</title><main>{{end}}{{define "foot"}}</main>{{end}}{{define "params"}}{{range .}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}{{end}}`, ""},
	} {
		dir := t.TempDir()
		tpl := filepath.Join(dir, "templates")
		_ = os.Mkdir(tpl, 0o700)
		if err := os.WriteFile(filepath.Join(tpl, c.file), []byte(c.src), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(dir, "Caddyfile")
		_ = os.WriteFile(cfg, []byte("{\n\tadmin off\n\toauthgate {\n\t\tissuer https://a.example\n\t}\n}\nhttp://:1 {\n\toauthgate_server {\n\t\ttemplates "+tpl+"\n\t}\n}\n"), 0o600)
		cmd := exec.Command(bin, "validate", "--config", cfg)
		cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
		out, err := cmd.CombinedOutput()
		if c.want == "" {
			if err != nil {
				t.Fatalf("a good base.html: %v\n%s", err, out)
			}
			continue
		}
		if err == nil || !strings.Contains(string(out), filepath.Join(tpl, c.file)) || !strings.Contains(string(out), c.want) {
			t.Fatalf("caddy validate with a broken %s: %v\n%s", c.file, err, out)
		}
	}
}

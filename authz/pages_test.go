// Tests of operator templates: each page replaced on its own, and broken templates refused.

package authz

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Any single file of `templates DIR` can be replaced — base.html included,
// the one operators edit for branding — and every page still renders, with
// the replacement where it belongs and the embedded files elsewhere. An
// operator's copy of an embedded file with a marker added is what each
// replacement is here.
// CONFORMANCE A9
func TestTemplatesEachFileReplaced(t *testing.T) {
	pages := pageNames[1:]
	for _, replaced := range pageNames {
		t.Run(replaced, func(t *testing.T) {
			orig, err := templateFS.ReadFile("templates/" + replaced)
			if err != nil {
				t.Fatal(err)
			}
			marker := "<p>ACME " + replaced + "</p>"
			src := strings.Replace(string(orig), `{{template "head" .}}`, `{{template "head" .}}`+marker, 1)
			if replaced == baseName {
				// A branded head: the marker inside "head", which every page uses.
				src = strings.Replace(string(orig), "<main>", "<main>"+marker, 1)
			}
			if src == string(orig) {
				t.Fatal("no place for the marker")
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, replaced), []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			p, err := LoadPages(dir)
			if err != nil {
				t.Fatalf("LoadPages with %s replaced: %v", replaced, err)
			}
			for _, page := range pages {
				data, mustShow := samplePage(page)
				rec := httptest.NewRecorder()
				p.render(rec, 200, page, data)
				body := rec.Body.String()
				if rec.Code != 200 || !strings.HasPrefix(body, "<!doctype html>") || !strings.HasSuffix(strings.TrimSpace(body), "</html>") {
					t.Fatalf("%s with %s replaced: %d\n%s", page, replaced, rec.Code, body)
				}
				if want := replaced == baseName || replaced == page; want != strings.Contains(body, marker) {
					t.Fatalf("%s with %s replaced: marker shown %v, want %v", page, replaced, !want, want)
				}
				for what, v := range mustShow {
					if !strings.Contains(body, v) {
						t.Fatalf("%s with %s replaced lacks %s", page, replaced, what)
					}
				}
			}
		})
	}
}

// A broken template fails at load, naming the file and html/template's
// error; so does a page that would drop what its form needs.
func TestTemplatesBroken(t *testing.T) {
	for _, c := range []struct{ file, src, want string }{
		{"base.html", `{{define "head"}}<html>{{.Nope.}}{{end}}`, `base.html: template: base.html:1: unexpected`},
		{"base.html", `{{define "head"}}<!doctype html>{{end}}`, `no such template "foot"`},
		{"login.html", `{{template "head" .}}{{if}}{{template "foot"}}`, `login.html: template: login.html:1: missing value for if`},
		{"consent.html", `{{template "head" .}}{{template "nope" .}}{{template "foot"}}`, `no such template "nope"`},
		{"oob.html", `{{template "head" .}}<p>{{.ClientName}}</p>{{template "foot"}}`, `never shows {{.Code}}`},
		{"login.html", `{{template "head" .}}<form method="post">{{template "params" .Params}}</form>{{template "foot"}}`, `never shows {{.CSRF}}`},
		{"error.html", `{{template "head" .}}{{.Title | nosuchfunc}}{{template "foot"}}`, `function "nosuchfunc" not defined`},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.src), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadPages(dir)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, c.file)) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q: %v, want the path and %q", c.file, c.src, err, c.want)
		}
	}
	if _, err := LoadPages(t.TempDir()); err == nil || !strings.Contains(err.Error(), "none of base.html") {
		t.Errorf("empty dir: %v", err)
	}
}

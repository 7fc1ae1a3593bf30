package authz

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the templates an operator may replace (`templates DIR`).
var pageNames = []string{"base.html", "login.html", "consent.html", "error.html", "oob.html"}

// Pages renders the HTML pages of the authorization endpoint.
type Pages struct{ t *template.Template }

// LoadPages parses the embedded templates, then those of the same names
// found in dir (when dir is not empty), which replace them.
func LoadPages(dir string) (*Pages, error) {
	t, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	if dir != "" {
		found := 0
		for _, name := range pageNames {
			p := filepath.Join(dir, name)
			src, err := os.ReadFile(p)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("templates %s: %v", dir, err)
			}
			if _, err := t.New(name).Parse(string(src)); err != nil {
				return nil, fmt.Errorf("templates %s: %v", p, err)
			}
			found++
		}
		if found == 0 {
			return nil, fmt.Errorf("templates %s: none of %v found", dir, pageNames)
		}
	}
	// Render every page once with empty data, so a broken template fails at
	// start instead of on a user's screen.
	for _, name := range pageNames[1:] {
		if err := t.ExecuteTemplate(new(bytes.Buffer), name, map[string]any{}); err != nil {
			return nil, fmt.Errorf("template %s: %v", name, err)
		}
	}
	return &Pages{t: t}, nil
}

// pageHeaders are sent with every HTML page: never cached, never framed
// (CONFORMANCE A9), no external fetches.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'")
}

func (p *Pages) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := p.t.ExecuteTemplate(&buf, name, data); err != nil {
		pageHeaders(w)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("<!doctype html><title>Error</title><p>The page could not be rendered.</p>"))
		return
	}
	pageHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage shows an error without redirecting anywhere (CONFORMANCE A1).
func (p *Pages) errorPage(w http.ResponseWriter, status int, title, message string) {
	p.render(w, status, "error.html", map[string]any{"Title": title, "Message": message})
}

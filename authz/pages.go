// The authorization endpoint's HTML pages: embedded templates, operator overrides and rendering.

package authz

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

// baseName is the file that defines what every page shares ("head", "foot",
// "params"); the others are the pages themselves.
const baseName = "base.html"

// pageNames are the templates an operator may replace (`templates DIR`).
var pageNames = []string{baseName, "login.html", "consent.html", "error.html", "oob.html", "logout.html"}

// Pages renders the HTML pages of the authorization endpoint.
type Pages struct{ pages map[string]*template.Template }

// LoadPages builds the pages from the embedded templates, each file of the
// same name found in dir (when dir is not empty) replacing its embedded
// twin. Each page is its own template set — base.html, then the page — so any
// subset of the files can be replaced, and a page may redefine what base.html
// defines. Every page is rendered once with sample data, so a broken
// template fails at start (caddy validate) naming the file, not on a user's
// screen.
func LoadPages(dir string) (*Pages, error) {
	src := map[string]string{}
	file := map[string]string{} // where each source came from, for errors
	for _, name := range pageNames {
		b, err := templateFS.ReadFile("templates/" + name)
		if err != nil {
			return nil, err
		}
		src[name], file[name] = string(b), name
	}
	if dir != "" {
		found := 0
		for _, name := range pageNames {
			p := filepath.Join(dir, name)
			b, err := os.ReadFile(p)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("templates %s: %v", dir, err)
			}
			src[name], file[name] = string(b), p
			found++
		}
		if found == 0 {
			return nil, fmt.Errorf("templates %s: none of %s found", dir, strings.Join(pageNames, ", "))
		}
	}
	ps := &Pages{pages: map[string]*template.Template{}}
	for _, name := range pageNames[1:] {
		// The page is the set's root (a second template of the root's name
		// would leave the root empty); base.html is parsed first, so the
		// page's own definitions win.
		t := template.New(name)
		if _, err := t.New(baseName).Parse(src[baseName]); err != nil {
			return nil, fmt.Errorf("templates: %s: %v", file[baseName], err)
		}
		if _, err := t.Parse(src[name]); err != nil {
			return nil, fmt.Errorf("templates: %s: %v", file[name], err)
		}
		data, mustShow := samplePage(name)
		var out bytes.Buffer
		if err := t.ExecuteTemplate(&out, name, data); err != nil {
			return nil, fmt.Errorf("templates: %s (with %s): %v", file[name], file[baseName], err)
		}
		for what, v := range mustShow {
			if !strings.Contains(out.String(), v) {
				return nil, fmt.Errorf("templates: %s (with %s) never shows %s; the page cannot work without it", file[name], file[baseName], what)
			}
		}
		ps.pages[name] = t
	}
	return ps, nil
}

// samplePage is data shaped like what the authorization endpoint passes to
// page name, and the values the rendered page must contain to work.
func samplePage(name string) (data map[string]any, mustShow map[string]string) {
	params := []map[string]string{{"Name": "client_id", "Value": "sample-client-id"}}
	paramsShown := `the request's parameters ({{template "params" .Params}})`
	switch name {
	case "login.html":
		return map[string]any{"Title": "Sign in", "ClientName": "Sample", "Params": params,
				"CSRF": "sample-csrf-token", "Username": "alice", "Error": "Wrong username or password."},
			map[string]string{`{{.CSRF}} (in the hidden field oauthgate_csrf)`: "sample-csrf-token", paramsShown: "sample-client-id"}
	case "consent.html":
		return map[string]any{"Title": "Authorize Sample", "ClientName": "Sample", "ClientID": "sample",
				"Subject": "alice", "Scopes": []Scope{{Name: "api", Description: "Use the API"}},
				"RedirectHost": "app.example", "Params": params, "CSRF": "sample-csrf-token",
				"Registered": true, "DocumentHost": "app.example", "ClientURI": "https://app.example", "LogoURI": "https://app.example/logo.png"},
			map[string]string{`{{.CSRF}} (in the hidden field oauthgate_csrf)`: "sample-csrf-token", paramsShown: "sample-client-id"}
	case "logout.html":
		return map[string]any{"Title": "Sign out", "Subject": "alice", "ClientName": "Sample", "Params": params,
				"CSRF": "sample-csrf-token", "Error": "The page to return to is not registered for the application."},
			map[string]string{`{{.CSRF}} (in the hidden field oauthgate_csrf)`: "sample-csrf-token", paramsShown: "sample-client-id"}
	case "oob.html":
		return map[string]any{"Title": "Authorization code", "ClientName": "Sample", "Code": "ogc_sample-code",
			"ExpiresIn": "2m0s"}, map[string]string{"{{.Code}}": "ogc_sample-code"}
	}
	return map[string]any{"Title": "Error", "Message": "Something went wrong."}, nil
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
	if err := p.pages[name].ExecuteTemplate(&buf, name, data); err != nil {
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

// refusal is an error page to answer with: its status, title and message,
// and when the request may be tried again (Retry-After).
type refusal struct {
	status     int
	title, msg string
	retryAfter time.Duration
}

func badRequest(title, msg string) *refusal {
	return &refusal{status: http.StatusBadRequest, title: title, msg: msg}
}

// refuse shows r, its message followed by more (a sentence, or "").
func (p *Pages) refuse(w http.ResponseWriter, r *refusal, more string) {
	SetRetryAfter(w, r.retryAfter)
	msg := r.msg
	if more != "" {
		msg += " " + more
	}
	p.errorPage(w, r.status, r.title, msg)
}

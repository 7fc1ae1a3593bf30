// RFC 9728 protected resource metadata: the documents oauthgate_server serves, the challenge's resource_metadata, a route's issuers.

package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

// pathResourceMetadata prefixes the RFC 9728 protected resource metadata
// documents oauthgate_server serves (§3.1: inserted before the resource's path).
const pathResourceMetadata = "/.well-known/oauth-protected-resource"

// ResourceMetadata is an RFC 9728 protected resource metadata document
// (CONFORMANCE X5).
type ResourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers,omitempty"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
}

// resources are the RFC 9728 documents of the config's protected routes,
// by the request path they are served at; several handlers naming one
// resource (e.g. stacked per-method checks) add up to one document.
type resources struct {
	mu   sync.RWMutex
	docs map[string][]*ResourceMetadata
}

// metadataPath is where the document of resource is served, and its
// absolute URL (RFC 9728 §3.1).
func metadataPath(resource string) (path, full string, err error) {
	if err := authz.CheckTrustURL(resource); err != nil {
		return "", "", fmt.Errorf("resource: %v", err)
	}
	u, _ := url.Parse(resource)
	if u.RawQuery != "" {
		return "", "", fmt.Errorf("resource %q: use a URL without a query", resource)
	}
	path = pathResourceMetadata + strings.TrimSuffix(u.EscapedPath(), "/")
	return path, u.Scheme + "://" + u.Host + path, nil
}

// addResource registers a protect handler's resource.
func (a *App) addResource(p *Protect) error {
	path, _, err := metadataPath(p.Resource)
	if err != nil {
		return err
	}
	a.bound.Add(p.Resource)
	methods := []string{"header"}
	if p.AllowQueryToken {
		methods = append(methods, "query")
	}
	if a.resources == nil {
		a.resources = &resources{}
	}
	a.resources.mu.Lock()
	defer a.resources.mu.Unlock()
	if a.resources.docs == nil {
		a.resources.docs = map[string][]*ResourceMetadata{}
	}
	var doc *ResourceMetadata
	for _, d := range a.resources.docs[path] {
		if d.Resource == p.Resource {
			doc = d
		}
	}
	if doc == nil {
		doc = &ResourceMetadata{Resource: p.Resource}
		a.resources.docs[path] = append(a.resources.docs[path], doc)
	}
	doc.AuthorizationServers = union(doc.AuthorizationServers, a.authorizationServers(p.policy.Issuers))
	doc.ScopesSupported = union(doc.ScopesSupported, p.Scopes)
	doc.BearerMethodsSupported = union(doc.BearerMethodsSupported, methods)
	if doc.ResourceName == "" {
		doc.ResourceName = p.ResourceName
	}
	return nil
}

func union(a, b []string) []string {
	for _, x := range b {
		if !slices.Contains(a, x) {
			a = append(a, x)
		}
	}
	return a
}

// serveResourceMetadata answers GET /.well-known/oauth-protected-resource<path>
// for a configured resource; it reports whether it answered.
func (a *App) serveResourceMetadata(w http.ResponseWriter, r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, pathResourceMetadata) || a.resources == nil {
		return false
	}
	a.resources.mu.RLock()
	docs := a.resources.docs[r.URL.EscapedPath()]
	var doc *ResourceMetadata
	for _, d := range docs {
		if u, err := url.Parse(d.Resource); err == nil && strings.EqualFold(u.Host, r.Host) {
			doc = d
		}
	}
	if doc == nil && len(docs) == 1 {
		doc = docs[0]
	}
	var body []byte
	if doc != nil {
		body, _ = json.Marshal(doc)
	}
	a.resources.mu.RUnlock()
	if doc == nil {
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(body)
	return true
}

// provisionTrust sets the handler's issuers, resource and realm.
func (p *Protect) provisionTrust(app *App) error {
	issuers, err := app.routeIssuers(p.Issuers)
	if err != nil {
		return err
	}
	p.policy.Issuers = issuers
	p.introspects = app.trust != nil && len(app.trust.Introspecting(issuers)) > 0
	app.warnIntrospectedInTurn(p.logger, issuers)
	p.hIssuer = http.CanonicalHeaderKey(p.HeaderPrefix + "Issuer")
	if p.Resource != "" {
		_, full, err := metadataPath(p.Resource)
		if err != nil {
			return fmt.Errorf("oauthgate_protect: %v", err)
		}
		p.resourceMetadata = full
		if err := app.addResource(p); err != nil {
			return fmt.Errorf("oauthgate_protect: %v", err)
		}
	}
	if p.Realm == "" {
		switch {
		case app.server != nil:
			p.Realm = app.server.Issuer()
		case p.Resource != "":
			p.Realm = p.Resource
		default:
			p.Realm = "oauthgate"
		}
	}
	p.byIssuer = map[string][2]prometheus.Counter{}
	for _, label := range append([]string{"self", "none"}, app.authorizationServers(nil)...) {
		p.byIssuer[label] = [2]prometheus.Counter{
			app.trustMetrics.decisions.WithLabelValues(label, "allowed"),
			app.trustMetrics.decisions.WithLabelValues(label, "refused"),
		}
	}
	return nil
}

// withResourceMetadata adds RFC 9728's resource_metadata to a challenge.
func (p *Protect) withResourceMetadata(challenge string) string {
	if p.resourceMetadata == "" {
		return challenge
	}
	return challenge + `, resource_metadata="` + p.resourceMetadata + `"`
}

// countIssuer counts a decision by the issuer that made it.
func (p *Protect) countIssuer(id *authz.Principal, e *authz.Error) {
	if e != nil {
		p.byIssuer[p.app.issuerLabel(e.Issuer)][1].Inc()
		return
	}
	p.byIssuer[p.app.principalLabel(id)][0].Inc()
}

// principalLabel is the issuer label of a verified principal.
func (a *App) principalLabel(id *authz.Principal) string {
	if a.server != nil && id.Issuer == a.server.Issuer() {
		return "self"
	}
	return a.issuerLabel(id.Issuer)
}

// routeTrust describes a route's issuers and resource for explain.
func routeTrust(p *Protect) string {
	s := ", issuers [" + strings.Join(p.app.authorizationServers(p.policy.Issuers), " ") + "]"
	if p.acceptsTrusted() {
		s += " (a trusted issuer's tokens need its trust block's audience"
		if p.Resource != "" {
			s += " or the resource"
		}
		s += ")"
	}
	if p.Resource != "" {
		s += ", resource " + p.Resource + " (metadata " + p.resourceMetadata + ")"
	}
	return s
}

// explainIssuer says which issuer's key or introspection decided.
func (e *explainer) explainIssuer(p *Protect, id *authz.Principal) {
	label := p.app.principalLabel(id)
	how := id.DecidedBy
	if label == "self" {
		how = "this server's own keys or token store"
	}
	e.line("issuer: %s (%s), decided by %s", id.Issuer, label, how)
}

// decidedBy names the issuer of a refusal, when one decided.
func decidedBy(app *App, e *authz.Error) string {
	if l := app.issuerLabel(e.Issuer); l != "none" {
		return " [issuer " + l + "]"
	}
	return ""
}

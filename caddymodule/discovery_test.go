// Tests that every endpoint named in the RFC 8414 metadata answers as that endpoint, at each location.

package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// discoverySites are the layouts an operator writes: an issuer without a
// path, an issuer with a path served by oauthgate_server at the top level,
// and the same issuer under handle_path plus the lines that serve the
// RFC 8414 §3.1 location (README). Every other request reaches a catch-all
// answering 200, as sites often have, so a client that guesses an endpoint
// the metadata does not name would be fooled.
var discoverySites = []struct {
	name, path, site string
}{
	{"issuer without a path", "", `
	oauthgate_server
	handle {
		respond "catch-all" 200
	}`},
	{"issuer with a path, served by oauthgate_server", "/tenant", `
	oauthgate_server
	handle {
		respond "catch-all" 200
	}`},
	{"issuer with a path, under handle_path", "/tenant", `
	handle_path /tenant/* {
		oauthgate_server
		respond "catch-all" 200
	}
	handle /.well-known/oauth-authorization-server/tenant {
		oauthgate_server
	}
	handle {
		respond "catch-all" 200
	}`},
}

// wellKnown are the metadata locations for an issuer path: RFC 8414 §3.1
// (oauth4webapi and openid-client in oauth2 mode), OpenID Connect Discovery
// §4 (their default), and the RFC 8414 name appended to the issuer, which
// many clients read.
func wellKnown(base, path string) []string {
	return []string{
		base + "/.well-known/oauth-authorization-server" + path,
		base + path + "/.well-known/openid-configuration",
		base + path + "/.well-known/oauth-authorization-server",
	}
}

// A client reads the whole metadata document: every member that names an
// endpoint (*_endpoint, *_uri) is an absolute URL under the issuer, and each
// one is called the way a client calls it and answers as that endpoint —
// never the catch-all, never a 404. No member is an empty string. The
// document is the same at every well-known location.
// CONFORMANCE V3
func TestMetadataEndpointsAnswer_V3(t *testing.T) {
	for _, site := range discoverySites {
		t.Run(site.name, func(t *testing.T) {
			g := newGateway(t)
			issuer := g.base + site.path
			g.load(authcodeApp(t, issuer, ""), site.site)
			var doc string
			for _, u := range wellKnown(g.base, site.path) {
				resp, body := call(t, "GET", u, nil, "")
				if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
					t.Fatalf("GET %s: %d %s %q", u, resp.StatusCode, resp.Header.Get("Content-Type"), body)
				}
				if doc != "" && body != doc {
					t.Fatalf("%s serves another document:\n%s\n%s", u, body, doc)
				}
				doc = body
			}
			m := decodeJSON(t, doc)
			if m["issuer"] != issuer {
				t.Fatalf("issuer %v, want %s", m["issuer"], issuer)
			}
			var names []string
			for k, v := range m {
				if s, ok := v.(string); ok && s == "" {
					t.Errorf("%s is an empty string; a member that does not apply must be left out", k)
				}
				if strings.HasSuffix(k, "_endpoint") || strings.HasSuffix(k, "_uri") {
					names = append(names, k)
				}
			}
			sort.Strings(names)
			want := "authorization_endpoint end_session_endpoint introspection_endpoint jwks_uri revocation_endpoint token_endpoint userinfo_endpoint"
			if got := strings.Join(names, " "); got != want {
				t.Fatalf("endpoints in the metadata: %s, want %s", got, want)
			}
			for _, k := range []string{"revocation_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported"} {
				if l, ok := m[k].([]any); !ok || len(l) == 0 || l[0] != "client_secret_basic" {
					t.Errorf("%s: %v", k, m[k])
				}
			}
			for _, k := range names {
				u, _ := m[k].(string)
				if !strings.HasPrefix(u, issuer+"/") {
					t.Fatalf("%s %q is not an absolute URL under the issuer", k, u)
				}
				callEndpoint(t, k, u)
			}
		})
	}
}

// callEndpoint calls the endpoint a metadata member names, as a client
// would, and checks it answered as that endpoint.
func callEndpoint(t *testing.T, member, u string) {
	t.Helper()
	basic := "Basic " + basicOf("postman", postmanSecret)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic}
	var resp *http.Response
	var body string
	ok := false
	switch member {
	case "authorization_endpoint":
		q := url.Values{"response_type": {"code"}, "client_id": {"postman"}, "redirect_uri": {clientCallback}, "scope": {"api_v3"}}
		resp, body = call(t, "GET", u+"?"+q.Encode(), nil, "")
		ok = resp.StatusCode == 200 && strings.Contains(body, `name="oauthgate_password"`)
	case "token_endpoint":
		resp, body = call(t, "POST", u, form, "grant_type=authorization_code&code=ogc_unknown&redirect_uri="+url.QueryEscape(clientCallback))
		ok = resp.StatusCode == 400 && decodeJSON(t, body)["error"] == "invalid_grant"
	case "revocation_endpoint":
		resp, body = call(t, "POST", u, form, "token=ogr_unknown")
		ok = resp.StatusCode == 200 && resp.Header.Get("Cache-Control") == "no-store"
	case "introspection_endpoint":
		resp, body = call(t, "POST", u, form, "token=oga_unknown")
		ok = resp.StatusCode == 200 && strings.TrimSpace(body) == `{"active":false}`
	case "jwks_uri":
		resp, body = call(t, "GET", u, nil, "")
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		ok = resp.StatusCode == 200 && json.Unmarshal([]byte(body), &set) == nil && len(set.Keys) > 0 && set.Keys[0]["kid"] != nil
	case "userinfo_endpoint": // CONFORMANCE I3, I5
		resp, body = call(t, "GET", u, nil, "")
		ok = resp.StatusCode == 401 && strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ")
	case "end_session_endpoint": // CONFORMANCE I4, I5
		resp, body = call(t, "GET", u, nil, "")
		ok = resp.StatusCode == 200 && strings.Contains(body, "signed out")
	default:
		t.Fatalf("the metadata names %s (%s), which this test does not know how to call: add it", member, u)
	}
	if !ok {
		t.Fatalf("%s %s did not answer as that endpoint: %d %q", member, u, resp.StatusCode, body)
	}
}

func basicOf(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
}

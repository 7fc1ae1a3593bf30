// Tests of RFC 8414 metadata at both well-known paths, and of the JWKS publishing public keys only.

package authz

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// CONFORMANCE V3: RFC 8414 metadata at both well-known paths, issuer byte for byte.
func TestMetadata_V3(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Issuer = "https://Auth.Example.com:8443/tenant" })
	var docs []string
	for _, p := range []string{PathMetadata, PathOIDCMetadata} {
		rec := f.do(httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %d %s", p, rec.Code, rec.Header().Get("Content-Type"))
		}
		docs = append(docs, rec.Body.String())
	}
	if docs[0] != docs[1] {
		t.Fatal("the two well-known documents differ")
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(docs[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m["issuer"] != "https://Auth.Example.com:8443/tenant" {
		t.Fatalf("issuer %v is not the configured string", m["issuer"])
	}
	if m["token_endpoint"] != "https://Auth.Example.com:8443/tenant/oauth/token" || m["jwks_uri"] != "https://Auth.Example.com:8443/tenant/oauth/jwks" {
		t.Fatalf("endpoints %v %v", m["token_endpoint"], m["jwks_uri"])
	}
	for k, want := range map[string]string{
		"authorization_endpoint": "/oauth/authorize", "revocation_endpoint": "/oauth/revoke",
		"introspection_endpoint": "/oauth/introspect",
	} {
		if m[k] != "https://Auth.Example.com:8443/tenant"+want {
			t.Fatalf("%s %v", k, m[k])
		}
	}
	for k, v := range m {
		if v == "" {
			t.Fatalf("%s is an empty string", k)
		}
	}
	for _, k := range []string{"scopes_supported", "response_types_supported", "grant_types_supported", "token_endpoint_auth_methods_supported",
		"revocation_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported", "code_challenge_methods_supported"} {
		if l, ok := m[k].([]any); !ok || len(l) == 0 {
			t.Fatalf("%s missing or empty", k)
		}
	}
	if got, _ := json.Marshal(m["scopes_supported"]); string(got) != `["api_v3","bcf_v2_1","admin","openid","profile","email"]` {
		t.Fatalf("scopes_supported %s", got)
	}
	// The issuer's path: endpoints under it and bare (handle_path), the
	// metadata also at the RFC 8414 §3.1 location; nothing else.
	for path, want := range map[string]string{
		"/.well-known/oauth-authorization-server/tenant": PathMetadata,
		"/tenant/.well-known/openid-configuration":       PathOIDCMetadata,
		"/tenant/oauth/token":                            PathToken,
		"/oauth/token":                                   PathToken,
		"/tenant/oauth/authorize":                        PathAuthorize,
		"/.well-known/oauth-authorization-server/other":  "",
		"/tenantx/oauth/token":                           "",
		"/tenant/tenant/oauth/token":                     "",
		"/tenant":                                        "",
	} {
		if got := f.srv.EndpointPath(path); got != want {
			t.Errorf("EndpointPath(%q) = %q, want %q", path, got, want)
		}
	}
	if rec := f.do(httptest.NewRequest("POST", PathMetadata, nil)); rec.Code != 405 {
		t.Fatalf("POST metadata: %d", rec.Code)
	}
}

// CONFORMANCE K3 (JWKS half): public keys only, every key, with kid and alg.
func TestJWKSPublishesPublicKeysOnly_K3(t *testing.T) {
	k1, _ := GenerateKey(AlgES256)
	k2, _ := GenerateKey(AlgRS256)
	f := newFixture(t, func(c *Config) { c.Keys, _ = NewKeySet(k1, k2) })
	rec := f.do(httptest.NewRequest("GET", PathJWKS, nil))
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("JWKS %s: %v", rec.Body, err)
	}
	for i, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS key %d publishes private member %q", i, private)
			}
		}
		if k["kid"] != []*SigningKey{k1, k2}[i].Kid || k["use"] != "sig" {
			t.Fatalf("key %d: %v", i, k)
		}
	}
}

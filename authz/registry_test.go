package authz

import (
	"crypto/rand"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// With bcrypt client secrets configured, an unknown client id pays a bcrypt
// comparison of the same cost as a wrong secret.
func TestDecoyMatchesTheCostliestSecret(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("a human secret"), 6)
	sh, err := ParseSecretHash(string(h))
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{ID: "legacy", Grants: []string{GrantClientCredentials}}
	c.SetSecret(sh)
	r := &Registry{Static: StaticClients{"legacy": c}}
	d := r.decoySecret()
	if d.bcrypt == nil {
		t.Fatal("decoy is not bcrypt although a client secret is")
	}
	if cost, _ := bcrypt.Cost(d.bcrypt); cost != 6 {
		t.Fatalf("decoy cost %d, want 6", cost)
	}
	if plain := (&Registry{Static: StaticClients{}}).decoySecret(); plain.sha == nil {
		t.Fatal("without bcrypt secrets the decoy is SHA-256")
	}
}

// JSON bodies with invalid UTF-8 are refused like form bodies.
func TestJSONBodyInvalidUTF8(t *testing.T) {
	f := newFixture(t)
	req := httptest.NewRequest("POST", PathToken, strings.NewReader("{\"grant_type\":\"client_credentials\",\"x\":\"\xff\"}"))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("reporting", testSecret)
	wantError(t, f.do(req), 400, "invalid_request")
}

// A dynamic client deleted and created again under the same id does not
// revive its predecessor's refresh tokens, not even in introspection.
func TestRecreatedClientRefreshTokenInactive(t *testing.T) {
	f, _ := flowFixture(t)
	reg := f.srv.Registry()
	view, _, err := reg.Create(t.Context(), tokenstore.Client{ID: "dyn", Grants: []string{GrantAuthorizationCode, GrantRefreshToken},
		Scopes: []string{"api_v3"}, RedirectURIs: []string{"https://dyn.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	// A refresh token of "dyn", as the store would hold it.
	rt, _ := NewOpaqueToken(rand.Reader, PrefixRefresh)
	g := tokenstore.Grant{ClientID: view.ID, Subject: "alice", Scopes: []string{"api_v3"}, IssuedAt: f.clock.Now(),
		ExpiresAt: f.clock.Now().Add(time.Hour), FamilyID: "fam-dyn"}
	if err := f.store.PutRefresh(t.Context(), tokenstore.KeyOf(rt), g); err != nil {
		t.Fatal(err)
	}
	introspect := func() map[string]any {
		return decode(t, f.post(PathIntrospect, "oro", "oro-secret-0123456789", url.Values{"token": {rt}}))
	}
	if m := introspect(); m["active"] != true {
		t.Fatalf("live refresh token: %v", m)
	}
	f.clock.Advance(2 * time.Second)
	if err := reg.Delete(t.Context(), "dyn"); err != nil {
		t.Fatal(err)
	}
	reg.Now = f.clock.Now
	if _, _, err := reg.Create(t.Context(), tokenstore.Client{ID: "dyn", Grants: []string{GrantAuthorizationCode, GrantRefreshToken},
		Scopes: []string{"api_v3"}, RedirectURIs: []string{"https://dyn.example/cb"}}); err != nil {
		t.Fatal(err)
	}
	if m := introspect(); m["active"] != false {
		t.Fatalf("refresh token of a deleted client's predecessor: %v", m)
	}
}

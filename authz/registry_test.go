// Tests of the client registry: decoy secrets, recreated clients, generated ids and failure events.

package authz

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
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

// Issue 17 item 5: a dynamic client deleted and at once created again under
// the same id (within the second of its last token: iat has whole seconds)
// does not revive the tokens of its predecessor, JWT or opaque, while the
// new client's own tokens work. Delete returns only when its second is over.
// CONFORMANCE M2
func TestRecreatedClientInTheSameSecondRevivesNothing(t *testing.T) {
	for _, format := range []TokenFormat{FormatJWT, FormatOpaque} {
		t.Run(string(format), func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.Format = format })
			reg := f.srv.Registry()
			reg.Sleep = f.clock.Advance
			f.clock.Advance(100 * time.Millisecond)
			create := func() string {
				_, secret, err := reg.Create(t.Context(), tokenstore.Client{ID: "dyn", Grants: []string{GrantClientCredentials}, Scopes: []string{"api_v3"}})
				if err != nil {
					t.Fatal(err)
				}
				return secret
			}
			token := func(secret string) string {
				rec := f.post(PathToken, "dyn", secret, url.Values{"grant_type": {"client_credentials"}})
				if rec.Code != 200 {
					t.Fatalf("token: %d %s", rec.Code, rec.Body)
				}
				return decode(t, rec)["access_token"].(string)
			}
			old := token(create())
			if _, err := f.srv.Verifier().Verify(t.Context(), old); err != nil {
				t.Fatalf("the first client's token: %v", err)
			}
			f.clock.Advance(300 * time.Millisecond)
			deleted := f.clock.Now()
			if err := reg.Delete(t.Context(), "dyn"); err != nil {
				t.Fatal(err)
			}
			if f.clock.Now().Sub(deleted) > time.Second {
				t.Fatalf("Delete waited %v, want less than a second", f.clock.Now().Sub(deleted))
			}
			secret := create() // at once: the earliest a caller can
			fresh := token(secret)
			if _, err := f.srv.Verifier().Verify(t.Context(), old); err == nil {
				t.Fatal("a token of the deleted client is valid again for the client re-created in the same second")
			}
			if _, err := f.srv.Verifier().Verify(t.Context(), fresh); err != nil {
				t.Fatalf("the re-created client's own token, same second: %v", err)
			}
			f.clock.Advance(2 * time.Second)
			if _, err := f.srv.Verifier().Verify(t.Context(), old); err == nil {
				t.Fatal("a token of the deleted client is valid again later")
			}
		})
	}
}

// Issue 17 item 18: a generated client id never starts with '-', which the
// CLI (and most command lines) would read as a flag.
func TestGeneratedClientIDsAreNotFlags(t *testing.T) {
	f := newFixture(t)
	// The first 16 random bytes make an id starting with '-' (0xf8: the
	// base64url digit 62); the registry must draw again.
	dash := bytes.Repeat([]byte{0xf8}, 16)
	if id, _ := newID(bytes.NewReader(dash)); !strings.HasPrefix(id, "-") {
		t.Fatalf("the test's bytes give %q", id)
	}
	reg := &Registry{Static: f.clients, Records: f.store.Store.(tokenstore.ClientRecords), Catalog: f.srv.cfg.Scopes,
		Rand: io.MultiReader(bytes.NewReader(dash), rand.Reader), Now: f.clock.Now}
	v, _, err := reg.Create(t.Context(), tokenstore.Client{Grants: []string{GrantClientCredentials}, Scopes: []string{"api_v3"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(v.ID, "-") || !validID(v.ID) {
		t.Fatalf("generated client id %q", v.ID)
	}
}

// Issue 17 item 18: failed client authentication is reported with the
// client id that was presented and the caller's address; a failed sign-in
// as a sign-in, with the user and the address.
// CONFORMANCE O2
func TestFailedAuthenticationEventsNameWhoAndWhere(t *testing.T) {
	var mu sync.Mutex
	var events []Event
	f, srv := flowFixture(t, fromAddr, func(c *Config) {
		c.Observe = func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
	})
	req := formReq(PathToken, url.Values{"grant_type": {"client_credentials"}})
	req.SetBasicAuth("oro", "wrong")
	req.Header.Set("X-Test-Addr", "203.0.113.9")
	wantError(t, f.do(req), 401, "invalid_client")
	signIn(t, srv, browserAt(t, "198.51.100.4"), "alice", "wrong")
	mu.Lock()
	defer mu.Unlock()
	var client, login bool
	for _, e := range events {
		switch e.Kind {
		case "client_auth_failed":
			client = e.ClientID == "oro" && e.Address == "203.0.113.9" && e.Error == "invalid_client"
		case "login_failed":
			login = e.Subject == "alice" && e.ClientID == "app" && e.Address == "198.51.100.4"
		}
	}
	if !client || !login {
		t.Fatalf("events %+v: client authentication %v, sign-in %v", events, client, login)
	}
}

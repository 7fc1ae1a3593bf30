// Tests of RFC 7591 registration (CONFORMANCE G1): the answer, each refusal with nothing stored, limits, expiry, PKCE.

package authz

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// openRegistration is the registration block of most tests.
func openRegistration(c *Config) {
	c.Registration = RegistrationConfig{Mode: RegistrationOpen, Scopes: []string{"api_v3", "bcf_v2_1"}}
}

// regServer serves authorize, token and register over HTTP with a user alice/pw.
func regServer(t *testing.T, opts ...fixtureOpt) (*fixture, *httptest.Server) {
	t.Helper()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users, _ := NewStaticUsers(map[string]string{"alice": string(hash)})
	f := newFixture(t, append([]fixtureOpt{func(c *Config) { c.Users = users }}, opts...)...)
	authorize, err := f.srv.AuthorizeHandler(AuthorizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logout, err := f.srv.LogoutHandler(AuthorizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(PathAuthorize, authorize)
	mux.Handle(PathLogout, logout)
	for _, p := range []string{PathToken, PathRegister, PathMetadata} {
		if h := f.srv.Handler(p); h != nil {
			mux.Handle(p, h)
		}
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

// register posts body to /oauth/register through the fixture's handler.
func (f *fixture) register(body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, PathRegister, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return f.do(req)
}

// registered counts the registered clients in the store.
func (f *fixture) registered(t *testing.T) int {
	t.Helper()
	recs, err := f.store.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Registered {
			n++
		}
	}
	return n
}

func pkcePair(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

const testVerifier = "a-long-enough-code-verifier-of-at-least-43-characters-0123456789"

// codeFlow runs the browser flow for client with PKCE S256 and redeems the
// code as a public client; it returns the token response.
func codeFlow(t *testing.T, srv *httptest.Server, clientID, redirect string) map[string]any {
	t.Helper()
	b := testutil.NewBrowser(t)
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"s1"},
		"code_challenge": {pkcePair(testVerifier)}, "code_challenge_method": {"S256"}}
	p := b.LoginAndAllow(srv.URL+PathAuthorize+"?"+q.Encode(), "alice", "pw")
	loc, _ := url.Parse(p.Header.Get("Location"))
	code := loc.Query().Get("code")
	if p.Status != http.StatusFound || code == "" || !strings.HasPrefix(loc.String(), redirect) {
		t.Fatalf("no code: %d %s %s", p.Status, loc, p.Body)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
		"client_id": {clientID}, "code_verifier": {testVerifier}}
	resp, err := http.PostForm(srv.URL+PathToken, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != http.StatusOK || m["access_token"] == nil {
		t.Fatalf("token: %d %v", resp.StatusCode, m)
	}
	return m
}

// CONFORMANCE G1
// A public client registers (201, RFC 7591 §3.2.1), is
// stored flagged registered, and completes a code flow with PKCE; the
// consent page says it registered itself.
func TestRegister_G1_PublicClientCodeFlow(t *testing.T) {
	f, srv := regServer(t, openRegistration)
	rec := f.register(`{"redirect_uris":["http://127.0.0.1/cb","com.example.app:/cb"],"client_name":"Agent X",
		"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"],
		"scope":"api_v3","client_uri":"https://agent.example","logo_uri":"https://agent.example/logo.png",
		"software_id":"agent-x","software_version":"1.2","contacts":["ignored@example.com"]}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Error("registration answer is cacheable")
	}
	m := decode(t, rec)
	id, _ := m["client_id"].(string)
	if id == "" || m["client_secret"] != nil || m["client_id_issued_at"] != float64(f.clock.Now().Unix()) ||
		m["client_name"] != "Agent X" || m["token_endpoint_auth_method"] != "none" || m["scope"] != "api_v3" ||
		m["software_id"] != "agent-x" || m["logo_uri"] != "https://agent.example/logo.png" {
		t.Fatalf("answer: %v", m)
	}
	stored, err := f.srv.Registry().Get(t.Context(), id)
	if err != nil || !stored.Registered || !stored.Public || stored.ClientURI != "https://agent.example" {
		t.Fatalf("stored: %+v %v", stored, err)
	}
	// The consent page marks it; a port on the loopback redirect is free (RFC 8252).
	b := testutil.NewBrowser(t)
	q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {"http://127.0.0.1:5123/cb"},
		"code_challenge": {pkcePair(testVerifier)}, "code_challenge_method": {"S256"}}
	p := b.Get(srv.URL + PathAuthorize + "?" + q.Encode())
	p = b.Submit(p, map[string]string{"oauthgate_username": "alice", "oauthgate_password": "pw", "oauthgate_action": "login"})
	if !strings.Contains(p.Body, "registered itself; its name is self-asserted") || !strings.Contains(p.Body, "Agent X") {
		t.Fatalf("consent page does not mark the registered client: %s", p.Body)
	}
	tok := codeFlow(t, srv, id, "http://127.0.0.1:5123/cb")
	if tok["refresh_token"] == nil {
		t.Errorf("no refresh token: %v", tok)
	}
}

// CONFORMANCE G1
// A confidential client gets a generated secret (shown
// once, client_secret_expires_at 0) that authenticates it.
func TestRegister_G1_ConfidentialClient(t *testing.T) {
	f, _ := regServer(t, openRegistration)
	rec := f.register(`{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"client_secret_post"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	m := decode(t, rec)
	secret, _ := m["client_secret"].(string)
	if len(secret) < 43 || m["client_secret_expires_at"] != float64(0) || m["grant_types"].([]any)[0] != "authorization_code" ||
		m["response_types"].([]any)[0] != "code" || m["scope"] != "api_v3 bcf_v2_1" {
		t.Fatalf("answer: %v", m)
	}
	c, err := f.srv.Registry().Client(t.Context(), m["client_id"].(string))
	if err != nil || !c.secret.Matches(secret) || c.Public {
		t.Fatalf("the secret does not authenticate the client: %v", err)
	}
}

// CONFORMANCE G1
// Every bad request is refused with its RFC 7591 §3.2.2
// error (400, JSON) and stores nothing.
func TestRegister_G1_BadInput(t *testing.T) {
	f, _ := regServer(t, openRegistration, func(c *Config) { c.Registration.Rate = 1000 }) // the rate has its own test
	ok := `"redirect_uris":["https://app.example/cb"]`
	for _, tc := range []struct {
		name, body, code string
	}{
		{"oversized body", `{` + ok + `,"client_name":"` + strings.Repeat("x", MaxRegistrationBody) + `"}`, "invalid_client_metadata"},
		{"malformed JSON", `{` + ok + `,}`, "invalid_client_metadata"},
		{"not an object", `[` + ok + `]`, "invalid_client_metadata"},
		{"trailing data", `{` + ok + `}{}`, "invalid_client_metadata"},
		{"wrong type", `{"redirect_uris":"https://app.example/cb"}`, "invalid_client_metadata"},
		{"unknown auth method", `{` + ok + `,"token_endpoint_auth_method":"private_key_jwt"}`, "invalid_client_metadata"},
		{"javascript redirect", `{"redirect_uris":["javascript:alert(1)"]}`, "invalid_redirect_uri"},
		{"data redirect", `{"redirect_uris":["data:text/html,hi"]}`, "invalid_redirect_uri"},
		{"http non-loopback redirect", `{"redirect_uris":["http://app.example/cb"]}`, "invalid_redirect_uri"},
		{"fragment", `{"redirect_uris":["https://app.example/cb#x"]}`, "invalid_redirect_uri"},
		{"out of band", `{"redirect_uris":["urn:ietf:wg:oauth:2.0:oob"]}`, "invalid_redirect_uri"},
		{"no redirect", `{"client_name":"x"}`, "invalid_redirect_uri"},
		{"client_credentials in open mode", `{` + ok + `,"grant_types":["client_credentials"],"response_types":[]}`, "invalid_client_metadata"},
		{"implicit", `{` + ok + `,"grant_types":["implicit"],"response_types":["token"]}`, "invalid_client_metadata"},
		{"response types disagree", `{` + ok + `,"response_types":["token"]}`, "invalid_client_metadata"},
		{"scope outside", `{` + ok + `,"scope":"api_v3 admin"}`, "invalid_client_metadata"},
		{"refresh without code", `{` + ok + `,"grant_types":["refresh_token"]}`, "invalid_client_metadata"},
		{"control characters in the name", `{` + ok + `,"client_name":"a\u0007b"}`, "invalid_client_metadata"},
		{"a bidi override in the name", `{` + ok + `,"client_name":"Good\u202egnp.exe"}`, "invalid_client_metadata"},
		{"a zero-width space in the name", `{` + ok + `,"client_name":"Pay\u200bPal"}`, "invalid_client_metadata"},
		{"http logo", `{` + ok + `,"logo_uri":"http://evil.example/x.png"}`, "invalid_client_metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.registered(t)
			rec := f.register(tc.body)
			wantError(t, rec, http.StatusBadRequest, tc.code)
			if f.registered(t) != before {
				t.Fatal("a refused registration was stored")
			}
		})
	}
	req := httptest.NewRequest(http.MethodPost, PathRegister, strings.NewReader(`{`+ok+`}`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	wantError(t, f.do(req), http.StatusBadRequest, "invalid_client_metadata")
	if rec := f.do(httptest.NewRequest(http.MethodGet, PathRegister, nil)); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", rec.Code)
	}
	if f.registered(t) != 0 {
		t.Fatal("refusals stored clients")
	}
}

// CONFORMANCE G1
// Client_credentials for clients that register themselves
// in mode open is refused when the server is built; mode token may allow it.
func TestRegister_G1_ClientCredentialsConfig(t *testing.T) {
	cat, _ := NewCatalog([]Scope{{Name: "api_v3"}})
	rc := RegistrationConfig{Mode: RegistrationOpen, Grants: []string{GrantClientCredentials}}
	if err := rc.Check(cat); err == nil || !strings.Contains(err.Error(), "client_credentials") {
		t.Fatalf("open mode with client_credentials: %v", err)
	}
	rc.Mode, rc.InitialAccessToken = RegistrationToken, "t"
	if err := rc.Check(cat); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []RegistrationConfig{{Mode: "sometimes"}, {Mode: RegistrationToken}, {Mode: RegistrationOpen, Scopes: []string{"nope"}}} {
		if err := bad.Check(cat); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// CONFORMANCE G1
// 10,000 registrations from one address: all but the
// configured rate are refused with 429 and store nothing.
func TestRegister_G1_RateLimit(t *testing.T) {
	f, _ := regServer(t, func(c *Config) {
		openRegistration(c)
		c.Registration.Rate, c.Registration.Window = 50, time.Hour
	})
	created, refused := 0, 0
	for i := range 10_000 {
		rec := f.register(fmt.Sprintf(`{"redirect_uris":["https://app.example/cb/%d"],"token_endpoint_auth_method":"none"}`, i))
		switch rec.Code {
		case http.StatusCreated:
			created++
		case http.StatusTooManyRequests:
			refused++
			if i == 9_999 {
				wantError(t, rec, http.StatusTooManyRequests, "too_many_requests")
				if rec.Header().Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
			}
		default:
			t.Fatalf("registration %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	if created != 50 || refused != 9_950 || f.registered(t) != 50 {
		t.Fatalf("created %d, refused %d, stored %d", created, refused, f.registered(t))
	}
	// Another address is not limited by the first one's.
	req := httptest.NewRequest(http.MethodPost, PathRegister, strings.NewReader(`{"redirect_uris":["https://app.example/cb"]}`))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "192.0.2.9:1234"
	if rec := f.do(req); rec.Code != http.StatusCreated {
		t.Fatalf("another address: %d %s", rec.Code, rec.Body)
	}
	f.clock.Advance(time.Hour)
	if rec := f.register(`{"redirect_uris":["https://app.example/cb"]}`); rec.Code != http.StatusCreated {
		t.Fatalf("after the window: %d", rec.Code)
	}
}

// CONFORMANCE G1
// Max_clients bounds the registered clients.
func TestRegister_G1_MaxClients(t *testing.T) {
	f, _ := regServer(t, func(c *Config) { openRegistration(c); c.Registration.MaxClients = 3 })
	for range 3 {
		if rec := f.register(`{"redirect_uris":["https://app.example/cb"]}`); rec.Code != http.StatusCreated {
			t.Fatalf("register: %d %s", rec.Code, rec.Body)
		}
	}
	wantError(t, f.register(`{"redirect_uris":["https://app.example/cb"]}`), http.StatusServiceUnavailable, "temporarily_unavailable")
	f.clock.Advance(2 * recountEvery) // a recount finds the same three
	wantError(t, f.register(`{"redirect_uris":["https://app.example/cb"]}`), http.StatusServiceUnavailable, "temporarily_unavailable")
	if n := f.registered(t); n != 3 {
		t.Fatalf("%d registered", n)
	}
}

// CONFORMANCE G1
// Mode token needs the initial access token as a Bearer
// token: missing or wrong → 401 invalid_token, nothing stored.
func TestRegister_G1_InitialAccessToken(t *testing.T) {
	f, _ := regServer(t, func(c *Config) {
		c.Registration = RegistrationConfig{Mode: RegistrationToken, InitialAccessToken: "initial-token-0123456789"}
	})
	body := `{"redirect_uris":["https://app.example/cb"]}`
	for _, auth := range []string{"", "Bearer wrong", "Basic aW5pdGlhbC10b2tlbi0wMTIzNDU2Nzg5", "Bearer initial-token-012345678"} {
		rec := f.register(body, "Authorization", auth)
		wantError(t, rec, http.StatusUnauthorized, "invalid_token")
		if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%q: no Bearer challenge", auth)
		}
	}
	if f.registered(t) != 0 {
		t.Fatal("stored without the token")
	}
	if rec := f.register(body, "Authorization", "Bearer initial-token-0123456789"); rec.Code != http.StatusCreated {
		t.Fatalf("with the token: %d %s", rec.Code, rec.Body)
	}
}

// CONFORMANCE G1
// A registered client cannot use another registered
// client's redirect URI: an error page, no redirect.
func TestRegister_G1_OtherClientsRedirect(t *testing.T) {
	f, srv := regServer(t, openRegistration)
	a := decode(t, f.register(`{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none"}`))["client_id"].(string)
	f.register(`{"redirect_uris":["https://b.example/cb"],"token_endpoint_auth_method":"none"}`)
	q := url.Values{"response_type": {"code"}, "client_id": {a}, "redirect_uri": {"https://b.example/cb"},
		"code_challenge": {pkcePair(testVerifier)}, "code_challenge_method": {"S256"}}
	p := testutil.NewBrowser(t).Get(srv.URL + PathAuthorize + "?" + q.Encode())
	if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" || !strings.Contains(p.Body, "not registered for the application") {
		t.Fatalf("another client's redirect: %d %q %s", p.Status, p.Header.Get("Location"), p.Body)
	}
}

// CONFORMANCE G1
// Registered clients always use PKCE with S256 — plain and
// no PKCE are refused, even where the server allows plain.
func TestRegister_G1_PKCE(t *testing.T) {
	f, srv := regServer(t, func(c *Config) { openRegistration(c); c.PKCEAllowPlain = true })
	id := decode(t, f.register(`{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none"}`))["client_id"].(string)
	conf := decode(t, f.register(`{"redirect_uris":["https://a.example/cb"]}`))["client_id"].(string)
	for _, tc := range []struct{ client, query string }{
		{id, "code_challenge=" + strings.Repeat("a", 43) + "&code_challenge_method=plain"},
		{id, "code_challenge=" + strings.Repeat("a", 43)},
		{id, ""},
		{conf, ""},
	} {
		p := testutil.NewBrowser(t).Get(srv.URL + PathAuthorize + "?response_type=code&client_id=" + tc.client + "&" + tc.query)
		loc, _ := url.Parse(p.Header.Get("Location"))
		if p.Status != http.StatusFound || loc.Query().Get("error") != "invalid_request" {
			t.Errorf("%s %q: %d %s", tc.client, tc.query, p.Status, loc)
		}
	}
}

// CONFORMANCE G1
// A registered client never issued a token is gone after
// unused_after (lookups refuse it at once, the next recount deletes it);
// one that got a token stays, and its use cost one store write.
func TestRegister_G1_UnusedAfter(t *testing.T) {
	f, srv := regServer(t, func(c *Config) { openRegistration(c); c.Registration.UnusedAfter = 30 * 24 * time.Hour })
	reg := `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`
	unused := decode(t, f.register(reg))["client_id"].(string)
	used := decode(t, f.register(reg))["client_id"].(string)
	if rec, _ := f.srv.Registry().Get(t.Context(), used); rec.UnusedUntil.IsZero() {
		t.Fatal("no unused_until on a new registered client")
	}
	codeFlow(t, srv, used, "http://127.0.0.1/cb")
	if rec, _ := f.srv.Registry().Get(t.Context(), used); !rec.UnusedUntil.IsZero() {
		t.Fatal("the first token did not clear unused_until")
	}
	f.clock.Advance(30*24*time.Hour + time.Second)
	if _, err := f.srv.Registry().Client(t.Context(), unused); err != ErrUnknownClient {
		t.Fatalf("expired unused client: %v", err)
	}
	codeFlow(t, srv, used, "http://127.0.0.1/cb")
	f.register(reg) // the recount sweeps
	if _, err := f.store.GetClient(t.Context(), unused); err == nil {
		t.Fatal("the expired client is still stored")
	}
	if n := f.registered(t); n != 2 {
		t.Fatalf("%d registered, want the used one and the new one", n)
	}
}

// CONFORMANCE G1
// Registration_endpoint is in the metadata only when on.
func TestRegister_G1_Metadata(t *testing.T) {
	off := newFixture(t).srv.Metadata()
	on := newFixture(t, openRegistration).srv.Metadata()
	if off.RegistrationEndpoint != "" || off.ClientIDMetadataDocumentSupported {
		t.Fatalf("off: %+v", off)
	}
	if on.RegistrationEndpoint != testIssuer+PathRegister || on.ClientIDMetadataDocumentSupported {
		t.Fatalf("on: %q", on.RegistrationEndpoint)
	}
	if newFixture(t).srv.Handler(PathRegister) != nil || newFixture(t).srv.EndpointPath(PathRegister) != "" {
		t.Fatal("the endpoint is served while off")
	}
}

// FuzzRegistration: any body either registers a client that passes the
// registry's checks, within what registration allows, or is refused with an
// RFC 7591 error; it never panics. CONFORMANCE G1
func FuzzRegistration(f *testing.F) {
	for _, s := range []string{`{"redirect_uris":["https://a.example/cb"]}`, `{"redirect_uris":["javascript:x"]}`,
		`{"redirect_uris":["com.example.app:/cb"],"token_endpoint_auth_method":"none","scope":"api_v3 admin"}`,
		`{"grant_types":["client_credentials"]}`, `[]`, `{"redirect_uris":[1]}`, "{\"client_name\":\"\xff\"}"} {
		f.Add(s)
	}
	fx := newFixture(f, func(c *Config) {
		c.Registration = RegistrationConfig{Mode: RegistrationOpen, Scopes: []string{"api_v3"}, Rate: 1 << 30}
	})
	f.Fuzz(func(t *testing.T, body string) {
		rec := fx.register(body)
		switch rec.Code {
		case http.StatusCreated:
			m := decode(t, rec)
			c, err := fx.srv.Registry().Client(t.Context(), m["client_id"].(string))
			if err != nil || !c.Registered || c.AllowsGrant(GrantClientCredentials) || c.AllowsScope("admin") {
				t.Fatalf("registered %v: %+v %v", m, c, err)
			}
			for _, u := range c.RedirectURIs {
				if ValidRedirectURI(u) != nil || u == OOBRedirect {
					t.Fatalf("registered redirect %q", u)
				}
			}
		case http.StatusBadRequest:
			if e := decode(t, rec)["error"]; e != "invalid_client_metadata" && e != "invalid_redirect_uri" {
				t.Fatalf("error %v", e)
			}
		default:
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
}

// CONFORMANCE G1
// The registration rate counts an IPv6 address by its /64: a host that
// holds a whole /64 cannot step around the limit address by address.
func TestRegister_G1_RateByIPv6Block(t *testing.T) {
	for ip, want := range map[string]string{
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64", "2001:db8:1:2::ffff": "2001:db8:1:2::/64",
		"192.0.2.7": "192.0.2.7", "::ffff:192.0.2.7": "192.0.2.7", "not-an-ip": "not-an-ip",
	} {
		if got := addressBlock(ip); got != want {
			t.Errorf("addressBlock(%s) = %s, want %s", ip, got, want)
		}
	}
	for ip, want := range map[string]string{"2001:db8:1:2:3:4:5:6": "2001:db8:1::/48", "192.0.2.7": "", "::ffff:192.0.2.7": "", "x": ""} {
		if got := siteBlock(ip); got != want {
			t.Errorf("siteBlock(%s) = %q, want %q", ip, got, want)
		}
	}
}

// CONFORMANCE G1: an IPv6 /48 (65,536 /64s, free from a tunnel broker)
// registers at most 5 times one address's rate: registrations from fresh
// /64s of one /48 are refused past it, another /48 is not held up; and in
// mode open a registered client that is never used is removed after
// 7 days by default, so such registrations cannot fill max_clients for
// good.
func TestRegister_G1_RateBySite(t *testing.T) {
	f, _ := regServer(t, fromAddr, func(c *Config) {
		openRegistration(c)
		c.Registration.Rate, c.Registration.Window = 2, time.Hour
	})
	register := func(addr string, i int) *httptest.ResponseRecorder {
		return f.register(fmt.Sprintf(`{"redirect_uris":["https://app.example/cb/%d"],"token_endpoint_auth_method":"none"}`, i), "X-Test-Addr", addr)
	}
	created := 0
	for i := range 40 { // 40 /64s of one /48, one registration each
		switch rec := register(fmt.Sprintf("2001:db8:1:%x::1", i), i); rec.Code {
		case http.StatusCreated:
			created++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("registration %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	if created != 10 {
		t.Fatalf("%d registrations from one /48, want 10 (5 × the rate of 2)", created)
	}
	if rec := register("2001:db8:2::1", 99); rec.Code != http.StatusCreated {
		t.Fatalf("another /48: %d %s", rec.Code, rec.Body)
	}
	recs, err := f.store.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Registered && !rec.UnusedUntil.Equal(f.clock.Now().Add(DefaultUnusedAfter).UTC()) {
			t.Fatalf("a registered client's unused_until %v, want 7 days on", rec.UnusedUntil)
		}
	}
}

// CONFORMANCE G1: `unused_after off` (negative) keeps unused registered
// clients until deleted, in mode open too.
func TestRegister_G1_UnusedAfterOff(t *testing.T) {
	f, _ := regServer(t, func(c *Config) {
		openRegistration(c)
		c.Registration.UnusedAfter = -1
	})
	if rec := f.register(`{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`); rec.Code != http.StatusCreated {
		t.Fatalf("registration: %d %s", rec.Code, rec.Body)
	}
	recs, err := f.store.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Registered && !rec.UnusedUntil.IsZero() {
			t.Fatalf("unused_after off: unused_until %v, want none", rec.UnusedUntil)
		}
	}
}

package authz

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"golang.org/x/crypto/bcrypt"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

var (
	rsaOnce sync.Once
	rsaKey  *SigningKey
)

// testRSAKey is one RS256 key for the package's tests (generating one costs).
func testRSAKey(t testing.TB) *SigningKey {
	rsaOnce.Do(func() {
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err == nil {
			rsaKey, _ = NewSigningKey(AlgRS256, priv)
		}
	})
	if rsaKey == nil {
		t.Fatal("no RSA key")
	}
	return rsaKey
}

// oidcFixture serves authorize, token, userinfo and logout for the client
// "rp" (openid, profile, email, api_v3) and "other"; alice has claims.
type oidcFix struct {
	*fixture
	srv *httptest.Server
}

const rpSecret = "rp-secret-0123456789"

func oidcFixture(t *testing.T, opts ...fixtureOpt) *oidcFix {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users, _ := NewStaticUsers(map[string]string{"alice": string(hash), "bob": string(hash)})
	if err := users.SetClaims("alice", UserClaims{Name: "Alice Example", Email: "alice@example.com", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	es, _ := GenerateKey(AlgES256)
	f := newFixture(t, append([]fixtureOpt{func(c *Config) {
		c.Users = users
		c.Keys, _ = NewKeySet(es, testRSAKey(t))
	}}, opts...)...)
	for _, id := range []string{"rp", "other"} {
		c := &Client{ID: id, Name: strings.ToUpper(id), Grants: []string{GrantAuthorizationCode, GrantRefreshToken},
			Scopes: []string{"openid", "profile", "email", "api_v3"}, RedirectURIs: []string{"https://" + id + ".example/cb"},
			PostLogoutRedirectURIs: []string{"https://" + id + ".example/bye", "https://" + id + ".example/bye?x=1"}}
		c.SetSecret(HashSecret(rpSecret))
		f.clients[id] = c
	}
	opt := AuthorizeOptions{}
	authorize, err := f.srv.AuthorizeHandler(opt)
	if err != nil {
		t.Fatal(err)
	}
	logout, _ := f.srv.LogoutHandler(opt)
	mux := http.NewServeMux()
	mux.Handle(PathAuthorize, authorize)
	mux.Handle(PathLogout, logout)
	for _, p := range []string{PathToken, PathUserInfo, PathJWKS, PathOIDCMetadata, PathRevoke} {
		mux.Handle(p, f.srv.Handler(p))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &oidcFix{fixture: f, srv: srv}
}

func (o *oidcFix) authorizeURL(client string, q url.Values) string {
	v := url.Values{"response_type": {"code"}, "client_id": {client}, "state": {"st"}}
	for k, vals := range q {
		v[k] = vals
	}
	return o.srv.URL + PathAuthorize + "?" + v.Encode()
}

// code signs alice in (as far as asked) and returns the code or fails.
func (o *oidcFix) code(t *testing.T, b *testutil.Browser, client string, q url.Values) string {
	t.Helper()
	p := b.LoginAndAllow(o.authorizeURL(client, q), "alice", "pw")
	loc, _ := url.Parse(p.Header.Get("Location"))
	if p.Status != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("no code: %d %s %s", p.Status, p.Header.Get("Location"), p.Body)
	}
	return loc.Query().Get("code")
}

// freshHint signs b in again (as alice) and returns a fresh ID token.
func freshHint(t *testing.T, o *oidcFix, b *testutil.Browser) string {
	t.Helper()
	return o.tokens(t, b, "rp", url.Values{"scope": {"openid"}, "nonce": {"again"}})["id_token"].(string)
}

// tokensAs is tokens with user signing in.
func (o *oidcFix) tokensAs(t *testing.T, b *testutil.Browser, client, user string, q url.Values) map[string]any {
	t.Helper()
	p := b.LoginAndAllow(o.authorizeURL(client, q), user, "pw")
	loc, _ := url.Parse(p.Header.Get("Location"))
	status, m := o.token(t, client, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}})
	if status != 200 {
		t.Fatalf("token for %s: %d %v", user, status, m)
	}
	return m
}

func (o *oidcFix) token(t *testing.T, client string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", o.srv.URL+PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, rpSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (o *oidcFix) tokens(t *testing.T, b *testutil.Browser, client string, q url.Values) map[string]any {
	t.Helper()
	status, m := o.token(t, client, url.Values{"grant_type": {"authorization_code"}, "code": {o.code(t, b, client, q)}})
	if status != 200 {
		t.Fatalf("token: %d %v", status, m)
	}
	return m
}

// verifyIDToken checks the ID token with jwx against the published JWKS.
func (o *oidcFix) verifyIDToken(t *testing.T, tok string) jwt.Token {
	t.Helper()
	set, err := jwk.Parse(o.fixture.srv.Keys().JWKS())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse([]byte(tok), jwt.WithKeySet(set), jwt.WithClock(jwt.ClockFunc(o.clock.Now)),
		jwt.WithIssuer(testIssuer), jwt.WithValidate(true))
	if err != nil {
		t.Fatalf("ID token does not verify: %v", err)
	}
	return parsed
}

func claimsOf(t *testing.T, tok jwt.Token) map[string]any {
	m, err := tok.AsMap(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// CONFORMANCE I1
// CONFORMANCE I2
func TestIDToken_I2(t *testing.T) {
	o := oidcFixture(t)
	b := testutil.NewBrowser(t)
	loginAt := o.clock.Now()
	m := o.tokens(t, b, "rp", url.Values{"scope": {"openid profile email api_v3"}, "nonce": {"n-0S6_WzA2Mj"}})
	idt, _ := m["id_token"].(string)
	if idt == "" {
		t.Fatalf("no id_token: %v", m)
	}
	hdr := strings.Split(idt, ".")[0]
	if raw, _ := b64.DecodeString(hdr); !strings.Contains(string(raw), `"RS256"`) || !strings.Contains(string(raw), testRSAKey(t).Kid) {
		t.Fatalf("ID token header %s: want RS256 with the ring's RSA key", raw)
	}
	c := claimsOf(t, o.verifyIDToken(t, idt))
	at := m["access_token"].(string)
	sum := sha256.Sum256([]byte(at))
	want := map[string]any{"iss": testIssuer, "sub": "alice", "nonce": "n-0S6_WzA2Mj", "at_hash": b64.EncodeToString(sum[:16]),
		"name": "Alice Example", "preferred_username": "alice", "email": "alice@example.com", "email_verified": true}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if aud, _ := c["aud"].([]string); len(aud) != 1 || aud[0] != "rp" {
		t.Errorf("aud %v, want [rp]", c["aud"])
	}
	exp, iat := c["exp"].(time.Time), c["iat"].(time.Time)
	if exp.Sub(iat) != DefaultIDTokenTTL {
		t.Errorf("lifetime %v, want 5m", exp.Sub(iat))
	}
	if authTime, _ := c["auth_time"].(float64); int64(authTime) != loginAt.Unix() {
		t.Errorf("auth_time %v, want %d", c["auth_time"], loginAt.Unix())
	}
	sid, _ := c["sid"].(string)
	if sid == "" {
		t.Error("no sid")
	}
	// The access token is not an ID token, and does not carry the claims.
	if strings.Contains(at, idt) || m["scope"] != "openid profile email api_v3" {
		t.Fatalf("token response %v", m)
	}

	// A refresh: a new ID token, same sub, auth_time and sid; no nonce.
	o.clock.Advance(time.Minute)
	status, r := o.token(t, "rp", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}})
	if status != 200 || r["id_token"] == nil || r["id_token"] == idt {
		t.Fatalf("refresh: %d %v", status, r)
	}
	rc := claimsOf(t, o.verifyIDToken(t, r["id_token"].(string)))
	if rc["sub"] != "alice" || rc["auth_time"] != c["auth_time"] || rc["sid"] != sid || rc["nonce"] != nil {
		t.Fatalf("refreshed ID token claims %v", rc)
	}
	// Narrowed to openid alone: no profile or email claims.
	status, r = o.token(t, "rp", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r["refresh_token"].(string)}, "scope": {"openid"}})
	if status != 200 {
		t.Fatalf("narrowed refresh: %d %v", status, r)
	}
	nc := claimsOf(t, o.verifyIDToken(t, r["id_token"].(string)))
	for _, k := range []string{"name", "email", "email_verified", "preferred_username"} {
		if _, ok := nc[k]; ok {
			t.Errorf("openid-only ID token has %s", k)
		}
	}

	// Only what was consented: openid alone carries no profile or email.
	m = o.tokens(t, b, "rp", url.Values{"scope": {"openid"}, "nonce": {"n2"}})
	oc := claimsOf(t, o.verifyIDToken(t, m["id_token"].(string)))
	if _, ok := oc["email"]; ok {
		t.Fatalf("email without the email scope: %v", oc)
	}
	// Without openid no ID token at all.
	m = o.tokens(t, b, "rp", url.Values{"scope": {"api_v3"}})
	if _, ok := m["id_token"]; ok {
		t.Fatalf("id_token without openid: %v", m)
	}
}

// A client registered for ES256 ID tokens gets them; access tokens keep
// the ring's first key.
// CONFORMANCE I2
func TestIDTokenAlgorithmPerClient_I2(t *testing.T) {
	o := oidcFixture(t)
	o.clients["rp"].IDTokenAlg = AlgES256
	m := o.tokens(t, testutil.NewBrowser(t), "rp", url.Values{"scope": {"openid"}, "nonce": {"n"}})
	for name, want := range map[string]string{"id_token": `"ES256"`, "access_token": `"ES256"`} {
		raw, _ := b64.DecodeString(strings.Split(m[name].(string), ".")[0])
		if !strings.Contains(string(raw), want) {
			t.Errorf("%s header %s, want %s", name, raw, want)
		}
	}
	o.verifyIDToken(t, m["id_token"].(string))
	// Without a key of the algorithm: refused before the code is spent.
	o.clients["rp"].IDTokenAlg = AlgPS256
	b := testutil.NewBrowser(t)
	code := o.code(t, b, "rp", url.Values{"scope": {"openid"}, "nonce": {"n-ps"}})
	if status, r := o.token(t, "rp", url.Values{"grant_type": {"authorization_code"}, "code": {code}}); status != 500 ||
		!strings.Contains(r["error_description"].(string), "PS256") {
		t.Fatalf("PS256 without a key: %d %v", status, r)
	}
	o.clients["rp"].IDTokenAlg = AlgES256
	if status, r := o.token(t, "rp", url.Values{"grant_type": {"authorization_code"}, "code": {code}}); status != 200 {
		t.Fatalf("the code was spent by the refusal: %d %v", status, r)
	}
}

// redirectErr follows an authorization request and returns the error the
// client is sent back with.
func (o *oidcFix) redirectErr(t *testing.T, b *testutil.Browser, client string, q url.Values) url.Values {
	t.Helper()
	p := b.LoginAndAllow(o.authorizeURL(client, q), "alice", "pw")
	loc, _ := url.Parse(p.Header.Get("Location"))
	if p.Status != http.StatusFound || !strings.HasPrefix(p.Header.Get("Location"), "https://"+client+".example/cb?") {
		t.Fatalf("want an error redirect: %d %s", p.Status, p.Body)
	}
	return loc.Query()
}

// CONFORMANCE I1
func TestAuthorizeOpenIDParameters_I1(t *testing.T) {
	o := oidcFixture(t)
	b := testutil.NewBrowser(t)
	for name, tc := range map[string]struct {
		q       url.Values
		code    string
		message string
	}{
		"missing nonce":              {url.Values{"scope": {"openid"}}, "invalid_request", "nonce is required"},
		"nonce too long":             {url.Values{"scope": {"openid"}, "nonce": {strings.Repeat("n", maxNonceLen+1)}}, "invalid_request", "longer than"},
		"nonce twice":                {url.Values{"scope": {"openid"}, "nonce": {"a", "b"}}, "invalid_request", "more than once"},
		"select_account":             {url.Values{"scope": {"openid"}, "nonce": {"n"}, "prompt": {"select_account"}}, "account_selection_required", ""},
		"max_age negative":           {url.Values{"scope": {"openid"}, "nonce": {"n"}, "max_age": {"-1"}}, "invalid_request", "max_age"},
		"max_age garbage":            {url.Values{"scope": {"openid"}, "nonce": {"n"}, "max_age": {"1h"}}, "invalid_request", "max_age"},
		"prompt=none, not signed in": {url.Values{"scope": {"openid"}, "nonce": {"n"}, "prompt": {"none"}}, "login_required", ""},
	} {
		t.Run(name, func(t *testing.T) {
			q := o.redirectErr(t, testutil.NewBrowser(t), "rp", tc.q)
			if q.Get("error") != tc.code || !strings.Contains(q.Get("error_description"), tc.message) || q.Get("state") != "st" {
				t.Fatalf("got %v, want %s (%s)", q, tc.code, tc.message)
			}
		})
	}

	// A replayed nonce: the same authorization request again, after its
	// code was issued, is refused.
	o.code(t, b, "rp", url.Values{"scope": {"openid"}, "nonce": {"once"}})
	if q := o.redirectErr(t, b, "rp", url.Values{"scope": {"openid"}, "nonce": {"once"}}); q.Get("error") != "invalid_request" ||
		!strings.Contains(q.Get("error_description"), "nonce was already used") {
		t.Fatalf("replayed nonce: %v", q)
	}
	// Another client may use the same string.
	o.code(t, b, "other", url.Values{"scope": {"openid"}, "nonce": {"once"}})

	// Signed in: prompt=none works, max_age=0 and prompt=login ask again,
	// max_age longer than the sign-in's age does not.
	o.clock.Advance(10 * time.Second)
	o.code(t, b, "rp", url.Values{"scope": {"openid"}, "nonce": {"silent"}, "prompt": {"none"}})
	o.code(t, b, "rp", url.Values{"scope": {"openid"}, "nonce": {"fresh"}, "max_age": {"60"}})
	for _, q := range []url.Values{{"max_age": {"0"}}, {"max_age": {"5"}}, {"prompt": {"login"}}} {
		q.Set("scope", "openid")
		q.Set("nonce", "again-"+q.Encode())
		if p := b.Get(o.authorizeURL("rp", q)); !p.Form.Has("oauthgate_password") {
			t.Fatalf("%v with a 10 s old sign-in: %d, want the login page", q, p.Status)
		}
	}
	// max_age=0 with prompt=none cannot sign in again: login_required.
	if q := o.redirectErr(t, b, "rp", url.Values{"scope": {"openid"}, "nonce": {"n0"}, "max_age": {"0"}, "prompt": {"none"}}); q.Get("error") != "login_required" {
		t.Fatalf("max_age=0 prompt=none: %v", q)
	}
	// After signing in again, auth_time is the new sign-in.
	m := o.tokens(t, b, "rp", url.Values{"scope": {"openid"}, "nonce": {"n-re"}, "max_age": {"0"}})
	if c := claimsOf(t, o.verifyIDToken(t, m["id_token"].(string))); int64(c["auth_time"].(float64)) != o.clock.Now().Unix() {
		t.Fatalf("auth_time %v after max_age=0, want now", c["auth_time"])
	}

	// login_hint prefills the user name; one too long is ignored.
	p := testutil.NewBrowser(t).Get(o.authorizeURL("rp", url.Values{"scope": {"openid"}, "nonce": {"h"}, "login_hint": {"alice@example.com"}}))
	if p.Form.Get("oauthgate_username") != "alice@example.com" {
		t.Fatalf("login_hint not prefilled: %v", p.Form)
	}
	p = testutil.NewBrowser(t).Get(o.authorizeURL("rp", url.Values{"scope": {"openid"}, "nonce": {"h"}, "login_hint": {strings.Repeat("x", 300)}}))
	if p.Form.Get("oauthgate_username") != "" {
		t.Fatal("an overlong login_hint was used")
	}
	// The consent page names openid in plain words.
	b2 := testutil.NewBrowser(t)
	lp := b2.Get(o.authorizeURL("other", url.Values{"scope": {"openid email"}, "nonce": {"c2"}}))
	cp := b2.Submit(lp, map[string]string{"oauthgate_username": "alice", "oauthgate_password": "pw", "oauthgate_action": "login"})
	if !strings.Contains(cp.Body, "Sign you in to the application with your account") || !strings.Contains(cp.Body, "See your email address") {
		t.Fatalf("consent page does not explain openid and email: %s", cp.Body)
	}
}

func (o *oidcFix) userinfo(t *testing.T, method, tok string, body url.Values) (*http.Response, map[string]any) {
	t.Helper()
	var req *http.Request
	if body != nil {
		req, _ = http.NewRequest(method, o.srv.URL+PathUserInfo, strings.NewReader(body.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequest(method, o.srv.URL+PathUserInfo, nil)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}

// CONFORMANCE I3
func TestUserInfo_I3(t *testing.T) {
	for _, format := range []TokenFormat{FormatJWT, FormatOpaque} {
		t.Run(string(format), func(t *testing.T) {
			o := oidcFixture(t, func(c *Config) { c.Format = format })
			b := testutil.NewBrowser(t)
			m := o.tokens(t, b, "rp", url.Values{"scope": {"openid profile api_v3"}, "nonce": {"u"}})
			at := m["access_token"].(string)
			want := map[string]any{"sub": "alice", "name": "Alice Example", "preferred_username": "alice"}
			for _, method := range []string{"GET", "POST"} {
				resp, got := o.userinfo(t, method, at, nil)
				if resp.StatusCode != 200 || len(got) != len(want) || resp.Header.Get("Cache-Control") != "no-store" {
					t.Fatalf("%s: %d %v", method, resp.StatusCode, got)
				}
				for k, v := range want {
					if got[k] != v {
						t.Fatalf("%s: %s = %v, want %v (email was not granted)", method, k, got[k], v)
					}
				}
			}
			// RFC 6750 §2.2: the token in a POST body.
			if resp, got := o.userinfo(t, "POST", "", url.Values{"access_token": {at}}); resp.StatusCode != 200 || got["sub"] != "alice" {
				t.Fatalf("form-body token: %d %v", resp.StatusCode, got)
			}
			check := func(name string, resp *http.Response, status int, code string) {
				t.Helper()
				wa := resp.Header.Get("WWW-Authenticate")
				if resp.StatusCode != status || !strings.HasPrefix(wa, "Bearer ") || (code != "" && !strings.Contains(wa, `error="`+code+`"`)) ||
					(code == "" && strings.Contains(wa, "error=")) {
					t.Fatalf("%s: %d %q, want %d %s", name, resp.StatusCode, wa, status, code)
				}
			}
			resp, _ := o.userinfo(t, "GET", "", nil)
			check("no token", resp, 401, "")
			resp, _ = o.userinfo(t, "GET", m["id_token"].(string), nil)
			check("an ID token as the access token", resp, 401, "invalid_token")
			resp, _ = o.userinfo(t, "POST", at, url.Values{"access_token": {at}})
			check("the token twice", resp, 400, "invalid_request")
			resp, _ = o.userinfo(t, "DELETE", at, nil)
			if resp.StatusCode != 405 {
				t.Fatalf("DELETE: %d", resp.StatusCode)
			}
			// Without openid: insufficient_scope.
			plain := o.tokens(t, b, "rp", url.Values{"scope": {"api_v3"}})["access_token"].(string)
			resp, _ = o.userinfo(t, "GET", plain, nil)
			check("a token without openid", resp, 403, "insufficient_scope")
			// Revoked: invalid_token.
			req, _ := http.NewRequest("POST", o.srv.URL+PathRevoke, strings.NewReader(url.Values{"token": {at}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("rp", rpSecret)
			if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 200 {
				t.Fatalf("revoking: %v %v", r, err)
			}
			resp, _ = o.userinfo(t, "GET", at, nil)
			check("a revoked token", resp, 401, "invalid_token")
			// Expired.
			fresh := o.tokens(t, b, "rp", url.Values{"scope": {"openid"}, "nonce": {"exp"}})["access_token"].(string)
			o.clock.Advance(DefaultAccessTokenTTL + time.Hour)
			resp, _ = o.userinfo(t, "GET", fresh, nil)
			check("an expired token", resp, 401, "invalid_token")
		})
	}
}

// CONFORMANCE I4
func TestLogout_I4(t *testing.T) {
	o := oidcFixture(t)
	b := testutil.NewBrowser(t)
	m := o.tokens(t, b, "rp", url.Values{"scope": {"openid"}, "nonce": {"lo"}})
	hint := m["id_token"].(string)
	bobHint := o.tokensAs(t, testutil.NewBrowser(t), "rp", "bob", url.Values{"scope": {"openid"}, "nonce": {"bob"}})["id_token"].(string)
	logout := func(b *testutil.Browser, q url.Values) *testutil.Page {
		return b.Get(o.srv.URL + PathLogout + "?" + q.Encode())
	}
	signedIn := func(b *testutil.Browser) bool {
		p := b.Get(o.authorizeURL("rp", url.Values{"scope": {"openid"}, "nonce": {"probe-" + time.Now().String()}, "prompt": {"none"}}))
		return strings.Contains(p.Header.Get("Location"), "code=")
	}
	if !signedIn(b) {
		t.Fatal("not signed in before logout")
	}
	// Tricks on the registered https://rp.example/bye: never a redirect,
	// and the page says why.
	for _, uri := range []string{"https://rp.example/bye/", "https://rp.example/byeX", "https://RP.example/bye", "https://rp.example/bye?y=2",
		"https://rp.example/bye#x", "//rp.example/bye", "https://rp.example.evil/bye", "https://evil.example/bye", "https://rp.example/%62ye",
		"http://rp.example/bye", "https://rp.example/bye ", "javascript:alert(1)", "https://other.example/bye"} {
		p := logout(testutil.NewBrowser(t), url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {uri}, "state": {"s"}})
		if p.Status != 400 || p.Header.Get("Location") != "" || !strings.Contains(p.Body, "not registered") {
			t.Fatalf("%q: %d %q", uri, p.Status, p.Header.Get("Location"))
		}
	}
	// A registered URI without a client named: no redirect.
	if p := logout(testutil.NewBrowser(t), url.Values{"post_logout_redirect_uri": {"https://rp.example/bye"}}); p.Status != 400 || p.Header.Get("Location") != "" {
		t.Fatalf("no client: %d %q", p.Status, p.Header.Get("Location"))
	}
	// A hint issued to another client than client_id names.
	if p := logout(testutil.NewBrowser(t), url.Values{"id_token_hint": {hint}, "client_id": {"other"}, "post_logout_redirect_uri": {"https://other.example/bye"}}); p.Status != 400 ||
		p.Header.Get("Location") != "" || !strings.Contains(p.Body, "another application") {
		t.Fatalf("hint for another client: %d %q", p.Status, p.Header.Get("Location"))
	}
	// A forged hint (an access token; a tampered signature).
	for _, bad := range []string{m["access_token"].(string), hint[:len(hint)-4] + "AAAA", "garbage"} {
		if p := logout(testutil.NewBrowser(t), url.Values{"id_token_hint": {bad}, "post_logout_redirect_uri": {"https://rp.example/bye"}}); p.Status != 400 || p.Header.Get("Location") != "" {
			t.Fatalf("bad hint: %d %q", p.Status, p.Header.Get("Location"))
		}
	}
	if !signedIn(b) {
		t.Fatal("refused logouts in other browsers signed this one out")
	}
	// The real thing: back to the registered URI with state, signed out.
	p := logout(b, url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://rp.example/bye?x=1"}, "state": {"af0ifjsldkj"}})
	if p.Status != 302 || p.Header.Get("Location") != "https://rp.example/bye?x=1&state=af0ifjsldkj" {
		t.Fatalf("logout: %d %q %s", p.Status, p.Header.Get("Location"), p.Body)
	}
	if signedIn(b) {
		t.Fatal("still signed in after logout")
	}
	// client_id alone names the client too, and POST works — but without
	// an ID token of the signed-in user, the user is asked first (§2): a
	// link, image or form on any site cannot sign the user out.
	o.code(t, b, "rp", url.Values{"scope": {"openid"}, "nonce": {"lo2"}})
	ask := b.Post(o.srv.URL+PathLogout, url.Values{"client_id": {"rp"}, "post_logout_redirect_uri": {"https://rp.example/bye"}})
	if ask.Status != 200 || ask.Header.Get("Location") != "" || ask.Form.Get("oauthgate_csrf") == "" || ask.Form.Get("post_logout_redirect_uri") != "https://rp.example/bye" || !signedIn(b) {
		t.Fatalf("POST logout without a hint: %d %q, form %v; want the confirmation page, still signed in", ask.Status, ask.Header.Get("Location"), ask.Form)
	}
	for name, q := range map[string]url.Values{
		"no parameters":            {},
		"another user's ID token":  {"id_token_hint": {bobHint}, "post_logout_redirect_uri": {"https://rp.example/bye"}},
		"a return address refused": {"client_id": {"rp"}, "post_logout_redirect_uri": {"https://evil.example/"}},
	} {
		if p := logout(b, q); p.Status == 302 || p.Header.Get("Location") != "" || p.Form.Get("oauthgate_csrf") == "" || !signedIn(b) {
			t.Fatalf("GET logout with %s: %d %q; want the confirmation page, still signed in", name, p.Status, p.Header.Get("Location"))
		}
	}
	// A forged confirmation (another browser's form, or none) is asked again.
	other := testutil.NewBrowser(t)
	o.code(t, other, "rp", url.Values{"scope": {"openid"}, "nonce": {"lo3"}})
	foreign := other.Post(o.srv.URL+PathLogout, url.Values{"client_id": {"rp"}})
	for name, csrf := range map[string]string{"another browser's": foreign.Form.Get("oauthgate_csrf"), "none": ""} {
		p := b.Post(o.srv.URL+PathLogout, url.Values{"client_id": {"rp"}, "oauthgate_csrf": {csrf}})
		if p.Status != 200 || p.Form.Get("oauthgate_csrf") == "" || !signedIn(b) {
			t.Fatalf("confirmation with %s CSRF token: %d; want asked again, still signed in", name, p.Status)
		}
	}
	// A POST without the session cookie (a relying party's form from its
	// own site: the cookie is SameSite=Lax) deletes nothing and is sent to
	// the same request as a GET, which the browser makes with the cookie.
	crossSite := testutil.NewBrowser(t).Post(o.srv.URL+PathLogout, url.Values{"id_token_hint": {freshHint(t, o, b)}, "post_logout_redirect_uri": {"https://rp.example/bye"}, "state": {"x"}})
	loc, _ := url.Parse(crossSite.Header.Get("Location"))
	if crossSite.Status != http.StatusSeeOther || loc == nil || loc.Path != PathLogout || loc.Query().Get("state") != "x" ||
		strings.Contains(strings.Join(crossSite.Header.Values("Set-Cookie"), "\n"), sessionCookie+"=") {
		t.Fatalf("a POST without the session cookie: %d %q %q", crossSite.Status, crossSite.Header.Get("Location"), crossSite.Header.Values("Set-Cookie"))
	}
	// The ID token stays out of that URL (access logs, history): what it
	// said goes sealed; altered, it is refused.
	if loc.Query().Has("id_token_hint") || loc.Query().Get(logoutHintParam) == "" {
		t.Fatalf("the GET a POST is sent to: %q", loc)
	}
	altered := loc.Query()
	altered.Set(logoutHintParam, altered.Get(logoutHintParam)+"AA")
	if p := b.Get(o.srv.URL + PathLogout + "?" + altered.Encode()); p.Status != 400 || p.Header.Get("Location") != "" || !signedIn(b) {
		t.Fatalf("an altered sealed hint: %d %q", p.Status, p.Header.Get("Location"))
	}
	if p := b.Get(o.srv.URL + loc.String()); p.Status != 302 || p.Header.Get("Location") != "https://rp.example/bye?state=x" || signedIn(b) {
		t.Fatalf("the GET it was sent to, with the cookie: %d %q", p.Status, p.Header.Get("Location"))
	}
	// A bad hint in such a POST is refused at once; a path that would make
	// the Location protocol-relative is cleaned.
	if p := testutil.NewBrowser(t).Post(o.srv.URL+PathLogout, url.Values{"id_token_hint": {"garbage"}}); p.Status != 400 || p.Header.Get("Location") != "" {
		t.Fatalf("a cookie-less POST with a bad hint: %d %q", p.Status, p.Header.Get("Location"))
	}
	h, err := o.fixture.srv.LogoutHandler(AuthorizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "http://gw.example//evil.example/../oauth/logout", strings.NewReader("state=s"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/oauth/logout?state=s" {
		t.Fatalf("a POST to //evil.example/../oauth/logout: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	o.code(t, b, "rp", url.Values{"scope": {"openid"}, "nonce": {"lo5"}})
	ask = b.Post(o.srv.URL+PathLogout, url.Values{"client_id": {"rp"}, "post_logout_redirect_uri": {"https://rp.example/bye"}})
	p = b.Submit(ask, nil)
	if p.Status != 302 || p.Header.Get("Location") != "https://rp.example/bye" || signedIn(b) {
		t.Fatalf("confirmed logout: %d %q", p.Status, p.Header.Get("Location"))
	}
	// Confirming a refused request signs out all the same, without a redirect.
	o.code(t, b, "rp", url.Values{"scope": {"openid"}, "nonce": {"lo4"}})
	ask = logout(b, url.Values{"client_id": {"rp"}, "post_logout_redirect_uri": {"https://evil.example/"}})
	if ask.Status != 400 || !strings.Contains(ask.Body, "not registered") {
		t.Fatalf("confirmation of a refused request: %d %s", ask.Status, ask.Body)
	}
	if p := b.Submit(ask, nil); p.Status != 400 || p.Header.Get("Location") != "" || !strings.Contains(p.Body, "signed out") || signedIn(b) {
		t.Fatalf("confirmed refused logout: %d %q, signed in %v", p.Status, p.Header.Get("Location"), signedIn(b))
	}
	// Nothing to return to: a page.
	if p := logout(b, url.Values{}); p.Status != 200 || !strings.Contains(p.Body, "signed out") {
		t.Fatalf("bare logout: %d %s", p.Status, p.Body)
	}
	// An expired hint is accepted for a while (the RP's session outlives
	// its ID token), not forever.
	o.clock.Advance(DefaultIDTokenTTL + time.Hour)
	if p := logout(b, url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://rp.example/bye"}}); p.Status != 302 {
		t.Fatalf("hint expired an hour ago: %d", p.Status)
	}
	o.clock.Advance(DefaultSessionTTL)
	if p := logout(b, url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://rp.example/bye"}}); p.Status != 400 ||
		p.Header.Get("Location") != "" || !strings.Contains(p.Body, "expired") {
		t.Fatalf("hint expired long ago: %d %q", p.Status, p.Header.Get("Location"))
	}
}

// CONFORMANCE I5
func TestOpenIDConfiguration_I5(t *testing.T) {
	o := oidcFixture(t)
	rec := o.do(httptest.NewRequest("GET", PathOIDCMetadata, nil))
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["userinfo_endpoint"] != testIssuer+PathUserInfo || m["end_session_endpoint"] != testIssuer+PathLogout {
		t.Fatalf("endpoints %v %v", m["userinfo_endpoint"], m["end_session_endpoint"])
	}
	list := func(k string) []string {
		var out []string
		for _, v := range m[k].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	if st := list("subject_types_supported"); !slices.Equal(st, []string{"public"}) {
		t.Fatalf("subject_types_supported %v", st)
	}
	if algs := list("id_token_signing_alg_values_supported"); !slices.Equal(algs, []string{"RS256", "ES256"}) {
		t.Fatalf("id_token_signing_alg_values_supported %v: the ring holds ES256 and RS256", algs)
	}
	for _, c := range []string{"sub", "name", "email", "email_verified", "nonce", "auth_time"} {
		if !slices.Contains(list("claims_supported"), c) {
			t.Fatalf("claims_supported lacks %s", c)
		}
	}
	if !slices.Contains(list("scopes_supported"), "openid") || !slices.Equal(list("response_types_supported"), []string{"code"}) {
		t.Fatalf("scopes %v, response types %v", m["scopes_supported"], m["response_types_supported"])
	}
	if m["request_parameter_supported"] != false || m["request_uri_parameter_supported"] != false {
		t.Fatal("request objects are not supported and must be said so")
	}
}

// An id_token_hint is JWT input from anyone: it never panics, and nothing
// but an ID token this server signed is accepted — not a tampered one, not
// an access token, not one signed by a key outside the ring.
func FuzzIDTokenHint(f *testing.F) {
	f.Add("eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.AAAA")
	f.Add("a.b.c")
	f.Add("")
	f.Add(strings.Repeat(".", 3))
	f.Fuzz(func(t *testing.T, tok string) {
		s := fuzzHintServer(t)
		if _, ok := s.parseIDTokenHint(tok); ok {
			t.Fatalf("accepted %q", tok)
		}
	})
}

var (
	hintOnce   sync.Once
	hintServer *Server
)

func fuzzHintServer(t *testing.T) *Server {
	hintOnce.Do(func() { hintServer = newFixture(t).srv })
	return hintServer
}

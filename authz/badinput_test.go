// Tests of bad input at every endpoint: malformed bodies, credentials, tokens and authorization requests.

package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// The bad-input catalogue: every endpoint of the OAuth core is fed what
// clients and attackers send wrong, and must answer the RFC's error code with
// a 4xx — never a 5xx, never a panic, never a success. The same strings seed
// the fuzz corpora in testdata/fuzz.

const (
	biAppSecret = "app-secret-0123456789"
	biLongURI   = 10_000
)

// biFixture is a fixture with the catalogue's extra clients and a throttle
// that never interferes with the cases.
func biFixture(t *testing.T, opts ...fixtureOpt) *fixture {
	t.Helper()
	f := newFixture(t, append([]fixtureOpt{func(c *Config) { c.ClientAuthLimit, c.IPAuthLimit = 1<<30, 1<<30 }}, opts...)...)
	app := &Client{ID: "app", Name: "App", Grants: []string{GrantAuthorizationCode, GrantRefreshToken},
		Scopes: []string{"api_v3", "bcf_v2_1"}, RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1/cb"}}
	app.SetSecret(HashSecret(biAppSecret))
	one := &Client{ID: "one", Grants: []string{GrantAuthorizationCode}, Scopes: []string{"api_v3"},
		RedirectURIs: []string{"https://one.example/cb"}}
	one.SetSecret(HashSecret("one-secret-0123456789"))
	native := &Client{ID: "native", Public: true, Grants: []string{GrantAuthorizationCode, GrantRefreshToken},
		Scopes: []string{"api_v3"}, RedirectURIs: []string{"http://127.0.0.1/cb"}}
	gone := &Client{ID: "gone", Grants: []string{GrantAuthorizationCode}, Scopes: []string{"api_v3"},
		RedirectURIs: []string{"https://gone.example/cb"}, Disabled: true}
	gone.SetSecret(HashSecret("gone-secret-0123456789"))
	f.clients["app"], f.clients["one"], f.clients["native"], f.clients["gone"] = app, one, native, gone
	return f
}

// biReq builds a request with an exact body and content type.
func biReq(method, target, contentType, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func biBasic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

const formCT = "application/x-www-form-urlencoded"

// biCase is one bad request to an endpoint of the fixture's server.
type biCase struct {
	name   string
	req    func(t testing.TB, f *fixture) *http.Request
	status int
	code   string
}

// form is a form request authenticated as reporting (HTTP Basic).
func form(path, body string) func(testing.TB, *fixture) *http.Request {
	return func(testing.TB, *fixture) *http.Request {
		r := biReq(http.MethodPost, path, formCT, body)
		r.Header.Set("Authorization", biBasic("reporting", testSecret))
		return r
	}
}

// as is a request with an arbitrary Authorization header.
func as(path, authorization, body string) func(testing.TB, *fixture) *http.Request {
	return func(testing.TB, *fixture) *http.Request {
		r := biReq(http.MethodPost, path, formCT, body)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		return r
	}
}

func withCT(path, contentType, body string) func(testing.TB, *fixture) *http.Request {
	return func(testing.TB, *fixture) *http.Request {
		r := biReq(http.MethodPost, path, contentType, body)
		r.Header.Set("Authorization", biBasic("reporting", testSecret))
		return r
	}
}

func biRun(t *testing.T, cases []biCase, opts ...fixtureOpt) {
	t.Helper()
	// Control: the shape cases' valid body, authenticated, is accepted.
	if path := cases[0].req(t, biFixture(t)).URL.Path; path == PathRevoke || path == PathIntrospect {
		f := biFixture(t, opts...)
		if rec := f.do(form(path, "token=x")(t, f)); rec.Code != http.StatusOK {
			t.Fatalf("control %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := biFixture(t, opts...)
			req := tc.req(t, f)
			rec := f.do(req)
			if rec.Code >= 500 {
				t.Fatalf("server error %d: %s", rec.Code, rec.Body)
			}
			m := wantError(t, rec, tc.status, tc.code)
			if _, leaked := m["access_token"]; leaked {
				t.Fatalf("an error response carries a token: %s", rec.Body)
			}
			if tc.code == "invalid_client" && rec.Code == 401 && rec.Header().Get("WWW-Authenticate") == "" &&
				strings.HasPrefix(strings.ToLower(req.Header.Get("Authorization")), "basic") {
				t.Fatalf("invalid_client for HTTP Basic without WWW-Authenticate: Basic")
			}
		})
	}
}

// biChallenge is the S256 challenge of the verifier 43 × "v".
var biChallenge = func() string {
	sum := sha256.Sum256([]byte(strings.Repeat("v", 43)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}()

// biWithCode is a token request of app redeeming a fresh code (issued with
// the extra authorization parameters) with the body body(code).
func biWithCode(body func(code string) string, extra ...string) func(testing.TB, *fixture) *http.Request {
	return func(t testing.TB, f *fixture) *http.Request {
		return as(PathToken, biBasic("app", biAppSecret), body(biCode(t, f, extra...)))(t, f)
	}
}

// biShapeCases are the request-shape errors shared by the token, revocation
// and introspection endpoints (ParseParams and client authentication).
func biShapeCases(path, validBody string) []biCase {
	big := validBody + "&pad=" + strings.Repeat("a", MaxBodyBytes)
	basicCases := []struct{ name, header string }{
		{"Basic not base64", "Basic !!!not-base64!!!"},
		{"Basic without colon", "Basic " + b64std("reporting")},
		{"Basic empty client id", "Basic " + b64std(":"+testSecret)},
		{"Basic empty credentials", "Basic "},
		{"Basic scheme only", "Basic"},
		{"Basic lowercase scheme, wrong secret", "basic " + b64std("reporting:wrong")},
		{"Basic id not form-encoded", "Basic " + b64std("rep%zzorting:x")},
		{"Basic raw secret with one byte changed", "Basic " + b64std("reporting:"+testSecret[:len(testSecret)-1]+"x")},
		{"Basic invalid UTF-8 id", "Basic " + b64std("\xff\xfe:x")},
		{"Basic NUL in id", "Basic " + b64std("report\x00ing:x")},
		{"Basic padded twice", "Basic " + b64std("reporting:x") + "=="},
		{"Basic 10 KB", "Basic " + b64std("reporting:"+strings.Repeat("s", 10_000))},
		{"Basic unknown client", biBasic("nobody", "whatever-0123456789")},
		{"Basic wrong secret", biBasic("reporting", "wrong")},
		{"Basic disabled client", biBasic("off", "off-secret-0123456789")},
		{"Basic public client with a secret", biBasic("native", "anything")},
	}
	cases := []biCase{
		{"GET", func(testing.TB, *fixture) *http.Request { return biReq("GET", path+"?"+validBody, "", "") }, 405, "invalid_request"},
		{"PUT", func(testing.TB, *fixture) *http.Request { return biReq("PUT", path, formCT, validBody) }, 405, "invalid_request"},
		{"DELETE", func(testing.TB, *fixture) *http.Request { return biReq("DELETE", path, "", "") }, 405, "invalid_request"},
		{"body over 64 KiB", form(path, big), 413, "invalid_request"},
		{"text/plain", withCT(path, "text/plain", validBody), 400, "invalid_request"},
		{"multipart/form-data", withCT(path, "multipart/form-data; boundary=x", "--x\r\n\r\n--x--"), 400, "invalid_request"},
		{"no content type with a body", withCT(path, "", validBody), 400, "invalid_request"},
		{"malformed content type", withCT(path, "application/x-www-form-urlencoded; charset", validBody), 400, "invalid_request"},
		{"content type with a NUL", withCT(path, "application/x-www-form-urlencoded\x00", validBody), 400, "invalid_request"},
		{"invalid UTF-8 value", form(path, validBody+"&x=%ff%fe"), 400, "invalid_request"},
		{"invalid UTF-8 name", form(path, validBody+"&%ff=1"), 400, "invalid_request"},
		{"raw invalid UTF-8 byte", form(path, validBody+"&x=\xc3\x28"), 400, "invalid_request"},
		{"bad percent-encoding", form(path, validBody+"&x=%zz"), 400, "invalid_request"},
		{"semicolon separator", form(path, validBody+";x=1"), 400, "invalid_request"},
		{"JSON array", withCT(path, "application/json", `["grant_type"]`), 400, "invalid_request"},
		{"JSON number value", withCT(path, "application/json", `{"token":1}`), 400, "invalid_request"},
		{"JSON null value", withCT(path, "application/json", `{"token":null}`), 400, "invalid_request"},
		{"JSON nested object", withCT(path, "application/json", `{"token":{"a":"b"}}`), 400, "invalid_request"},
		{"JSON duplicate key", withCT(path, "application/json", `{"token":"a","token":"b"}`), 400, "invalid_request"},
		{"JSON trailing data", withCT(path, "application/json", `{"token":"a"}{}`), 400, "invalid_request"},
		{"JSON truncated", withCT(path, "application/json", `{"token":"a"`), 400, "invalid_request"},
		{"JSON 10k nested arrays", withCT(path, "application/json", `{"token":`+strings.Repeat("[", 10_000)), 400, "invalid_request"},
		{"secret in the query", form(path+"?client_secret=x", validBody), 400, "invalid_request"},
		{"token in the query", form(path+"?token=x", validBody), 400, "invalid_request"},
		{"two Authorization headers", func(t testing.TB, f *fixture) *http.Request {
			r := form(path, validBody)(t, f)
			r.Header.Add("Authorization", biBasic("reporting", testSecret))
			return r
		}, 400, "invalid_request"},
		{"Basic and client_secret", form(path, validBody+"&client_secret="+url.QueryEscape(testSecret)), 400, "invalid_request"},
		{"Basic and another client_id", form(path, validBody+"&client_id=oro"), 400, "invalid_request"},
		{"no client authentication", as(path, "", validBody), 401, "invalid_client"},
		{"client_id only, confidential client", as(path, "", validBody+"&client_id=reporting"), 401, "invalid_client"},
		{"empty client_secret", as(path, "", validBody+"&client_id=reporting&client_secret="), 401, "invalid_client"},
		{"duplicate client_id", as(path, "", validBody+"&client_id=reporting&client_id=reporting&client_secret=x"), 400, "invalid_request"},
		{"client_id 10 KB", as(path, "", validBody+"&client_id="+strings.Repeat("c", 10_000)+"&client_secret=x"), 401, "invalid_client"},
	}
	for _, b := range basicCases {
		cases = append(cases, biCase{b.name, as(path, b.header, validBody), 401, "invalid_client"})
	}
	return cases
}

// CONFORMANCE T1
// CONFORMANCE T2
// CONFORMANCE T6
// CONFORMANCE T8
// CONFORMANCE A5
// CONFORMANCE K2
func TestBadInputTokenEndpoint(t *testing.T) {
	cc := "grant_type=client_credentials"
	many := make([]string, 0, 10_000)
	for i := range 10_000 {
		many = append(many, fmt.Sprintf("s%d", i))
	}
	cases := append(biShapeCases(PathToken, cc),
		biCase{"no grant_type", form(PathToken, "scope=api_v3"), 400, "invalid_request"},
		biCase{"empty grant_type", form(PathToken, "grant_type="), 400, "invalid_request"},
		biCase{"duplicate grant_type", form(PathToken, cc+"&"+cc), 400, "invalid_request"},
		biCase{"duplicate scope", form(PathToken, cc+"&scope=api_v3&scope=api_v3"), 400, "invalid_request"},
		biCase{"scope and scopes", form(PathToken, cc+"&scope=api_v3&scopes=api_v3"), 400, "invalid_request"},
		biCase{"grant_type password (no ROPC, RFC 9700 2.4)", form(PathToken, "grant_type=password&username=a&password=b"), 400, "unsupported_grant_type"},
		biCase{"grant_type implicit", form(PathToken, "grant_type=implicit"), 400, "unsupported_grant_type"},
		biCase{"grant_type jwt-bearer", form(PathToken, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"), 400, "unsupported_grant_type"},
		biCase{"grant_type case changed", form(PathToken, "grant_type=Client_Credentials"), 400, "unsupported_grant_type"},
		biCase{"grant_type with NUL", form(PathToken, "grant_type=client_credentials%00"), 400, "unsupported_grant_type"},
		biCase{"grant_type 10 KB", form(PathToken, "grant_type="+strings.Repeat("g", 10_000)), 400, "unsupported_grant_type"},
		biCase{"grant not enabled for the client", as(PathToken, biBasic("web", "web-secret-0123456789"), cc), 400, "unauthorized_client"},
		biCase{"101 scopes", form(PathToken, cc+"&scope="+url.QueryEscape(strings.Join(many[:101], " "))), 400, "invalid_scope"},
		biCase{"10,000 scopes", form(PathToken, cc+"&scope="+url.QueryEscape(strings.Join(many, " "))), 400, "invalid_scope"},
		biCase{"10,000 comma-separated scopes", form(PathToken, cc+"&scope="+strings.Join(many, ",")), 400, "invalid_scope"},
		biCase{"unknown scope", form(PathToken, cc+"&scope=api_v3+root"), 400, "invalid_scope"},
		biCase{"scope not allowed for the client", form(PathToken, cc+"&scope=admin"), 400, "invalid_scope"},
		biCase{"scope with a quote", form(PathToken, cc+"&scope=api%22v3"), 400, "invalid_scope"},
		biCase{"scope with a backslash", form(PathToken, cc+"&scope=api%5Cv3"), 400, "invalid_scope"},
		biCase{"scope with a control character", form(PathToken, cc+"&scope=api%01v3"), 400, "invalid_scope"},
		biCase{"scope with non-ASCII", form(PathToken, cc+"&scope=api_v%C3%A9"), 400, "invalid_scope"},
		biCase{"oro scopes with an unknown one", form(PathToken, cc+"&scopes=api_v3,nope"), 400, "invalid_scope"},
		// authorization_code grant
		biCase{"code missing", as(PathToken, biBasic("app", biAppSecret), "grant_type=authorization_code"), 400, "invalid_request"},
		biCase{"code empty", as(PathToken, biBasic("app", biAppSecret), "grant_type=authorization_code&code="), 400, "invalid_request"},
		biCase{"code garbage", as(PathToken, biBasic("app", biAppSecret), "grant_type=authorization_code&code=abc"), 400, "invalid_grant"},
		biCase{"code with the refresh prefix", as(PathToken, biBasic("app", biAppSecret), "grant_type=authorization_code&code=ogr_"+strings.Repeat("A", 49)), 400, "invalid_grant"},
		biCase{"code well-formed but unknown", func(t testing.TB, f *fixture) *http.Request {
			code, _ := NewOpaqueToken(rand.Reader, PrefixCode)
			return as(PathToken, biBasic("app", biAppSecret), "grant_type=authorization_code&code="+code)(t, f)
		}, 400, "invalid_grant"},
		biCase{"code 10 KB", as(PathToken, biBasic("app", biAppSecret), "grant_type=authorization_code&code=ogc_"+strings.Repeat("A", 10_000)), 400, "invalid_grant"},
		biCase{"duplicate code", as(PathToken, biBasic("app", biAppSecret), "grant_type=authorization_code&code=a&code=b"), 400, "invalid_request"},
		biCase{"code in the query", as(PathToken+"?code=x", biBasic("app", biAppSecret), "grant_type=authorization_code"), 400, "invalid_request"},
		biCase{"code_verifier in the query", as(PathToken+"?code_verifier=x", biBasic("app", biAppSecret), "grant_type=authorization_code&code=x"), 400, "invalid_request"},
		biCase{"redirect_uri of 10,000 characters at redemption", biWithCode(func(code string) string {
			return "grant_type=authorization_code&code=" + code + "&redirect_uri=" + url.QueryEscape("https://app.example/cb?"+strings.Repeat("a", biLongURI))
		}), 400, "invalid_grant"},
		biCase{"redirect_uri missing at redemption", biWithCode(func(code string) string {
			return "grant_type=authorization_code&code=" + code
		}), 400, "invalid_request"},
		biCase{"redirect_uri twice at redemption", biWithCode(func(code string) string {
			return "grant_type=authorization_code&code=" + code + "&redirect_uri=x&redirect_uri=y"
		}), 400, "invalid_request"},
		biCase{"code_verifier without a challenge (downgrade)", biWithCode(func(code string) string {
			return "grant_type=authorization_code&code=" + code + "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier=" + strings.Repeat("v", 43)
		}), 400, "invalid_grant"},
		biCase{"code_verifier missing", biWithCode(func(code string) string {
			return "grant_type=authorization_code&code=" + code + "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
		}, "code_challenge", biChallenge, "code_challenge_method", "S256"), 400, "invalid_grant"},
		biCase{"code_verifier wrong", biWithCode(func(code string) string {
			return "grant_type=authorization_code&code=" + code + "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier=" + strings.Repeat("w", 43)
		}, "code_challenge", biChallenge, "code_challenge_method", "S256"), 400, "invalid_grant"},
		biCase{"code_verifier with bad characters", biWithCode(func(code string) string {
			return "grant_type=authorization_code&code=" + code + "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier=" + strings.Repeat("%2B", 43)
		}, "code_challenge", biChallenge, "code_challenge_method", "S256"), 400, "invalid_grant"},
		biCase{"code_verifier of 10 KB", biWithCode(func(code string) string {
			return "grant_type=authorization_code&code=" + code + "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier=" + strings.Repeat("v", 10_000)
		}, "code_challenge", biChallenge, "code_challenge_method", "S256"), 400, "invalid_grant"},
		biCase{"code of another client", func(t testing.TB, f *fixture) *http.Request {
			code := biCode(t, f)
			return as(PathToken, biBasic("one", "one-secret-0123456789"), "grant_type=authorization_code&code="+code)(t, f)
		}, 400, "invalid_grant"},
		biCase{"public client without PKCE code", as(PathToken, "", "grant_type=authorization_code&client_id=native&code=x"), 400, "invalid_grant"},
		// refresh_token grant
		biCase{"refresh_token missing", as(PathToken, biBasic("app", biAppSecret), "grant_type=refresh_token"), 400, "invalid_request"},
		biCase{"refresh_token garbage", as(PathToken, biBasic("app", biAppSecret), "grant_type=refresh_token&refresh_token=abc"), 400, "invalid_grant"},
		biCase{"refresh_token with the access prefix", as(PathToken, biBasic("app", biAppSecret), "grant_type=refresh_token&refresh_token=oga_"+strings.Repeat("A", 49)), 400, "invalid_grant"},
		biCase{"refresh_token 10 KB", as(PathToken, biBasic("app", biAppSecret), "grant_type=refresh_token&refresh_token="+strings.Repeat("r", 10_000)), 400, "invalid_grant"},
		biCase{"refresh_token in the query", as(PathToken+"?refresh_token=x", biBasic("app", biAppSecret), "grant_type=refresh_token"), 400, "invalid_request"},
		biCase{"refresh_token for a client without the grant", as(PathToken, biBasic("one", "one-secret-0123456789"), "grant_type=refresh_token&refresh_token=x"), 400, "unauthorized_client"},
	)
	// Controls: the same builders with valid input succeed, so each case
	// above fails for the reason it names.
	for name, req := range map[string]func(testing.TB, *fixture) *http.Request{
		"client_credentials": form(PathToken, cc+"&scope=api_v3"),
		"JSON body":          withCT(PathToken, "application/json", `{"grant_type":"client_credentials"}`),
		"code with PKCE": biWithCode(func(code string) string {
			return "grant_type=authorization_code&code=" + code + "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier=" + strings.Repeat("v", 43)
		}, "code_challenge", biChallenge, "code_challenge_method", "S256"),
	} {
		f := biFixture(t)
		if rec := f.do(req(t, f)); rec.Code != http.StatusOK {
			t.Errorf("control %s: %d %s", name, rec.Code, rec.Body)
		}
	}
	biRun(t, cases)
}

// CONFORMANCE V1
// CONFORMANCE T2
func TestBadInputRevocationEndpoint(t *testing.T) {
	biRun(t, append(biShapeCases(PathRevoke, "token=x"),
		biCase{"token missing", form(PathRevoke, "token_type_hint=access_token"), 400, "invalid_request"},
		biCase{"token empty", form(PathRevoke, "token="), 400, "invalid_request"},
		biCase{"duplicate token", form(PathRevoke, "token=a&token=b"), 400, "invalid_request"},
		biCase{"another client's token", func(t testing.TB, f *fixture) *http.Request {
			tok := f.issue(t, "")
			return as(PathRevoke, biBasic("oro", "oro-secret-0123456789"), "token="+tok)(t, f)
		}, 400, "unauthorized_client"},
	))
	// RFC 7009 §2.2: an invalid token is not an error; nothing is revoked.
	f := biFixture(t)
	live := f.issue(t, "api_v3")
	for name, tok := range biBadTokens(t, f) {
		rec := f.do(form(PathRevoke, "token="+url.QueryEscape(tok))(t, f))
		switch name {
		case "unknown client", "disabled client":
			// Signed by us for another client: not this client's to revoke.
			wantError(t, rec, 400, "unauthorized_client")
		default:
			if rec.Code != http.StatusOK {
				t.Errorf("revoking %s: %d %s, want 200", name, rec.Code, rec.Body)
			}
		}
	}
	if _, err := f.srv.Verifier().Verify(t.Context(), live); err != nil {
		t.Fatalf("revoking bad tokens ended a live one: %v", err)
	}
}

// CONFORMANCE V2
// CONFORMANCE T2
func TestBadInputIntrospectionEndpoint(t *testing.T) {
	biRun(t, append(biShapeCases(PathIntrospect, "token=x"),
		biCase{"token missing", form(PathIntrospect, "token_type_hint=access_token"), 400, "invalid_request"},
		biCase{"duplicate token", form(PathIntrospect, "token=a&token=b"), 400, "invalid_request"},
		biCase{"public client", as(PathIntrospect, "", "client_id=native&token=x"), 401, "invalid_client"},
	))
	// RFC 7662 §2.2: anything not valid is {"active": false}, status 200.
	f := biFixture(t)
	for name, tok := range biBadTokens(t, f) {
		rec := f.do(form(PathIntrospect, "token="+url.QueryEscape(tok))(t, f))
		if rec.Code != http.StatusOK {
			t.Errorf("introspecting %s: %d %s", name, rec.Code, rec.Body)
			continue
		}
		if m := decode(t, rec); len(m) != 1 || m["active"] != false {
			t.Errorf("introspecting %s: %s, want only active:false", name, rec.Body)
		}
	}
}

// --- tokens -----------------------------------------------------------------

// biBadTokens is the catalogue of access tokens the verifier must refuse
// with invalid_token, built against f's key and clock. Each is well-formed
// enough to pass the Bearer syntax check (RFC 6750 §2.1).
func biBadTokens(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	key := f.keys.Signer()
	now := f.clock.Now()
	skew := DefaultSkew
	hdr := map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": key.Kid}
	cl := map[string]any{"iss": testIssuer, "sub": "svc-reporting", "aud": "backend", "client_id": "reporting",
		"scope": "api_v3", "jti": "catalogue-jti", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	sign := testutil.ES256Signer(key.Private.(*ecdsa.PrivateKey))
	other, err := GenerateKey(AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(key.Public())
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	point, err := key.Public().(*ecdsa.PublicKey).Bytes() // uncompressed: 0x04 ‖ X ‖ Y
	if err != nil {
		t.Fatal(err)
	}
	jwks := f.keys.JWKS()
	good := f.issue(t, "api_v3")
	parts := strings.Split(good, ".")
	badSig := parts[0] + "." + parts[1] + "."
	out := map[string]string{
		"alg none":                         testutil.ForgeJWS(testutil.With(hdr, "alg", "none"), cl, func(string) []byte { return nil }),
		"alg None":                         testutil.ForgeJWS(testutil.With(hdr, "alg", "None"), cl, func(string) []byte { return nil }),
		"alg none, no kid":                 testutil.ForgeJWS(testutil.With(hdr, "alg", "none", "kid", nil), cl, func(string) []byte { return nil }),
		"alg none, real signature":         testutil.ForgeJWS(testutil.With(hdr, "alg", "none"), cl, sign),
		"HS256 keyed with the public DER":  testutil.ForgeJWS(testutil.With(hdr, "alg", "HS256"), cl, testutil.HMACSigner(pubDER)),
		"HS256 keyed with the public PEM":  testutil.ForgeJWS(testutil.With(hdr, "alg", "HS256"), cl, testutil.HMACSigner(pubPEM)),
		"HS256 keyed with the EC point":    testutil.ForgeJWS(testutil.With(hdr, "alg", "HS256"), cl, testutil.HMACSigner(point)),
		"HS256 keyed with the JWKS":        testutil.ForgeJWS(testutil.With(hdr, "alg", "HS256"), cl, testutil.HMACSigner(jwks)),
		"HS256 keyed with the kid":         testutil.ForgeJWS(testutil.With(hdr, "alg", "HS256"), cl, testutil.HMACSigner([]byte(key.Kid))),
		"HS256 keyed with nothing":         testutil.ForgeJWS(testutil.With(hdr, "alg", "HS256"), cl, testutil.HMACSigner(nil)),
		"ES384 with our kid":               testutil.ForgeJWS(testutil.With(hdr, "alg", "ES384"), cl, sign),
		"RS256 with our kid":               testutil.ForgeJWS(testutil.With(hdr, "alg", "RS256"), cl, sign),
		"alg lowercase es256":              testutil.ForgeJWS(testutil.With(hdr, "alg", "es256"), cl, sign),
		"unknown kid, signed by another":   testutil.ForgeJWS(testutil.With(hdr, "kid", other.Kid), cl, testutil.ES256Signer(other.Private.(*ecdsa.PrivateKey))),
		"our kid, signed by another key":   testutil.ForgeJWS(hdr, cl, testutil.ES256Signer(other.Private.(*ecdsa.PrivateKey))),
		"no kid":                           testutil.ForgeJWS(testutil.With(hdr, "kid", nil), cl, sign),
		"kid of 5 KB":                      testutil.ForgeJWS(testutil.With(hdr, "kid", strings.Repeat("k", 5000)), cl, sign),
		"typ JWT":                          testutil.ForgeJWS(testutil.With(hdr, "typ", "JWT"), cl, sign),
		"no typ":                           testutil.ForgeJWS(testutil.With(hdr, "typ", nil), cl, sign),
		"crit header":                      testutil.ForgeJWS(testutil.With(hdr, "crit", []string{"exp"}), cl, sign),
		"jku header pointing elsewhere":    testutil.ForgeJWS(testutil.With(hdr, "kid", "attacker", "jku", "https://evil.example/jwks"), cl, testutil.ES256Signer(other.Private.(*ecdsa.PrivateKey))),
		"expired beyond skew":              testutil.ForgeJWS(hdr, testutil.With(cl, "exp", now.Add(-skew-time.Second).Unix()), sign),
		"expired long ago":                 testutil.ForgeJWS(hdr, testutil.With(cl, "iat", now.Add(-48*time.Hour).Unix(), "exp", now.Add(-24*time.Hour).Unix()), sign),
		"no exp":                           testutil.ForgeJWS(hdr, testutil.With(cl, "exp", nil), sign),
		"exp as a string":                  testutil.ForgeJWS(hdr, testutil.With(cl, "exp", fmt.Sprint(now.Add(time.Hour).Unix())), sign),
		"exp as a float beyond int64":      testutil.ForgeJWS(hdr, testutil.With(cl, "exp", 1e300), sign),
		"not yet valid beyond skew":        testutil.ForgeJWS(hdr, testutil.With(cl, "nbf", now.Add(skew+time.Minute).Unix()), sign),
		"issued in the future beyond skew": testutil.ForgeJWS(hdr, testutil.With(cl, "iat", now.Add(skew+time.Minute).Unix()), sign),
		"another issuer":                   testutil.ForgeJWS(hdr, testutil.With(cl, "iss", "https://evil.example"), sign),
		"issuer with a trailing slash":     testutil.ForgeJWS(hdr, testutil.With(cl, "iss", testIssuer+"/"), sign),
		"issuer case changed":              testutil.ForgeJWS(hdr, testutil.With(cl, "iss", strings.ToUpper(testIssuer)), sign),
		"no issuer":                        testutil.ForgeJWS(hdr, testutil.With(cl, "iss", nil), sign),
		"no jti":                           testutil.ForgeJWS(hdr, testutil.With(cl, "jti", nil), sign),
		"no sub":                           testutil.ForgeJWS(hdr, testutil.With(cl, "sub", nil), sign),
		"no client_id":                     testutil.ForgeJWS(hdr, testutil.With(cl, "client_id", nil), sign),
		"unknown client":                   testutil.ForgeJWS(hdr, testutil.With(cl, "client_id", "ghost"), sign),
		"disabled client":                  testutil.ForgeJWS(hdr, testutil.With(cl, "client_id", "off"), sign),
		"malformed scope claim":            testutil.ForgeJWS(hdr, testutil.With(cl, "scope", `api"v3`), sign),
		"another server's token, same iss": testutil.ForgeJWS(testutil.With(hdr, "kid", other.Kid), cl, testutil.ES256Signer(other.Private.(*ecdsa.PrivateKey))),
		"altered claims, original sig":     parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+testIssuer+`","sub":"root"}`)) + "." + parts[2],
		"empty signature":                  badSig,
		"two parts":                        parts[0] + "." + parts[1],
		"four parts":                       good + "." + parts[2],
		"dots only":                        "..",
		"header not JSON":                  base64.RawURLEncoding.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2],
		"header JSON null":                 base64.RawURLEncoding.EncodeToString([]byte("null")) + "." + parts[1] + "." + parts[2],
		"signature in std base64 alphabet": parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+/",
		"signature with padding":           good + "==",
		"signature doubled":                good + parts[2],
		"signature of 8 KB":                parts[0] + "." + parts[1] + "." + strings.Repeat("A", 8000),
		"token over the size bound":        good + strings.Repeat("A", maxTokenLen),
		"opaque prefix, garbage":           "oga_" + strings.Repeat("A", 49),
		"opaque, bad checksum":             "oga_" + strings.Repeat("A", 43) + "AAAAAA",
		"refresh token as access token":    "ogr_" + strings.Repeat("A", 49),
		"code as access token":             "ogc_" + strings.Repeat("A", 49),
		"single character":                 "a",
		"another fixture's valid token":    biFixture(t).issue(t, "api_v3"),
	}
	for i := 1; i < len(good); i += len(good) / 12 {
		out[fmt.Sprintf("truncated to %d of %d", i, len(good))] = good[:i]
	}
	for i, alt := range testutil.Base64Spellings(parts[0]) {
		out[fmt.Sprintf("header padding bits %d", i)] = alt + "." + parts[1] + "." + parts[2]
	}
	for i, alt := range testutil.Base64Spellings(parts[1]) {
		out[fmt.Sprintf("claims padding bits %d", i)] = parts[0] + "." + alt + "." + parts[2]
	}
	for i, alt := range testutil.Base64Spellings(parts[2]) {
		out[fmt.Sprintf("signature padding bits %d", i)] = parts[0] + "." + parts[1] + "." + alt
	}
	return out
}

// biCheck runs what the bearer handler runs: extraction (RFC 6750 §2),
// verification, then the route's policy.
func biCheck(ctx context.Context, f *fixture, src BearerSource, r *http.Request, p Policy) *Error {
	tok, err := src.Extract(r)
	if errors.Is(err, ErrNoToken) {
		return &Error{Code: "", Status: http.StatusUnauthorized}
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			panic(fmt.Sprintf("Extract returned %T", err))
		}
		return e
	}
	id, e := f.srv.Verifier().Authenticate(ctx, tok)
	if e != nil {
		return e
	}
	return p.Check(id)
}

// CONFORMANCE K1
// CONFORMANCE R1
// CONFORMANCE R2
// CONFORMANCE R4
// CONFORMANCE R7
// CONFORMANCE M3
func TestBadInputBearerTokens(t *testing.T) {
	for _, cache := range []int{-1, 1000} {
		t.Run(fmt.Sprintf("cache %d", cache), func(t *testing.T) {
			f := biFixture(t, func(c *Config) { c.VerifyCacheSize = cache })
			policy := Policy{Scopes: []string{"api_v3"}, Audience: []string{"backend"}}
			src := BearerSource{Header: "sessionID"}
			good := f.issue(t, "api_v3")
			bearer := func(h string) *http.Request {
				r := httptest.NewRequest("GET", "/api/x", nil)
				r.Header.Set("Authorization", h)
				return r
			}
			// The good token passes, twice (the second time from the cache).
			for range 2 {
				if e := biCheck(t.Context(), f, src, bearer("Bearer "+good), policy); e != nil {
					t.Fatalf("the good token: %v", e)
				}
			}
			for name, tok := range biBadTokens(t, f) {
				t.Run(name, func(t *testing.T) {
					status, code := http.StatusUnauthorized, "invalid_token"
					if len(tok) > maxTokenLen {
						status, code = http.StatusBadRequest, "invalid_request" // malformed: over the size bound
					}
					for range 2 {
						e := biCheck(t.Context(), f, src, bearer("Bearer "+tok), policy)
						if e == nil || e.Code != code || e.Status != status {
							t.Fatalf("got %v, want %d %s", e, status, code)
						}
					}
				})
			}
			// Valid tokens that the route must refuse.
			oroTok := decode(t, f.post(PathToken, "oro", "oro-secret-0123456789", url.Values{"grant_type": {"client_credentials"}}))["access_token"].(string)
			for _, tc := range []struct {
				name, tok string
				status    int
				code      string
			}{
				{"another audience", oroTok, 401, "invalid_token"},
				{"missing scope", f.issue(t, "bcf_v2_1"), 403, "insufficient_scope"},
			} {
				if e := biCheck(t.Context(), f, src, bearer("Bearer "+tc.tok), policy); e == nil || e.Code != tc.code || e.Status != tc.status {
					t.Errorf("%s: got %v, want %d %s", tc.name, e, tc.status, tc.code)
				}
			}
			// Malformed requests: 400 invalid_request (RFC 6750 §3.1).
			malformed := map[string]*http.Request{
				"Bearer with two tokens":       bearer("Bearer " + good + " " + good),
				"Bearer with a comma":          bearer("Bearer a,b"),
				"Bearer with a quote":          bearer(`Bearer "` + good + `"`),
				"Bearer with invalid UTF-8":    bearer("Bearer \xff\xfe"),
				"Bearer with a NUL":            bearer("Bearer a\x00b"),
				"Bearer empty":                 bearer("Bearer "),
				"Bearer with only padding":     bearer("Bearer ==="),
				"Bearer padding in the middle": bearer("Bearer ab=cd"),
				"Bearer of 9 KB":               bearer("Bearer " + strings.Repeat("a", 9000)),
				"Bearer of 100 KB":             bearer("Bearer " + strings.Repeat("a", 100_000)),
				"Bearer with a trailing space": bearer("Bearer " + good + " "),
			}
			two := bearer("Bearer " + good)
			two.Header.Add("Authorization", "Bearer "+good)
			malformed["two Authorization headers"] = two
			both := bearer("Bearer " + good)
			both.Header.Set("sessionID", good)
			malformed["header and sessionID"] = both
			badSession := httptest.NewRequest("GET", "/api/x", nil)
			badSession.Header.Set("sessionID", "a b")
			malformed["malformed sessionID"] = badSession
			for name, r := range malformed {
				if e := biCheck(t.Context(), f, src, r, policy); e == nil || e.Code != "invalid_request" || e.Status != 400 {
					t.Errorf("%s: got %v, want 400 invalid_request", name, e)
				}
			}
			// No token at all: 401 without an error code (RFC 6750 §3.1).
			for name, r := range map[string]*http.Request{
				"none":        httptest.NewRequest("GET", "/api/x", nil),
				"Basic":       bearer("Basic " + b64std("a:b")),
				"query token": httptest.NewRequest("GET", "/api/x?access_token="+good, nil),
				// Not the Bearer scheme followed by a space (RFC 7235): another scheme.
				"Bearer and a tab": bearer("Bearer\t" + good),
				"Bearertoken":      bearer("Bearer" + good),
			} {
				if e := biCheck(t.Context(), f, src, r, policy); e == nil || e.Code != "" || e.Status != 401 {
					t.Errorf("%s: got %v, want 401 without an error code", name, e)
				}
			}
		})
	}
}

// --- the authorization endpoint --------------------------------------------

// CONFORMANCE A1
// CONFORMANCE A2
// CONFORMANCE A4
// CONFORMANCE A5
// CONFORMANCE A6
// CONFORMANCE A7
// CONFORMANCE A10
func TestBadInputAuthorizeEndpoint(t *testing.T) {
	f := biFixture(t)
	h, err := f.srv.AuthorizeHandler(AuthorizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(method, rawQuery, contentType, body string) *httptest.ResponseRecorder {
		r := biReq(method, PathAuthorize, contentType, body)
		r.URL.RawQuery = rawQuery
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	cb := url.QueryEscape("https://app.example/cb")
	ok := "response_type=code&client_id=app&redirect_uri=" + cb + "&state=xyz"
	long := url.QueryEscape("https://app.example/cb?" + strings.Repeat("a", biLongURI))
	longLoopback := url.QueryEscape("http://127.0.0.1:8080/cb" + strings.Repeat("/a", biLongURI/2))
	many := make([]string, 10_000)
	for i := range many {
		many[i] = fmt.Sprintf("s%d", i)
	}
	challenge := strings.Repeat("c", 43)
	if rec := serve("GET", ok, "", ""); rec.Code != http.StatusOK || rec.Header().Get("Location") != "" {
		t.Fatalf("control: the valid request gets %d %q, want the login page", rec.Code, rec.Header().Get("Location"))
	}

	// Nothing to redirect to safely: an HTML error page, no Location.
	pages := []struct {
		name, method, query, ct, body string
		status                        int
	}{
		{"PUT", "PUT", ok, "", "", 405},
		{"DELETE", "DELETE", ok, "", "", 405},
		{"client_id missing", "GET", "response_type=code&redirect_uri=" + cb, "", "", 400},
		{"client_id empty", "GET", "response_type=code&client_id=&redirect_uri=" + cb, "", "", 400},
		{"client_id twice", "GET", ok + "&client_id=app", "", "", 400},
		{"client_id unknown", "GET", "response_type=code&client_id=evil&redirect_uri=" + cb, "", "", 400},
		{"client_id invalid UTF-8", "GET", "response_type=code&client_id=%ff%fe&redirect_uri=" + cb, "", "", 400},
		{"client_id 10 KB", "GET", "response_type=code&client_id=" + strings.Repeat("c", 10_000) + "&redirect_uri=" + cb, "", "", 400},
		{"client disabled", "GET", "response_type=code&client_id=gone&redirect_uri=" + url.QueryEscape("https://gone.example/cb"), "", "", 400},
		{"redirect_uri not registered", "GET", "response_type=code&client_id=app&redirect_uri=" + url.QueryEscape("https://evil.example/cb"), "", "", 400},
		{"redirect_uri of 10,000 characters", "GET", "response_type=code&client_id=app&redirect_uri=" + long, "", "", 400},
		{"loopback redirect_uri of 10,000 characters", "GET", "response_type=code&client_id=app&redirect_uri=" + longLoopback, "", "", 400},
		{"redirect_uri twice", "GET", ok + "&redirect_uri=" + cb, "", "", 400},
		{"redirect_uri missing, several registered", "GET", "response_type=code&client_id=app", "", "", 400},
		{"redirect_uri empty, several registered", "GET", "response_type=code&client_id=app&redirect_uri=", "", "", 400},
		{"redirect_uri with a fragment", "GET", "response_type=code&client_id=app&redirect_uri=" + url.QueryEscape("https://app.example/cb#x"), "", "", 400},
		{"redirect_uri invalid UTF-8", "GET", "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%ff", "", "", 400},
		{"redirect_uri of another client", "GET", "response_type=code&client_id=app&redirect_uri=" + url.QueryEscape("https://one.example/cb"), "", "", 400},
		{"redirect_uri out-of-band, not registered", "GET", "response_type=code&client_id=app&redirect_uri=" + url.QueryEscape(OOBRedirect), "", "", 400},
		{"bad percent-encoding", "GET", ok + "&x=%zz", "", "", 400},
		{"semicolon separator", "GET", ok + ";x=1", "", "", 400},
		{"POST text/plain", "POST", "", "text/plain", ok, 400},
		{"POST without a content type", "POST", "", "", ok, 400},
		{"POST JSON", "POST", "", "application/json", `{"client_id":"app"}`, 400},
		{"POST over 64 KiB", "POST", "", formCT, ok + "&pad=" + strings.Repeat("a", MaxBodyBytes), 400},
		{"POST with the parameters in the URL only", "POST", ok, formCT, "", 400},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(tc.method, tc.query, tc.ct, tc.body)
			if rec.Code != tc.status || rec.Header().Get("Location") != "" {
				t.Fatalf("%d Location %q, want %d and no redirect", rec.Code, rec.Header().Get("Location"), tc.status)
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || rec.Header().Get("X-Frame-Options") != "DENY" {
				t.Fatalf("error page headers: %v", rec.Header())
			}
		})
	}

	// The client and redirect URI are right: an error redirect with the RFC
	// code, the state verbatim and iss (RFC 9207).
	redirects := []struct{ name, query, code, to string }{
		{"response_type missing", "client_id=app&redirect_uri=" + cb + "&state=xyz", "invalid_request", ""},
		{"response_type token (no implicit grant)", "response_type=token&client_id=app&redirect_uri=" + cb + "&state=xyz", "unsupported_response_type", ""},
		{"response_type code token", "response_type=code+token&client_id=app&redirect_uri=" + cb + "&state=xyz", "unsupported_response_type", ""},
		{"response_type id_token", "response_type=id_token&client_id=app&redirect_uri=" + cb + "&state=xyz", "unsupported_response_type", ""},
		{"response_type CODE", "response_type=CODE&client_id=app&redirect_uri=" + cb + "&state=xyz", "unsupported_response_type", ""},
		{"response_type twice", ok + "&response_type=code", "invalid_request", ""},
		{"101 scopes", ok + "&scope=" + strings.Join(many[:101], "+"), "invalid_scope", ""},
		{"10,000 scopes", ok + "&scope=" + strings.Join(many, "+"), "invalid_scope", ""},
		{"scope invalid UTF-8", ok + "&scope=api_v3%ff", "invalid_scope", ""},
		{"scope with a quote", ok + "&scope=api%22v3", "invalid_scope", ""},
		{"scope unknown", ok + "&scope=api_v3+root", "invalid_scope", ""},
		{"scope not allowed for the client", ok + "&scope=admin", "invalid_scope", ""},
		{"scope twice", ok + "&scope=api_v3&scope=api_v3", "invalid_request", ""},
		{"code_challenge_method plain", ok + "&code_challenge=" + challenge + "&code_challenge_method=plain", "invalid_request", ""},
		{"code_challenge without method (plain)", ok + "&code_challenge=" + challenge, "invalid_request", ""},
		{"code_challenge_method S512", ok + "&code_challenge=" + challenge + "&code_challenge_method=S512", "invalid_request", ""},
		{"code_challenge_method s256", ok + "&code_challenge=" + challenge + "&code_challenge_method=s256", "invalid_request", ""},
		{"code_challenge too short", ok + "&code_challenge=abc&code_challenge_method=S256", "invalid_request", ""},
		{"code_challenge with bad characters", ok + "&code_challenge=" + strings.Repeat("%2B", 43) + "&code_challenge_method=S256", "invalid_request", ""},
		{"code_challenge of 10 KB", ok + "&code_challenge=" + strings.Repeat("c", 10_000) + "&code_challenge_method=S256", "invalid_request", ""},
		{"code_challenge twice", ok + "&code_challenge=" + challenge + "&code_challenge=" + challenge + "&code_challenge_method=S256", "invalid_request", ""},
		{"code_challenge_method alone", ok + "&code_challenge_method=S256", "invalid_request", ""},
		{"public client without PKCE", "response_type=code&client_id=native&redirect_uri=" + url.QueryEscape("http://127.0.0.1:5555/cb") + "&state=xyz", "invalid_request", "http://127.0.0.1:5555/cb"},
		{"prompt none, not signed in", ok + "&prompt=none", "login_required", ""},
		{"prompt none with login", ok + "&prompt=none+login", "invalid_request", ""},
		{"prompt twice", ok + "&prompt=login&prompt=consent", "invalid_request", ""},
		{"redirect_uri omitted, one registered", "response_type=token&client_id=one&state=xyz", "unsupported_response_type", "https://one.example/cb"},
	}
	for _, tc := range redirects {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve("GET", tc.query, "", "")
			to := tc.to
			if to == "" {
				to = "https://app.example/cb"
			}
			loc := rec.Header().Get("Location")
			if rec.Code != http.StatusFound || !strings.HasPrefix(loc, to+"?") {
				t.Fatalf("%d Location %q, want a redirect to %s", rec.Code, loc, to)
			}
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if q.Get("error") != tc.code || q.Get("state") != "xyz" || q.Get("iss") != testIssuer || q.Has("code") {
				t.Fatalf("redirect %q: want error=%s, state=xyz, iss, no code", loc, tc.code)
			}
		})
	}

	// An odd state comes back verbatim.
	odd := "a b&c=d#e/\xff\x00" + strings.Repeat("s", 2000)
	rec := serve("GET", "response_type=token&client_id=app&redirect_uri="+cb+"&state="+url.QueryEscape(odd), "", "")
	if u, err := url.Parse(rec.Header().Get("Location")); err != nil || u.Query().Get("state") != odd || u.Fragment != "" {
		t.Fatalf("state not verbatim: %q", rec.Header().Get("Location"))
	}
}

// --- revocation catches every spelling ---------------------------------------

// biOpaqueSpellings returns the other spellings of an opaque token: its
// random part with other padding bits (and the checksum recomputed, as an
// attacker can), and its checksum with other padding bits.
func biOpaqueSpellings(tok, prefix string) []string {
	body := tok[len(prefix) : len(tok)-opaqueSumLen]
	sum := tok[len(tok)-opaqueSumLen:]
	var out []string
	for _, alt := range testutil.Base64Spellings(body) {
		b := prefix + alt
		out = append(out, b+opaqueChecksum(b), b+sum)
	}
	for _, alt := range testutil.Base64Spellings(sum) {
		out = append(out, prefix+body+alt)
	}
	return out
}

func biJWTSpellings(tok string) []string {
	p := strings.Split(tok, ".")
	var out []string
	for i := range p {
		for _, alt := range testutil.Base64Spellings(p[i]) {
			q := append([]string(nil), p...)
			q[i] = alt
			out = append(out, strings.Join(q, "."))
		}
	}
	return out
}

func biSpellingsOf(tok string) []string {
	for _, prefix := range []string{PrefixAccess, PrefixRefresh, PrefixCode} {
		if strings.HasPrefix(tok, prefix) {
			return biOpaqueSpellings(tok, prefix)
		}
	}
	return biJWTSpellings(tok)
}

// biCode runs the authorization endpoint for app (alice signed in, consent
// given) and returns a code; extra adds parameters (PKCE).
func biCode(t testing.TB, f *fixture, extra ...string) string {
	t.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	code := authorizeWith(t, f, q).Get("code")
	if code == "" {
		t.Fatalf("no code for %v", extra)
	}
	return code
}

func biRedeem(f *fixture, form url.Values) *httptest.ResponseRecorder {
	return f.post(PathToken, "app", biAppSecret, form)
}

// CONFORMANCE R6
// CONFORMANCE V1
// CONFORMANCE V2
// CONFORMANCE K2
// CONFORMANCE T3
// CONFORMANCE T4
func TestRevocationCatchesEverySpelling(t *testing.T) {
	for _, format := range []TokenFormat{FormatJWT, FormatOpaque} {
		for _, cache := range []int{-1, 1000} {
			t.Run(fmt.Sprintf("%s cache %d", format, cache), func(t *testing.T) {
				f := biFixture(t, func(c *Config) { c.Format, c.VerifyCacheSize = format, cache })
				v := f.srv.Verifier()
				introspect := func(tok string) map[string]any {
					rec := f.post(PathIntrospect, "oro", "oro-secret-0123456789", url.Values{"token": {tok}})
					if rec.Code != 200 {
						t.Fatalf("introspect: %d %s", rec.Code, rec.Body)
					}
					return decode(t, rec)
				}
				// Revoke the canonical spelling: every spelling is refused.
				tok := f.issue(t, "api_v3")
				want, verr := v.Verify(t.Context(), tok)
				if verr != nil {
					t.Fatal(verr)
				}
				alts := biSpellingsOf(tok)
				if len(alts) == 0 {
					t.Fatal("no alternative spellings generated")
				}
				for _, alt := range append([]string{tok}, alts...) {
					v.Authenticate(t.Context(), alt) // cached when accepted, so the revocation must reach the cache
					if id, err := v.Verify(t.Context(), alt); err == nil && id.ID != want.ID {
						t.Fatalf("an alternative spelling verifies as another token")
					} else if err != nil && err.Code != "invalid_token" {
						t.Fatalf("alternative spelling: %v", err)
					}
				}
				if rec := f.post(PathRevoke, "reporting", testSecret, url.Values{"token": {tok}}); rec.Code != 200 {
					t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
				}
				for _, s := range append([]string{tok}, alts...) {
					if _, err := v.Verify(t.Context(), s); err == nil {
						t.Fatalf("a spelling of a revoked token still verifies (canonical: %v)", s == tok)
					}
					if _, err := v.Authenticate(t.Context(), s); err == nil {
						t.Fatalf("a spelling of a revoked token still authenticates (canonical: %v)", s == tok)
					}
					if m := introspect(s); m["active"] != false {
						t.Fatalf("a spelling of a revoked token introspects as %v", m)
					}
				}
				// Revoke an alternative spelling: when it is the same token, the
				// canonical one must go too.
				tok2 := f.issue(t, "api_v3")
				var same []string
				v.Authenticate(t.Context(), tok2)
				for _, alt := range biSpellingsOf(tok2) {
					if _, err := v.Authenticate(t.Context(), alt); err == nil {
						same = append(same, alt)
					}
					if rec := f.post(PathRevoke, "reporting", testSecret, url.Values{"token": {alt}}); rec.Code != 200 {
						t.Fatalf("revoke an alternative spelling: %d %s", rec.Code, rec.Body)
					}
				}
				if _, err := v.Authenticate(t.Context(), tok2); len(same) > 0 && err == nil {
					t.Fatal("revoking an accepted alternative spelling left the token valid")
				}
			})
		}
	}

	t.Run("codes and refresh tokens", func(t *testing.T) {
		f := biFixture(t)
		code := biCode(t, f)
		alts := biSpellingsOf(code)
		if len(alts) == 0 {
			t.Fatal("no alternative spellings of the code")
		}
		redeemedAlt := false
		for _, alt := range alts {
			rec := biRedeem(f, url.Values{"grant_type": {"authorization_code"}, "code": {alt}, "redirect_uri": {"https://app.example/cb"}})
			switch {
			case rec.Code == 200 && !redeemedAlt:
				redeemedAlt = true // treated as the same code: the canonical one is now used
			case rec.Code == 200:
				t.Fatal("a code redeemed twice through its spellings")
			default:
				wantError(t, rec, 400, "invalid_grant")
			}
		}
		rec := biRedeem(f, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://app.example/cb"}})
		if redeemedAlt {
			wantError(t, rec, 400, "invalid_grant")
			return
		}
		if rec.Code != 200 {
			t.Fatalf("the canonical code after its refused spellings: %d %s", rec.Code, rec.Body)
		}
		refresh := decode(t, rec)["refresh_token"].(string)
		ralts := biSpellingsOf(refresh)
		if len(ralts) == 0 {
			t.Fatal("no alternative spellings of the refresh token")
		}
		// Revoke the canonical refresh token: no spelling refreshes or is active.
		if rec := f.post(PathRevoke, "app", biAppSecret, url.Values{"token": {refresh}}); rec.Code != 200 {
			t.Fatalf("revoke refresh: %d %s", rec.Code, rec.Body)
		}
		for _, s := range append([]string{refresh}, ralts...) {
			wantError(t, biRedeem(f, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s}}), 400, "invalid_grant")
			rec := f.post(PathIntrospect, "oro", "oro-secret-0123456789", url.Values{"token": {s}})
			if m := decode(t, rec); rec.Code != 200 || m["active"] != false {
				t.Fatalf("a spelling of a revoked refresh token: %d %v", rec.Code, m)
			}
		}
	})
}

// Tests of bad input through Caddy: malformed tokens, requests and headers at the endpoints and routes.

package caddymodule

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/authz"
	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// The bad-input catalogue through Caddy: the protect handler and the OAuth
// endpoints behind a real Caddy HTTP server, with its header size limit
// (Caddy's default max_header_size, 16 KiB). Every case is a 4xx with the
// RFC error code; nothing refused reaches the upstream.

// biKey writes a fresh ES256 signing key for the gateway and returns it, so
// the test can sign tokens with the gateway's own key.
func biKey(t *testing.T) (*authz.SigningKey, string) {
	t.Helper()
	k, err := authz.GenerateKey(authz.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := authz.MarshalPrivateKeyPEM(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "signing.pem")
	if err := os.WriteFile(p, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return k, p
}

// biRaw sends a raw HTTP/1.1 request and returns the answer's status code.
// The server may answer (431) and close before it has read the whole
// request, so the request is written while the answer is read.
func biRaw(t *testing.T, addr, request string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	go func() { _, _ = io.WriteString(c, request) }()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		t.Fatalf("status line %q", line)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("status line %q", line)
	}
	return code
}

// CONFORMANCE R1
// CONFORMANCE R2
// CONFORMANCE R4
// CONFORMANCE R6
// CONFORMANCE R7
// CONFORMANCE K1
// CONFORMANCE T1
// CONFORMANCE A1
func TestBadInputThroughCaddy(t *testing.T) {
	setSecrets(t)
	key, keyFile := biKey(t)
	g := newGateway(t)
	up := newUpstream(t)
	g.load(baseApp(g.base, "signing_key ES256 "+keyFile), fmt.Sprintf(`
	oauthgate_server
	route /api/* {
		oauthgate_protect api_v3 {
			audience backend
			token_header sessionID
		}
		reverse_proxy %s
	}`, up.addr()))
	addr := strings.TrimPrefix(g.base, "http://")
	good := getToken(t, g, "reporting", reportingSecret, "api_v3")
	if resp, _ := call(t, "GET", g.base+"/api/x", map[string]string{"Authorization": "Bearer " + good}, ""); resp.StatusCode != 200 {
		t.Fatalf("the good token: %d", resp.StatusCode)
	}
	reached := up.count()

	now := time.Now()
	hdr := map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": key.Kid}
	cl := map[string]any{"iss": g.base, "sub": "svc-reporting", "aud": "backend", "client_id": "reporting",
		"scope": "api_v3", "jti": "through-caddy", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	sign := testutil.ES256Signer(key.Private.(*ecdsa.PrivateKey))
	other, _ := authz.GenerateKey(authz.AlgES256)
	pubDER, _ := x509.MarshalPKIXPublicKey(key.Public())
	hs256 := func(in string) []byte { m := hmac.New(sha256.New, pubDER); m.Write([]byte(in)); return m.Sum(nil) }
	parts := strings.Split(good, ".")
	oro := getToken(t, g, "oro", oroSecret, "api_v3")
	revoked := getToken(t, g, "reporting", reportingSecret, "api_v3")
	if code, body := tokenPostPath(t, g, "/oauth/revoke", "reporting", reportingSecret, url.Values{"token": {revoked}}); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	rparts := strings.Split(revoked, ".")

	invalid := map[string]string{
		"alg none":                         testutil.ForgeJWS(testutil.With(hdr, "alg", "none"), cl, func(string) []byte { return nil }),
		"HS256 keyed with the public key":  testutil.ForgeJWS(testutil.With(hdr, "alg", "HS256"), cl, hs256),
		"unknown kid":                      testutil.ForgeJWS(testutil.With(hdr, "kid", other.Kid), cl, testutil.ES256Signer(other.Private.(*ecdsa.PrivateKey))),
		"our kid, another key":             testutil.ForgeJWS(hdr, cl, testutil.ES256Signer(other.Private.(*ecdsa.PrivateKey))),
		"no kid":                           testutil.ForgeJWS(testutil.With(hdr, "kid", nil), cl, sign),
		"typ JWT":                          testutil.ForgeJWS(testutil.With(hdr, "typ", "JWT"), cl, sign),
		"expired beyond the 30s skew":      testutil.ForgeJWS(hdr, testutil.With(cl, "exp", now.Add(-31*time.Second).Unix()), sign),
		"not yet valid beyond the skew":    testutil.ForgeJWS(hdr, testutil.With(cl, "nbf", now.Add(2*time.Minute).Unix()), sign),
		"issued in the future":             testutil.ForgeJWS(hdr, testutil.With(cl, "iat", now.Add(2*time.Minute).Unix()), sign),
		"another issuer":                   testutil.ForgeJWS(hdr, testutil.With(cl, "iss", "https://evil.example"), sign),
		"another audience, forged":         testutil.ForgeJWS(hdr, testutil.With(cl, "aud", "frontend"), sign),
		"another audience, issued (oro)":   oro,
		"disabled client":                  testutil.ForgeJWS(hdr, testutil.With(cl, "client_id", "sleeper"), sign),
		"revoked":                          revoked,
		"truncated":                        good[:len(good)-7],
		"header and claims only":           parts[0] + "." + parts[1],
		"empty signature":                  parts[0] + "." + parts[1] + ".",
		"altered claims":                   parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"root"}`)) + "." + parts[2],
		"opaque-looking garbage":           "oga_" + strings.Repeat("A", 49),
		"signature with padding":           good + "==",
		"signature in std base64 alphabet": parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "/",
	}
	for i, alt := range testutil.Base64Spellings(parts[2]) {
		invalid[fmt.Sprintf("signature padding bits %d", i)] = parts[0] + "." + parts[1] + "." + alt
	}
	for i, alt := range testutil.Base64Spellings(rparts[2]) {
		invalid[fmt.Sprintf("revoked, another spelling %d", i)] = rparts[0] + "." + rparts[1] + "." + alt
	}

	type want struct {
		status int
		code   string // in WWW-Authenticate; "" for a challenge without error
	}
	cases := map[string]struct {
		headers map[string]string
		want    want
	}{
		"no token":                   {nil, want{401, ""}},
		"Basic credentials":          {map[string]string{"Authorization": "Basic YTpi"}, want{401, ""}},
		"missing scope":              {map[string]string{"Authorization": "Bearer " + getToken(t, g, "reporting", reportingSecret, "bcf_v2_1")}, want{403, "insufficient_scope"}},
		"two tokens in one header":   {map[string]string{"Authorization": "Bearer " + good + " " + good}, want{400, "invalid_request"}},
		"token with a quote":         {map[string]string{"Authorization": `Bearer "abc"`}, want{400, "invalid_request"}},
		"token with non-ASCII bytes": {map[string]string{"Authorization": "Bearer \xc3\xa9\xff"}, want{400, "invalid_request"}},
		"token of 12 KB":             {map[string]string{"Authorization": "Bearer " + strings.Repeat("a", 12<<10)}, want{400, "invalid_request"}},
		"Authorization and sessionID": {map[string]string{"Authorization": "Bearer " + good, "sessionID": good},
			want{400, "invalid_request"}},
		"malformed sessionID": {map[string]string{"sessionID": "a,b"}, want{400, "invalid_request"}},
	}
	for name, tok := range invalid {
		cases[name] = struct {
			headers map[string]string
			want    want
		}{map[string]string{"Authorization": "Bearer " + tok}, want{401, "invalid_token"}}
		cases[name+" (sessionID)"] = struct {
			headers map[string]string
			want    want
		}{map[string]string{"sessionID": tok}, want{401, "invalid_token"}}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resp, body := call(t, "GET", g.base+"/api/x", tc.headers, "")
			if resp.StatusCode != tc.want.status {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tc.want.status, body)
			}
			challenge := resp.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(challenge, "Bearer realm=") {
				t.Fatalf("WWW-Authenticate %q", challenge)
			}
			if tc.want.code == "" && strings.Contains(challenge, "error=") {
				t.Fatalf("WWW-Authenticate %q, want no error code", challenge)
			}
			if tc.want.code != "" && !strings.Contains(challenge, `error="`+tc.want.code+`"`) {
				t.Fatalf("WWW-Authenticate %q, want error=%q", challenge, tc.want.code)
			}
		})
	}
	if n := up.count() - reached; n != 0 {
		t.Fatalf("%d refused requests reached the upstream", n)
	}

	// Header size limits: past Caddy's max_header_size, Go's server answers
	// 431 before any handler runs; below it, the protect handler decides.
	get := func(headers string) string {
		return "GET /api/x HTTP/1.1\r\nHost: " + addr + "\r\n" + headers + "Connection: close\r\n\r\n"
	}
	limits := []struct {
		name    string
		request string
		status  int
	}{
		{"Authorization of 12 KB", get("Authorization: Bearer " + strings.Repeat("a", 12<<10) + "\r\n"), 400},
		{"Authorization of 64 KB", get("Authorization: Bearer " + strings.Repeat("a", 64<<10) + "\r\n"), 431},
		{"Authorization of 2 MB", get("Authorization: Bearer " + strings.Repeat("a", 2<<20) + "\r\n"), 431},
		{"3,000 headers", get(strings.Repeat("X-Pad: aaaaaaaaaaaaaaaa\r\n", 3000)), 431},
		{"request line of 64 KB", "GET /api/" + strings.Repeat("a", 64<<10) + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n", 431},
		{"token endpoint, 64 KB header", "POST /oauth/token HTTP/1.1\r\nHost: " + addr + "\r\nX-Pad: " + strings.Repeat("a", 64<<10) + "\r\nContent-Length: 0\r\n\r\n", 431},
		{"NUL in a header", get("Authorization: Bearer a\x00b\r\n"), 400},
		{"header without a colon", get("Authorization Bearer abc\r\n"), 400},
		{"two Host headers", get("Host: other\r\n"), 400},
	}
	for _, tc := range limits {
		t.Run(tc.name, func(t *testing.T) {
			if got := biRaw(t, addr, tc.request); got != tc.status {
				t.Fatalf("status %d, want %d", got, tc.status)
			}
		})
	}
	if n := up.count() - reached; n != 0 {
		t.Fatalf("%d refused requests reached the upstream", n)
	}

	// The endpoints behind Caddy: oversized bodies and a 10,000-character
	// redirect URI are refused with a 4xx, never a 5xx.
	t.Run("token endpoint, body over 64 KiB", func(t *testing.T) {
		body := "grant_type=client_credentials&pad=" + strings.Repeat("a", 70<<10)
		resp, out := call(t, "POST", g.base+"/oauth/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded",
			"Authorization": basicAuth("reporting", reportingSecret)}, body)
		if resp.StatusCode != 413 || decodeJSON(t, out)["error"] != "invalid_request" {
			t.Fatalf("%d %s", resp.StatusCode, out)
		}
	})
	t.Run("introspection, JSON of 1 MB", func(t *testing.T) {
		body := `{"token":"` + strings.Repeat("a", 1<<20) + `"}`
		resp, out := call(t, "POST", g.base+"/oauth/introspect", map[string]string{"Content-Type": "application/json",
			"Authorization": basicAuth("reporting", reportingSecret)}, body)
		if resp.StatusCode != 413 || decodeJSON(t, out)["error"] != "invalid_request" {
			t.Fatalf("%d %s", resp.StatusCode, out)
		}
	})
	t.Run("revocation, wrong content type", func(t *testing.T) {
		resp, out := call(t, "POST", g.base+"/oauth/revoke", map[string]string{"Content-Type": "text/plain",
			"Authorization": basicAuth("reporting", reportingSecret)}, "token="+good)
		if resp.StatusCode != 400 || decodeJSON(t, out)["error"] != "invalid_request" {
			t.Fatalf("%d %s", resp.StatusCode, out)
		}
	})
	t.Run("authorize, redirect URI of 10,000 characters", func(t *testing.T) {
		target := g.base + "/oauth/authorize?response_type=code&client_id=reporting&redirect_uri=" +
			url.QueryEscape("https://app.example/cb?"+strings.Repeat("a", 10_000))
		resp, _ := call(t, "GET", target, nil, "")
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
			t.Fatalf("%d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

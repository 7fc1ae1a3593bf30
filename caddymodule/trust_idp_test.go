// Trusted issuers against a real oidc-provider (idp/) and a second oauthgate; RFC 9728 through oauth4webapi; discovery failures.

package caddymodule

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/oauthgate/caddy-oauthgate/authz"
	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
	"github.com/oauthgate/caddy-oauthgate/tokenstore/memory"
)

// testIdP is panva's oidc-provider (idp/idp.mjs) on a free loopback port:
// a certified, independent authorization server.
type testIdP struct {
	Issuer string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
}

const (
	idpAppSecret     = "orders-app-secret-0123456789abcdef"
	idpGatewaySecret = "gateway-secret-0123456789abcdef"
)

// startIdP starts the provider with its resource indicators set to
// jwtResource (JWT access tokens) and opaqueResource (opaque tokens).
// Without node or idp/node_modules the test is skipped — and fails under
// CI=true, naming what is missing.
func startIdP(t *testing.T, jwtResource, opaqueResource string) *testIdP {
	t.Helper()
	node := testutil.Need(t, "node", "nodejs")
	dir, err := filepath.Abs("../idp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("idp/node_modules is missing: run `npm ci` in %s (test.sh does)", dir)
		}
		t.Skipf("idp/node_modules is missing: run `npm ci` in %s", dir)
	}
	cmd := exec.Command(node, "idp.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "IDP_JWT_RESOURCE="+jwtResource, "IDP_OPAQUE_RESOURCE="+opaqueResource,
		"IDP_APP_SECRET="+idpAppSecret, "IDP_GATEWAY_SECRET="+idpGatewaySecret)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &testIdP{cmd: cmd, stdin: stdin}
	t.Cleanup(p.stop)
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- s.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		var hello struct{ Issuer string }
		if err := json.Unmarshal([]byte(l), &hello); err != nil || hello.Issuer == "" {
			t.Fatalf("oidc-provider said %q", l)
		}
		p.Issuer = hello.Issuer
	case <-time.After(20 * time.Second):
		t.Fatalf("oidc-provider did not start: %s", stderr.String())
	}
	return p
}

// stop ends the provider (closing its stdin; then by its pid).
func (p *testIdP) stop() {
	if p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.stdin.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// token gets a client_credentials token for resource with x/oauth2.
func (p *testIdP) token(t *testing.T, resource string, scopes ...string) string {
	t.Helper()
	cc := clientcredentials.Config{ClientID: "orders-app", ClientSecret: idpAppSecret, TokenURL: p.Issuer + "/token",
		Scopes: scopes, EndpointParams: url.Values{"resource": {resource}}}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatalf("token from oidc-provider: %v", err)
	}
	return tok.AccessToken
}

func (p *testIdP) rotate(t *testing.T) string {
	t.Helper()
	resp, err := http.Post(p.Issuer+"/_test/rotate", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct{ Kid string }
	_ = json.NewDecoder(resp.Body).Decode(&r)
	return r.Kid
}

// kidOf reads a JWT's kid (to show which key signed it).
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, _ := base64.RawURLEncoding.DecodeString(h)
	var hdr struct{ Kid string }
	_ = json.Unmarshal(b, &hdr)
	return hdr.Kid
}

// secondOauthgate is another oauthgate's OAuth core on loopback, a second
// trusted issuer: it issues JWTs for audience to client "peer".
func secondOauthgate(t *testing.T, audience string, before ...func(*httptest.Server)) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + l.Addr().String()
	key, _ := authz.GenerateKey(authz.AlgES256)
	keys, _ := authz.NewKeySet(key)
	cat, _ := authz.NewCatalog([]authz.Scope{{Name: "orders:read", Description: "read", Default: true}})
	peer := &authz.Client{ID: "peer", Grants: []string{authz.GrantClientCredentials}, Scopes: []string{"orders:read"}, Audience: []string{audience}}
	peer.SetSecret(authz.HashSecret("peer-secret-0123456789"))
	store := memory.New(memory.Options{})
	t.Cleanup(func() { _ = store.Close() })
	srv, err := authz.NewServer(authz.Config{Issuer: issuer, Keys: keys, Scopes: cat, Clients: authz.StaticClients{"peer": peer}, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := srv.Handler(r.URL.Path); h != nil {
			h.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	hs.Listener.Close()
	hs.Listener = l
	for _, f := range before {
		f(hs)
	}
	hs.Start()
	t.Cleanup(hs.Close)
	return hs
}

// CONFORMANCE X1
// CONFORMANCE X3
// CONFORMANCE X4
// CONFORMANCE X5
// CONFORMANCE R4: a pure gateway (no issuer, clients or users of its own)
// in front of an API, trusting a real oidc-provider (JWTs through its
// resource indicators, opaque tokens through its introspection, a key
// rotation while the gateway runs) and a second oauthgate.
func TestTrustedIssuersAgainstOIDCProvider(t *testing.T) {
	t.Setenv("OAUTHGATE_TEST_IDP_SECRET", idpGatewaySecret)
	g := newGateway(t)
	up := newUpstream(t)
	ordersRes, opaqueRes := g.base+"/orders", g.base+"/opaque"
	idp := startIdP(t, ordersRes, opaqueRes)
	peer := secondOauthgate(t, "peer-api")
	g.load(fmt.Sprintf(`	oauthgate {
		trust %s {
			audience %s
			introspect {
				client_id gateway
				client_secret {env.OAUTHGATE_TEST_IDP_SECRET}
				cache 1m
			}
			header X-OAuth-Roles realm_access.roles
			header X-Tenant tenant
		}
		trust %s {
			audience peer-api
		}
	}`, idp.Issuer, ordersRes, peer.URL), fmt.Sprintf(`
	metrics /metrics
	oauthgate_server
	route /orders/* {
		oauthgate_protect orders:read {
			resource %s
			resource_name "Orders API"
		}
		reverse_proxy %s
	}
	route /opaque/* {
		oauthgate_protect orders:read {
			issuers %s
			resource %s
		}
		reverse_proxy %s
	}
	route /plain/* {
		oauthgate_protect orders:read
		reverse_proxy %s
	}
	route /who {
		oauthgate_protect
		respond "{oauth.issuer} {oauth.subject}"
	}`, ordersRes, up.addr(), idp.Issuer, opaqueRes, up.addr(), up.addr()))
	get := func(path, tok string, extra ...string) (*http.Response, string) {
		h := map[string]string{}
		if tok != "" {
			h["Authorization"] = "Bearer " + tok
		}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return call(t, "GET", g.base+path, h, "")
	}

	// X5: the challenge points to the resource's metadata, which lists
	// the issuers, scopes and bearer methods.
	resp, _ := get("/orders/1", "")
	wantMD := g.base + "/.well-known/oauth-protected-resource/orders"
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `resource_metadata="`+wantMD+`"`) {
		t.Fatalf("no token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp, body := call(t, "GET", wantMD, nil, "")
	var md ResourceMetadata
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if resp.StatusCode != 200 || dec.Decode(&md) != nil {
		t.Fatalf("resource metadata: %d %s", resp.StatusCode, body)
	}
	if md.Resource != ordersRes || strings.Join(md.AuthorizationServers, " ") != idp.Issuer+" "+peer.URL ||
		strings.Join(md.ScopesSupported, " ") != "orders:read" || strings.Join(md.BearerMethodsSupported, " ") != "header" || md.ResourceName != "Orders API" {
		t.Fatalf("resource metadata: %+v", md)
	}
	_, body = call(t, "GET", g.base+"/.well-known/oauth-protected-resource/opaque", nil, "")
	if !strings.Contains(body, `"authorization_servers":["`+idp.Issuer+`"]`) {
		t.Fatalf("opaque route's metadata: %s", body)
	}

	// The same, as a strict RFC 9728 client (oauth4webapi) follows it:
	// challenge → resource metadata → every authorization server's metadata.
	out, err := exec.Command("node", "../idp/prm.mjs", g.base+"/orders/1", ordersRes).CombinedOutput()
	if err != nil {
		t.Fatalf("oauth4webapi's resource discovery: %v\n%s", err, out)
	}
	var found struct {
		ResourceMetadata     string `json:"resource_metadata"`
		AuthorizationServers []struct {
			Issuer        string `json:"issuer"`
			TokenEndpoint string `json:"token_endpoint"`
		} `json:"authorization_servers"`
	}
	if err := json.Unmarshal(out, &found); err != nil || found.ResourceMetadata != wantMD || len(found.AuthorizationServers) != 2 ||
		found.AuthorizationServers[0].TokenEndpoint != idp.Issuer+"/token" || found.AuthorizationServers[1].Issuer != peer.URL {
		t.Fatalf("oauth4webapi found: %s", out)
	}

	// X1, X4: a JWT of oidc-provider; forged identity headers are removed.
	jwt1 := idp.token(t, ordersRes, "orders:read")
	// Connection: X-Tenant would have reverse_proxy drop the mapped header.
	resp, body = get("/orders/1", jwt1, "X-Tenant", "evil", "X-OAuth-Issuer", "evil", "Connection", "X-Tenant")
	if resp.StatusCode != 200 {
		t.Fatalf("JWT of oidc-provider: %d %s %q", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
	}
	r := up.last(t)
	for h, want := range map[string]string{"X-Oauth-Subject": "orders-app", "X-Oauth-Client-Id": "orders-app", "X-Oauth-Scope": "orders:read",
		"X-Oauth-Issuer": idp.Issuer, "X-Oauth-Roles": "reader auditor", "X-Tenant": "acme", "Authorization": ""} {
		if got := strings.Join(r.Header.Values(h), ","); got != want {
			t.Errorf("upstream %s = %q, want %q", h, got, want)
		}
	}
	if _, body := get("/who", jwt1); body != idp.Issuer+" orders-app" {
		t.Fatalf("{oauth.issuer} {oauth.subject} = %q", body)
	}
	// The same JWT where the route wants a scope it lacks: 403, challenge with resource_metadata.
	if resp, _ := get("/plain/1", jwt1); resp.StatusCode != 200 {
		t.Fatalf("JWT on a route without resource (trust audience): %d", resp.StatusCode)
	}
	// On the opaque route the JWT's aud is the trust block's audience: accepted too (R4).
	if resp, _ := get("/opaque/1", jwt1); resp.StatusCode != 200 {
		t.Fatalf("JWT with the trust audience on /opaque: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	// X3: an opaque token, introspected once and then cached.
	op := idp.token(t, opaqueRes, "orders:read")
	if strings.Count(op, ".") == 2 {
		t.Fatalf("expected an opaque token, got a JWT")
	}
	for range 5 {
		if resp, body := get("/opaque/1", op); resp.StatusCode != 200 {
			t.Fatalf("opaque token: %d %s", resp.StatusCode, body)
		}
	}
	if r := up.last(t); r.Header.Get("X-Oauth-Issuer") != idp.Issuer || r.Header.Get("X-Tenant") != "acme" {
		t.Fatalf("opaque token's headers: %v", r.Header)
	}
	// Its aud is the /opaque resource only: refused where the trust
	// audience applies, and on another resource's route.
	for _, path := range []string{"/plain/1", "/orders/1"} {
		if resp, _ := get(path, op); resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "audience") {
			t.Fatalf("opaque token for /opaque on %s: %d %q", path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// A token oidc-provider never issued: inactive → 401.
	if resp, _ := get("/opaque/1", "AXfJqV6w3mryegVsqefqbyd4C6C0rdZHF5jjdBjLzzz"); resp.StatusCode != 401 {
		t.Fatalf("made-up opaque token: %d", resp.StatusCode)
	}

	// The second oauthgate as another trusted issuer.
	pc := clientcredentials.Config{ClientID: "peer", ClientSecret: "peer-secret-0123456789", TokenURL: peer.URL + "/oauth/token"}
	ptok, err := pc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := get("/plain/1", ptok.AccessToken); resp.StatusCode != 200 || up.last(t).Header.Get("X-Oauth-Issuer") != peer.URL {
		t.Fatalf("second oauthgate's token: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get("/opaque/1", ptok.AccessToken); resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "issuer") {
		t.Fatalf("second oauthgate's token on a route for oidc-provider only: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	// explain says which issuer's key or introspection decided.
	cfg := adapt(t, g.caddyfile(fmt.Sprintf(`	oauthgate {
		trust %s {
			audience %s
			introspect {
				client_id gateway
				client_secret {env.OAUTHGATE_TEST_IDP_SECRET}
			}
		}
	}`, idp.Issuer, ordersRes), fmt.Sprintf(`
	oauthgate_server
	route /orders/* {
		oauthgate_protect orders:read {
			resource %s
		}
		reverse_proxy %s
	}`, ordersRes, up.addr())))
	for tok, want := range map[string]string{jwt1: "decided by signature by key idp-key-1 of " + idp.Issuer, op: "decided by introspection at " + idp.Issuer} {
		var out bytes.Buffer
		if err := Explain(&out, cfg, "GET", g.base+"/orders/1", tok, ""); err != nil {
			t.Fatal(err)
		}
		if tok == op {
			// the opaque token's aud is /opaque: refused by audience, after introspection
			if !strings.Contains(out.String(), "REFUSED") || !strings.Contains(out.String(), "[issuer "+idp.Issuer+"]") {
				t.Fatalf("explain (opaque):\n%s", out.String())
			}
			continue
		}
		if !strings.Contains(out.String(), want) {
			t.Fatalf("explain: want %q in\n%s", want, out.String())
		}
	}

	// X1: a key rotation at the provider while the gateway runs.
	if kid := idp.rotate(t); kid != "idp-key-2" {
		t.Fatalf("rotation: %q", kid)
	}
	jwt2 := idp.token(t, ordersRes, "orders:read")
	if kidOf(t, jwt2) != "idp-key-2" {
		t.Fatalf("the provider still signs with %q", kidOf(t, jwt2))
	}
	if resp, body := get("/orders/1", jwt2); resp.StatusCode != 200 {
		t.Fatalf("token signed with the rotated key: %d %s %q", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
	}
	// The provider goes down: the last good keys keep serving an unseen
	// JWT; an unseen opaque token cannot be introspected: 503.
	jwt3, op2 := idp.token(t, ordersRes, "orders:read"), idp.token(t, opaqueRes, "orders:read")
	idp.stop()
	if resp, _ := get("/orders/1", jwt3); resp.StatusCode != 200 {
		t.Fatalf("unseen JWT with the provider down: %d", resp.StatusCode)
	}
	if resp, _ := get("/opaque/1", op2); resp.StatusCode != 503 {
		t.Fatalf("unseen opaque token with the provider down: %d", resp.StatusCode)
	}
	if resp, _ := get("/opaque/1", op); resp.StatusCode != 200 {
		t.Fatalf("cached opaque token with the provider down: %d", resp.StatusCode)
	}

	// Operations: calls and decisions by issuer, labels limited to configured issuers.
	_, metrics := call(t, "GET", g.base+"/metrics", nil, "")
	for _, want := range []string{
		fmt.Sprintf(`oauthgate_trust_requests_total{issuer=%q,kind="introspect",outcome="ok"} 3`, idp.Issuer), // oauth4webapi's made-up token, the opaque token once, a made-up one
		fmt.Sprintf(`oauthgate_trust_requests_total{issuer=%q,kind="introspect",outcome="error"} 1`, idp.Issuer),
		fmt.Sprintf(`oauthgate_trust_requests_total{issuer=%q,kind="jwks",outcome="ok"} 2`, idp.Issuer), // the first load and the refetch after the rotation
		fmt.Sprintf(`oauthgate_protect_issuer_decisions_total{issuer=%q,outcome="allowed"}`, peer.URL),
		`oauthgate_protect_issuer_decisions_total{issuer="none",outcome="refused"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, secret := range []string{idpGatewaySecret, jwt1, op} {
		if strings.Contains(metrics, secret) {
			t.Fatal("a token or secret appears in the metrics")
		}
	}
}

// A pure gateway validates without network access (caddy validate), and
// a trusted issuer that cannot be discovered gets 503 — counted — while
// the config runs and its other issuers keep working.
func TestTrustedIssuerDiscoveryFails(t *testing.T) {
	g := newGateway(t)
	dead := fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t))
	app := fmt.Sprintf(`	oauthgate {
		trust %s {
			audience api
		}
		trust https://idp.invalid.example/realms/main {
			audience api
		}
	}`, dead)
	site := `
	metrics /metrics
	route /x {
		oauthgate_protect
		respond "ok"
	}`
	var cfg caddy.Config
	if err := json.Unmarshal(adapt(t, g.caddyfile(app, site)), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&cfg); err != nil {
		t.Fatalf("caddy validate of a pure gateway, offline: %v", err)
	}
	g.load(app, site)
	b64 := base64.RawURLEncoding.EncodeToString
	tok := b64([]byte(`{"alg":"ES256","kid":"k"}`)) + "." + b64([]byte(`{"iss":"`+dead+`","aud":"api","exp":4102444800}`)) + "." + b64([]byte("sig"))
	resp, _ := call(t, "GET", g.base+"/x", map[string]string{"Authorization": "Bearer " + tok}, "")
	if resp.StatusCode != 503 {
		t.Fatalf("token of an issuer that cannot be discovered: %d, want 503", resp.StatusCode)
	}
	_, metrics := call(t, "GET", g.base+"/metrics", nil, "")
	if want := fmt.Sprintf(`oauthgate_trust_requests_total{issuer=%q,kind="discovery",outcome="error"}`, dead); !strings.Contains(metrics, want) {
		t.Fatalf("metrics lack %s:\n%s", want, grepLines(metrics, "oauthgate_trust"))
	}
	// Plain http off loopback is refused by caddy validate (adapt).
	if _, err := adaptErr(g.caddyfile("\toauthgate {\n\t\ttrust http://idp.example.com {\n\t\t\taudience api\n\t\t}\n\t}", site)); err == nil ||
		!strings.Contains(err.Error(), "plain http") {
		t.Fatalf("http issuer off loopback: %v", err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

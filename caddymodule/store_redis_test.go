// Tests of the Redis store through Caddy: outages, reloads, dumps, Cluster, TLS, two instances.

package caddymodule

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

const redisSite = "\toauthgate_server\n\troute /api/* {\n\t\toauthgate_protect\n\t\trespond \"ok {http.auth.user.id}\"\n\t}"

// redisBlock is a `store redis` block with the given options.
func redisBlock(opts ...string) string {
	return "store redis {\n\t\t\t" + strings.Join(opts, "\n\t\t\t") + "\n\t\t}"
}

// activeRedisStore is the Redis store of the running config.
func activeRedisStore(t *testing.T) *redisstore.Store {
	t.Helper()
	app, err := caddy.ActiveContext().App("oauthgate")
	if err != nil {
		t.Fatal(err)
	}
	s, ok := app.(*App).store.(measuredStore).s.(*redisstore.Store)
	if !ok {
		t.Fatalf("the store is %T, not the Redis store", app.(*App).store.(measuredStore).s)
	}
	return s
}

func redisBearer(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}

// redisTimedCall is call, failing when the answer takes longer than bound.
func redisTimedCall(t *testing.T, bound time.Duration, method, u string, headers map[string]string, body string) (int, string) {
	t.Helper()
	start := time.Now()
	resp, b := call(t, method, u, headers, body)
	if took := time.Since(start); took > bound {
		t.Errorf("%s %s took %v, want < %v", method, u, took, bound)
	}
	return resp.StatusCode, b
}

// redisForm is a token request's headers with client id and secret.
func redisForm(id, secret string) map[string]string {
	return map[string]string{"Content-Type": "application/x-www-form-urlencoded",
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))}
}

func redisTokenRequest(g *gateway) (string, map[string]string, string) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api_v3"}}
	return g.base + "/oauth/token", redisForm("reporting", reportingSecret), form.Encode()
}

// CONFORMANCE S4
// Redis stopped under a running gateway: issuance answers 503
// temporarily_unavailable and opaque tokens 503, quickly; JWTs keep working
// with revocation_check lenient and answer 503 with strict; after Redis
// restarts (same port and data) everything works again with no reload.
func TestRedisOutage_S4(t *testing.T) {
	setSecrets(t)
	srv := redistest.Start(t)
	g := newGateway(t)
	store := redisBlock("url " + srv.URL())
	g.load(baseApp(g.base, "token_format jwt\n\t\trevocation_check lenient\n\t\t"+store), redisSite)
	jwt := getToken(t, g, "reporting", reportingSecret, "api_v3")
	g.load(baseApp(g.base, "token_format opaque\n\t\trevocation_check lenient\n\t\t"+store), redisSite)
	opaque := getToken(t, g, "reporting", reportingSecret, "api_v3")

	srv.Stop()
	const bound = 3 * time.Second
	tokURL, tokHeaders, tokBody := redisTokenRequest(g)
	status, body := redisTimedCall(t, bound, "POST", tokURL, tokHeaders, tokBody)
	if status != 503 || decodeJSON(t, body)["error"] != "temporarily_unavailable" {
		t.Fatalf("issuance with Redis down: %d %s", status, body)
	}
	if status, body := redisTimedCall(t, bound, "GET", g.base+"/api/x", redisBearer(opaque), ""); status != 503 {
		t.Fatalf("opaque token with Redis down: %d %s", status, body)
	}
	if status, body := redisTimedCall(t, bound, "GET", g.base+"/api/x", redisBearer(jwt), ""); status != 200 {
		t.Fatalf("JWT with Redis down, revocation_check lenient: %d %s", status, body)
	}
	// Same store settings: the reload reuses the client, so it needs no Redis.
	g.load(baseApp(g.base, "token_format opaque\n\t\trevocation_check strict\n\t\t"+store), redisSite)
	if status, body := redisTimedCall(t, bound, "GET", g.base+"/api/x", redisBearer(jwt), ""); status != 503 {
		t.Fatalf("JWT with Redis down, revocation_check strict: %d %s", status, body)
	}

	srv.Restart()
	start := time.Now()
	for {
		if status, _ := redisTimedCall(t, bound, "POST", tokURL, tokHeaders, tokBody); status == 200 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("issuance did not resume within 5s of Redis restarting")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("issuance resumed %v after the restart", time.Since(start))
	for name, tok := range map[string]string{"opaque": opaque, "jwt": jwt} {
		if status, body := redisTimedCall(t, bound, "GET", g.base+"/api/x", redisBearer(tok), ""); status != 200 || body != "ok svc-reporting" {
			t.Errorf("%s token after Redis restarted: %d %s", name, status, body)
		}
	}
}

// CONFORMANCE S5
// `caddy reload` with the same store settings keeps the very same client
// and everything issued; changed store settings get a new client and the
// old one is closed once its config is gone and nothing uses it any more.
func TestRedisReloadKeepsClient_S5(t *testing.T) {
	setSecrets(t)
	srv := redistest.Start(t)
	g := newGateway(t)
	store := redisBlock("url "+srv.URL(), "timeout 2s")
	g.load(baseApp(g.base, "token_format opaque\n\t\t"+store), redisSite)
	before := activeRedisStore(t)
	tok := getToken(t, g, "reporting", reportingSecret, "api_v3")

	g.load(baseApp(g.base, "token_format opaque\n\t\taccess_token_ttl 3h\n\t\t"+store), redisSite+"\n\trespond /other \"x\"")
	if after := activeRedisStore(t); after != before {
		t.Fatal("a reload with the same store settings made a new Redis client")
	}
	redisPoolCheck(t)
	if status, body := redisTimedCall(t, 3*time.Second, "GET", g.base+"/api/x", redisBearer(tok), ""); status != 200 {
		t.Fatalf("opaque token after reload: %d %s", status, body)
	}

	g.load(baseApp(g.base, "token_format opaque\n\t\t"+redisBlock("url "+srv.URL(), "timeout 2s", "key_prefix other:")), redisSite)
	if activeRedisStore(t) == before {
		t.Fatal("changed store settings kept the old client")
	}
	// Closed once idle (issue 17 item 15): each look is a use, so they are
	// spaced wider than the quiet second.
	for attempt := 1; ; attempt++ {
		time.Sleep(1500 * time.Millisecond)
		err := before.Ping(t.Context())
		if errors.Is(err, tokenstore.ErrUnavailable) {
			break
		}
		if attempt == 3 {
			t.Fatalf("the replaced client still answers: %v", err)
		}
	}
	redisPoolCheck(t)
	// Another prefix is another keyspace: the old token is unknown there.
	if status, _ := redisTimedCall(t, 3*time.Second, "GET", g.base+"/api/x", redisBearer(tok), ""); status != 401 {
		t.Fatalf("token under the old prefix: %d", status)
	}
}

// redisPoolCheck asserts the pool holds one client, used by the running config
// only: the previous config let go of its reference.
func redisPoolCheck(t *testing.T) {
	t.Helper()
	var keys []string
	redisPool.Range(func(k, _ any) bool { keys = append(keys, k.(string)); return true })
	if len(keys) != 1 {
		t.Fatalf("the pool holds %d clients, want 1", len(keys))
	}
	if refs, _ := redisPool.References(keys[0]); refs != 1 {
		t.Fatalf("the client has %d references, want 1", refs)
	}
}

// CONFORMANCE K2
// CONFORMANCE S3
// After a real authorization-code flow with opaque tokens (a code still
// waiting, a redeemed code, access and refresh tokens, a rotated refresh
// token, a consent), a full dump of Redis holds none of the raw codes or
// tokens; every key has the prefix, a hashed name and a TTL.
func TestRedisDumpAfterIssuance_K2(t *testing.T) {
	srv := redistest.Start(t)
	g := newGateway(t)
	g.load(authcodeApp(t, g.base, "token_format opaque\n\t\t"+redisBlock("url "+srv.URL(), "key_prefix dump:")),
		fmt.Sprintf(authcodeSiteFmt, ""))
	conf := oauthConfig(g, "postman", postmanSecret, clientCallback, testScopeAPI)
	b := testutil.NewBrowser(t)
	redeemed := codeFor(t, g, b, conf, "")
	tok, err := exchange(conf, redeemed, "")
	if err != nil {
		t.Fatal(err)
	}
	waiting := codeFor(t, g, b, conf, "")
	rotated, err := conf.TokenSource(t.Context(), tok).Token() // still fresh: force a refresh
	if err != nil {
		t.Fatal(err)
	}
	_, body := call(t, "POST", g.base+"/oauth/token", redisForm("postman", postmanSecret),
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}.Encode())
	fresh := decodeJSON(t, body)
	if fresh["access_token"] == nil {
		t.Fatalf("refresh: %s", body)
	}
	secrets := []string{redeemed, waiting, tok.AccessToken, tok.RefreshToken, rotated.AccessToken,
		fresh["access_token"].(string), fresh["refresh_token"].(string)}

	shape := regexp.MustCompile(`^dump:(?:(access):[0-9A-Za-z_-]{43}|(code|refresh|consent|revoked):\{[0-9a-f]{64}\})$`)
	entries := redistest.Dump(t, srv)
	kinds := map[string]int{}
	for _, e := range entries {
		if e.Key == "dump:marker" {
			continue // the data-loss marker: checked in tokenstore/redis
		}
		if m := shape.FindStringSubmatch(e.Key); m == nil {
			t.Errorf("key %q is not dump:<kind>:{<sha256 hex>} or dump:access:<sha256 base64url>", e.Key)
		} else {
			kinds[m[1]+m[2]]++
		}
		if e.TTL <= 0 {
			t.Errorf("key %q has no TTL (%v)", e.Key, e.TTL)
		}
		for _, s := range secrets {
			if strings.Contains(e.Key, s) || strings.Contains(e.Value, s) {
				t.Errorf("the dump of %q holds a raw code or token", e.Key)
			}
		}
	}
	if kinds["code"] != 2 || kinds["access"] < 2 || kinds["refresh"] != 2 || kinds["consent"] != 1 {
		t.Fatalf("dump has %v; want 2 codes, ≥2 access tokens, 2 refresh tokens, 1 consent", kinds)
	}
}

// CONFORMANCE T9
// Through the token endpoint on a Redis Cluster: of 50 concurrent
// redemptions of one code, and of one refresh token, exactly one redeems
// it; the 49 others are told it was already used.
func TestRedisClusterConcurrentRedemption_T9(t *testing.T) {
	c := redistest.StartCluster(t)
	g := newGateway(t)
	g.load(authcodeApp(t, g.base, redisBlock("addresses "+strings.Join(c.Addrs(), " "))), fmt.Sprintf(authcodeSiteFmt, ""))
	conf := oauthConfig(g, "postman", postmanSecret, clientCallback, testScopeAPI)
	b := testutil.NewBrowser(t)
	// race returns how many requests succeeded and how many were refused as reuse.
	race := func(form url.Values) (ok, reused int32) {
		var wg, start sync.WaitGroup
		start.Add(1)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				// Not call: t.Fatal must not run off the test goroutine.
				req, _ := http.NewRequest("POST", g.base+"/oauth/token", strings.NewReader(form.Encode()))
				for k, v := range redisForm("postman", postmanSecret) {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch body := string(b); {
				case resp.StatusCode == 200:
					atomic.AddInt32(&ok, 1)
				case strings.Contains(body, "already used"), strings.Contains(body, "has been revoked"):
					// Refused as reuse, or as a member of the family the
					// reuse revoked: either way invalid_grant.
					atomic.AddInt32(&reused, 1)
				default:
					t.Logf("%d %s", resp.StatusCode, body)
				}
			}()
		}
		start.Done()
		wg.Wait()
		return ok, reused
	}
	code := codeFor(t, g, b, conf, "")
	if ok, reused := race(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {clientCallback}}); ok != 1 || reused != 49 {
		t.Fatalf("50 concurrent code redemptions: %d succeeded, %d refused as reuse", ok, reused)
	}
	tok, err := exchange(conf, codeFor(t, g, b, conf, ""), "")
	if err != nil {
		t.Fatal(err)
	}
	// The refresh grant checks the family before redeeming, so the reuse by
	// the others cannot fail the one redemption that won.
	if ok, reused := race(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); ok != 1 || reused != 49 {
		t.Fatalf("50 concurrent refreshes: %d succeeded, %d refused as reuse", ok, reused)
	}
}

// CONFORMANCE S1
// TLS with a CA file and the password from an environment placeholder.
func TestRedisTLSAndPasswordPlaceholder_S1(t *testing.T) {
	setSecrets(t)
	const password = "caddy-redis-pass-4f0a"
	t.Setenv("OAUTHGATE_TEST_REDIS_PASSWORD", password)
	ca, cert, key := redistest.Certs(t)
	srv := redistest.StartTLS(t, cert, key, "--requirepass", password)
	g := newGateway(t)
	g.load(baseApp(g.base, "token_format opaque\n\t\t"+redisBlock("url rediss://"+srv.Addr,
		"password {env.OAUTHGATE_TEST_REDIS_PASSWORD}", "tls {\n\t\t\t\tca "+ca+"\n\t\t\t}")), redisSite)
	tok := getToken(t, g, "reporting", reportingSecret, "api_v3")
	if status, body := redisTimedCall(t, 3*time.Second, "GET", g.base+"/api/x", redisBearer(tok), ""); status != 200 {
		t.Fatalf("opaque token through TLS Redis: %d %s", status, body)
	}
}

// CONFORMANCE O3
// Redis unreachable at start fails the config with a message naming the
// directive, the address and the fix, and never the password; a literal
// password is refused by the Caddyfile so it never reaches the JSON.
func TestRedisUnreachableAtStart_O3(t *testing.T) {
	setSecrets(t)
	const password = "never-in-errors-33a1"
	t.Setenv("OAUTHGATE_TEST_REDIS_PASSWORD", password)
	srv := redistest.Start(t)
	srv.Stop()
	g := newGateway(t)
	start := time.Now()
	err := g.loadErr(baseApp(g.base, redisBlock("url "+srv.URL(), "password {env.OAUTHGATE_TEST_REDIS_PASSWORD}")), redisSite)
	if err == nil {
		t.Fatal("a config with an unreachable Redis loaded")
	}
	for _, want := range []string{"store redis", "cannot reach Redis", srv.Addr, "Redis is running"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("the error holds the password: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("failing took %v", took)
	}
	for _, opt := range []string{"password hunter2", "url redis://:hunter2@127.0.0.1:6379"} {
		_, err := adaptErr(g.caddyfile(baseApp(g.base, redisBlock(opt)), redisSite))
		if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "{env.") {
			t.Errorf("%s: err = %v, want a refusal pointing to a placeholder", opt, err)
		}
	}
}

// CONFORMANCE S6
// Two Caddy instances — this process and a built `caddy run` — sharing one
// Redis and one Caddy storage: a code issued by one is redeemed on the
// other, their tokens validate on both, and a revocation on one is refused
// by the other within 1s, though the other had the token in its verified-token cache.
func TestTwoInstancesShareRedis_S6(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	srv := redistest.Start(t)
	bin := filepath.Join(t.TempDir(), "caddy")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/oauthgate/caddy-oauthgate/cmd/caddy").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/caddy: %v\n%s", err, out)
	}
	a := newGateway(t)
	// Both with the verified-token cache: the revocation must reach A's cache.
	app := authcodeApp(t, a.base, redisBlock("url "+srv.URL())+"\n\t\tverify_cache 1000")
	site := fmt.Sprintf(authcodeSiteFmt, "")
	a.load(app, site)
	// B: its own port, the same issuer, Redis and storage (so the same keys).
	port := testutil.FreePort(t)
	b := &gateway{t: t, port: port, base: fmt.Sprintf("http://127.0.0.1:%d", port), storage: a.storage}
	cfgPath := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(b.caddyfile(app, site)), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := new(strings.Builder)
	var logMu sync.Mutex
	proc := exec.Command(bin, "run", "--config", cfgPath)
	proc.Env = append(os.Environ(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	proc.Stdout = redisLogWriter(func(p []byte) (int, error) { logMu.Lock(); defer logMu.Unlock(); return logs.Write(p) })
	proc.Stderr = proc.Stdout
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = proc.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = proc.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = proc.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			logMu.Lock()
			t.Fatalf("instance B did not start:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	code := codeFor(t, a, testutil.NewBrowser(t), oauthConfig(a, "postman", postmanSecret, clientCallback, testScopeAPI), "")
	tok, err := exchange(oauthConfig(b, "postman", postmanSecret, clientCallback, testScopeAPI), code, "")
	if err != nil {
		t.Fatalf("code from A redeemed on B: %v", err)
	}
	for _, g := range []*gateway{a, b} {
		if status, body := redisTimedCall(t, 3*time.Second, "GET", g.base+"/api/x", redisBearer(tok.AccessToken), ""); status != 200 {
			t.Fatalf("token from B on %s: %d %s", g.base, status, body)
		}
	}
	_, body := call(t, "POST", a.base+"/oauth/token", redisForm("postman", postmanSecret),
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}.Encode())
	if decodeJSON(t, body)["access_token"] == nil {
		t.Fatalf("refresh token from B rotated on A: %s", body)
	}
	resp, _ := call(t, "POST", b.base+"/oauth/revoke", redisForm("postman", postmanSecret),
		url.Values{"token": {tok.AccessToken}}.Encode())
	if resp.StatusCode != 200 {
		t.Fatalf("revoke on B: %d", resp.StatusCode)
	}
	start := time.Now()
	for {
		status, _ := redisTimedCall(t, 3*time.Second, "GET", a.base+"/api/x", redisBearer(tok.AccessToken), "")
		if status == 401 {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("A still accepts a token revoked on B after 1s: %d", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("revocation on B refused by A after %v", time.Since(start))
}

type redisLogWriter func(p []byte) (int, error)

func (f redisLogWriter) Write(p []byte) (int, error) { return f(p) }

// Tests of revocation, introspection and dynamic clients on the real Redis store, through Caddy.

package caddymodule

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/oauthgate/caddy-oauthgate/authz"
	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// Revocation, introspection and dynamic clients against the real Redis
// store, through Caddy, for both token formats.
// CONFORMANCE V1
// CONFORMANCE V2
// CONFORMANCE R6
// CONFORMANCE M2
func TestLifecycleOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	for _, format := range []string{"jwt", "opaque"} {
		t.Run(format, func(t *testing.T) {
			setSecrets(t)
			_, _ = srv.CLI("FLUSHALL")
			g := newGateway(t)
			g.load(authcodeApp(t, g.base, redisBlock("url "+srv.URL())+"\n\t\ttoken_format "+format+"\n\t\tverify_cache 1000"),
				"\toauthgate_server\n\troute /api/* {\n\t\toauthgate_protect\n\t\trespond \"ok\"\n\t}")
			conf := oauthConfig(g, "postman", postmanSecret, clientCallback, testScopeAPI)
			tok, err := exchange(conf, codeFor(t, g, testutil.NewBrowser(t), conf, ""), "")
			if err != nil {
				t.Fatal(err)
			}
			introspect := func(token string) map[string]any {
				_, body := call(t, "POST", g.base+"/oauth/introspect", redisForm("postman", postmanSecret), url.Values{"token": {token}}.Encode())
				return decodeJSON(t, body)
			}
			if m := introspect(tok.AccessToken); m["active"] != true || m["sub"] != "alice" || m["client_id"] != "postman" {
				t.Fatalf("introspect access: %v", m)
			}
			if m := introspect(tok.RefreshToken); m["active"] != true || m["token_type"] != "refresh_token" {
				t.Fatalf("introspect refresh: %v", m)
			}
			if s, _ := apiCall(t, g, tok.AccessToken); s != 200 {
				t.Fatalf("API: %d", s)
			}
			// Revoking the refresh token ends the family's access token too.
			resp, _ := call(t, "POST", g.base+"/oauth/revoke", redisForm("postman", postmanSecret), url.Values{"token": {tok.RefreshToken}}.Encode())
			if resp.StatusCode != 200 {
				t.Fatalf("revoke: %d", resp.StatusCode)
			}
			if s, _ := apiCall(t, g, tok.AccessToken); s != 401 {
				t.Fatalf("access token of a revoked family: %d", s)
			}
			for _, token := range []string{tok.AccessToken, tok.RefreshToken, "garbage"} {
				if m := introspect(token); m["active"] != false || len(m) != 1 {
					t.Fatalf("after revocation: %v", m)
				}
			}
			// Dynamic clients live in Redis.
			reg := activeAppForTest(t).Server().Registry()
			view, secret, err := reg.Create(context.Background(), registryView("dyn-"+format))
			if err != nil {
				t.Fatal(err)
			}
			keys, _ := srv.CLI("HKEYS", "oauthgate:clients")
			if !strings.Contains(keys, view.ID) {
				t.Fatalf("dynamic client not in Redis: %q", keys)
			}
			cc := ccConfig(g, view.ID, secret, oauth2.AuthStyleInHeader)
			if _, err := cc.Token(context.Background()); err != nil {
				t.Fatalf("dynamic client's token: %v", err)
			}
		})
	}
}

func activeAppForTest(t *testing.T) *App {
	t.Helper()
	app, err := activeApp()
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func registryView(id string) tokenstore.Client {
	return tokenstore.Client{ID: id, Grants: []string{authz.GrantClientCredentials}, Scopes: []string{"api_v3"}, DefaultScopes: []string{"api_v3"}}
}

// Helpers of the authorization code tests through Caddy: the app, the gateway, sign-in and x/oauth2 configs.

package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

const (
	alicePassword   = "correct horse battery staple"
	postmanSecret   = "postman-secret-0123456789"
	clientCallback  = "https://client.example/cb"
	nativeLoopback  = "http://127.0.0.1/callback"
	multiCallbackA  = "https://multi.example/a"
	multiCallbackB  = "https://multi.example/b"
	testScopeAPI    = "api_v3"
	testScopeBCF    = "bcf_v2_1"
	authcodeSiteFmt = `
	oauthgate_server %s
	route /api/* {
		oauthgate_protect api_v3
		respond "{http.auth.user.id} {oauth.client_id} {oauth.scope}"
	}`
)

// authcodeApp is an oauthgate block with a user and the clients of the seeds'
// authorization-code flows.
func authcodeApp(t *testing.T, issuer, extra string) string {
	t.Helper()
	t.Setenv("OAUTHGATE_TEST_POSTMAN_SECRET", postmanSecret)
	hash, err := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`	oauthgate {
		issuer %s
		%s
		scope api_v3 "Access the API v3" default
		scope bcf_v2_1 "BCF 2.1 API"
		users {
			alice %s
		}
		client postman {
			name "Postman"
			secret {env.OAUTHGATE_TEST_POSTMAN_SECRET}
			redirect_uri %s urn:ietf:wg:oauth:2.0:oob
			grants authorization_code refresh_token
			scopes api_v3 bcf_v2_1
		}
		client cli {
			name "Command line tool"
			public
			redirect_uri %s
			grants authorization_code refresh_token
			scopes api_v3 bcf_v2_1
		}
		client multi {
			secret {env.OAUTHGATE_TEST_POSTMAN_SECRET}
			redirect_uri %s %s
			grants authorization_code refresh_token
			scopes api_v3
			default_scopes api_v3
		}
	}`, issuer, extra, hash, clientCallback, nativeLoopback, multiCallbackA, multiCallbackB)
}

// startAuthcode runs a gateway with the authcode app and login form.
func startAuthcode(t *testing.T, appExtra, serverBlock string) *gateway {
	g := newGateway(t)
	g.load(authcodeApp(t, g.base, appExtra), fmt.Sprintf(authcodeSiteFmt, serverBlock))
	return g
}

// location parses a redirect and checks it goes where it should.
func location(t *testing.T, p *testutil.Page, wantPrefix string) url.Values {
	t.Helper()
	if p.Status != http.StatusFound {
		t.Fatalf("want a redirect, got %d: %s", p.Status, p.Body)
	}
	loc := p.Header.Get("Location")
	if !strings.HasPrefix(loc, wantPrefix+"?") {
		t.Fatalf("redirect to %q, want %s?…", loc, wantPrefix)
	}
	u, _ := url.Parse(loc)
	return u.Query()
}

// loginAndAllow signs in as alice and allows, as far as the server asks.
func loginAndAllow(b *testutil.Browser, start string) *testutil.Page {
	b.T.Helper()
	return b.LoginAndAllow(start, "alice", alicePassword)
}

func oauthConfig(g *gateway, id, secret, redirect string, scopes ...string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if secret == "" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: g.base + "/oauth/authorize", TokenURL: g.base + "/oauth/token", AuthStyle: style}}
}

// codeFor runs the browser part of the flow and returns the code.
func codeFor(t *testing.T, g *gateway, b *testutil.Browser, conf *oauth2.Config, verifier string, opts ...oauth2.AuthCodeOption) string {
	t.Helper()
	if verifier != "" {
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	p := loginAndAllow(b, conf.AuthCodeURL("st4te", opts...))
	q := location(t, p, conf.RedirectURL)
	if q.Get("state") != "st4te" || q.Get("iss") != g.base || q.Get("code") == "" {
		t.Fatalf("redirect parameters %v", q)
	}
	return q.Get("code")
}

func exchange(conf *oauth2.Config, code, verifier string) (*oauth2.Token, error) {
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	return conf.Exchange(context.Background(), code, opts...)
}

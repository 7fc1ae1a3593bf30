package caddymodule

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// The OpenID Connect lines of the Caddyfile refuse what they cannot mean,
// and a configuration whose ID tokens could not be signed does not load.
// CONFORMANCE I2
func TestOIDCConfigErrors(t *testing.T) {
	for in, want := range map[string]string{
		"oauthgate_server {\n\tlogin identity {http.auth.user.id} {\n\t\tclaim phone {x}\n\t}\n}": `claim "phone" is not known`,
		"oauthgate_server {\n\tlogin identity {http.auth.user.id} {\n\t\tclaim email\n\t}\n}":     "usage: claim <name> <placeholder>",
		"oauthgate_server {\n\tlogin identity {http.auth.user.id} {\n\t\tcolor red\n\t}\n}":       "unrecognized login identity option",
	} {
		err := new(ServerHandler).UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
	}
	for app, want := range map[string]string{
		"users {\n\talice $2a$14$x {\n\t\tphone 1\n\t}\n}": `unrecognized claim "phone"`,
		"users {\n\talice $2a$14$x y\n}":                   "usage inside users",
		"client x {\n\tid_token_signed_response_alg\n}":    "usage: id_token_signed_response_alg",
		"client x {\n\tpost_logout_redirect_uri\n}":        "wrong argument count",
	} {
		_, err := adaptErr("{\n\toauthgate {\n" + app + "\n\t}\n}\n:80\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", app, err, want)
		}
	}

	g := newGateway(t)
	for extra, want := range map[string]string{
		"id_token_signed_response_alg HS256":                 "id_token_signed_response_alg HS256 is not supported",
		"id_token_signed_response_alg PS256":                 "no signing key has that algorithm",
		"post_logout_redirect_uri https://a.example/#x":      "post_logout_redirect_uri",
		"post_logout_redirect_uri urn:ietf:wg:oauth:2.0:oob": "post_logout_redirect_uri cannot be",
	} {
		app := strings.Replace(oidcApp(t, g.base, clientCallback, "https://client.example/bye", ""), "grants authorization_code", extra+"\n\t\t\tgrants authorization_code", 1)
		err := g.loadErr(app, fmt.Sprintf(authcodeSiteFmt, ""))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", extra, err, want)
		}
	}
}

// A client allowed openid created through the admin API gets ID tokens
// too: the RS256 key is generated when it appears, and published.
// CONFORMANCE I2
func TestAdminAPIOpenIDClientGetsRS256Key(t *testing.T) {
	g := startAuthcode(t, "", "")
	if strings.Contains(jwksOf(t, g), `"RS256"`) {
		t.Fatal("an RS256 key without any OpenID Connect client")
	}
	status, body := adminCall(t, "POST", "/oauthgate/clients",
		`{"id":"dyn-rp","secret":"a chosen secret of 24 chars","grants":["authorization_code"],"scopes":["openid"],"redirect_uris":["https://dyn.example/cb"]}`)
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	if !strings.Contains(jwksOf(t, g), `"RS256"`) {
		t.Fatal("no RS256 key in the JWKS after an OpenID Connect client was created")
	}
}

func jwksOf(t *testing.T, g *gateway) string {
	t.Helper()
	_, body := call(t, "GET", g.base+"/oauth/jwks", nil, "")
	return body
}

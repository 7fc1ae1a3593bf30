// RFC 8707 in the Caddy config: protect resources and the app's resources bind tokens to their routes (CONFORMANCE G2).

package caddymodule

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// x/oauth2, a strict client, asks for tokens bound to one resource; each
// passes only the route protecting that resource, while a token without
// resource passes every route as before.
// CONFORMANCE G2
func TestResourceBoundRoutes_G2(t *testing.T) {
	g, up := protectedGateway(t, "resources https://reports.example/api", `
	oauthgate_server
	route /a/* {
		oauthgate_protect api_v3 {
			resource http://127.0.0.1/a
		}
		reverse_proxy {upstream}
	}
	route /b/* {
		oauthgate_protect api_v3 {
			resource http://127.0.0.1/b
		}
		reverse_proxy {upstream}
	}
	route /plain/* {
		oauthgate_protect api_v3
		reverse_proxy {upstream}
	}`)
	token := func(resource ...string) (string, error) {
		cc := ccConfig(g, "reporting", reportingSecret, oauth2.AuthStyleInHeader, "api_v3")
		cc.EndpointParams = url.Values{"resource": resource}
		tok, err := cc.Token(context.Background())
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	}
	get := func(path, tok string) int {
		resp, _ := call(t, "GET", g.base+path, map[string]string{"Authorization": "Bearer " + tok}, "")
		return resp.StatusCode
	}
	a, err := token("http://127.0.0.1/a")
	if err != nil {
		t.Fatal(err)
	}
	unbound, err := token()
	if err != nil {
		t.Fatal(err)
	}
	both, err := token("http://127.0.0.1/a", "http://127.0.0.1/b")
	if err != nil {
		t.Fatal(err)
	}
	reports, err := token("https://reports.example/api") // listed in the app's resources
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		path, tok string
		want      int
	}{
		{"/a/x", a, 200}, {"/b/x", a, 401}, {"/plain/x", a, 401},
		{"/a/x", both, 200}, {"/b/x", both, 200}, {"/plain/x", both, 401},
		{"/a/x", unbound, 200}, {"/b/x", unbound, 200}, {"/plain/x", unbound, 200},
		{"/a/x", reports, 401}, {"/plain/x", reports, 401},
	} {
		if got := get(c.path, c.tok); got != c.want {
			t.Errorf("case %d: %s: %d, want %d", i, c.path, got, c.want)
		}
	}
	if aud := up.last(t).Header.Get("X-Oauth-Audience"); aud != "backend" { // the client's audience
		t.Errorf("upstream saw audience %q for the unbound token", aud)
	}
	// Refused: unknown, relative, with a fragment — RFC 8707's invalid_target.
	for _, bad := range []string{"http://127.0.0.1/c", "/a", "http://127.0.0.1/a#x"} {
		_, err := token(bad)
		var re *oauth2.RetrieveError
		if err == nil || !asRetrieve(err, &re) || re.ErrorCode != "invalid_target" || re.Response.StatusCode != http.StatusBadRequest {
			t.Errorf("resource %q: %v, want invalid_target", bad, err)
		}
	}
	// A relative entry in the app's resources is refused when loading.
	if err := g.loadErr(baseApp(g.base, "resources /reports"), "respond ok"); err == nil || !strings.Contains(err.Error(), "absolute URI") {
		t.Fatalf("resources /reports: %v", err)
	}
}

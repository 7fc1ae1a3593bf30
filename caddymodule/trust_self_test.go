// Trusted issuers next to an issuer of our own.

package caddymodule

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"
)

// CONFORMANCE X1
// CONFORMANCE R4: trust blocks next to an issuer of our own — both kinds of
// tokens pass side by side, `issuers` chooses per route (self and a
// trusted issuer by URL), X-OAuth-Issuer tells the upstream which, and a
// trusted issuer's token needs its trust block's audience even where the
// route sets none.
func TestTrustBesideOwnIssuer(t *testing.T) {
	peer := secondOauthgate(t, "peer-api")
	peerWrongAud := secondOauthgate(t, "someone-else")
	g, up := protectedGateway(t, fmt.Sprintf(`trust %s {
			audience peer-api
		}
		trust %s {
			audience peer-api
		}`, peer.URL, peerWrongAud.URL), fmt.Sprintf(`
	oauthgate_server
	route /any/* {
		oauthgate_protect
		reverse_proxy {upstream}
	}
	route /self/* {
		oauthgate_protect {
			issuers self
		}
		reverse_proxy {upstream}
	}
	route /peer/* {
		oauthgate_protect {
			issuers %s
		}
		reverse_proxy {upstream}
	}`, peer.URL))
	own := getToken(t, g, "reporting", reportingSecret, "api_v3")
	peerTok := func(url string) string {
		pc := clientcredentials.Config{ClientID: "peer", ClientSecret: "peer-secret-0123456789", TokenURL: url + "/oauth/token"}
		tok, err := pc.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	theirs, wrongAud := peerTok(peer.URL), peerTok(peerWrongAud.URL)
	for _, c := range []struct {
		path, tok string
		status    int
		issuer    string
	}{
		{"/any/1", own, 200, g.base},
		{"/any/1", theirs, 200, peer.URL},
		{"/self/1", own, 200, g.base},
		{"/self/1", theirs, 401, ""},
		{"/peer/1", theirs, 200, peer.URL},
		{"/peer/1", own, 401, ""},
		{"/any/1", wrongAud, 401, ""},
	} {
		n := up.count()
		resp, _ := call(t, "GET", g.base+c.path, map[string]string{"Authorization": "Bearer " + c.tok, "X-OAuth-Issuer": "forged"}, "")
		if resp.StatusCode != c.status {
			t.Fatalf("%s with the token of %s: %d %q, want %d", c.path, c.issuer, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), c.status)
		}
		if c.status != 200 {
			if up.count() != n {
				t.Fatalf("%s: a refused request reached the upstream", c.path)
			}
			continue
		}
		if got := up.last(t).Header.Values("X-Oauth-Issuer"); strings.Join(got, ",") != c.issuer {
			t.Fatalf("%s: upstream X-OAuth-Issuer %v, want %s", c.path, got, c.issuer)
		}
	}
	// A trust block naming our own issuer is a contradiction.
	err := g.loadErr(baseApp(g.base, fmt.Sprintf("trust %s {\n\t\t\taudience x\n\t\t}", g.base)), "respond ok")
	if err == nil || !strings.Contains(err.Error(), "own issuer") {
		t.Fatalf("trust of our own issuer: %v", err)
	}
}

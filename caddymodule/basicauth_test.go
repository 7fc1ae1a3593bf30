// Tests of a client secret with reserved characters sent by HTTP Basic in each way clients send it.

package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// A client secret with every character that form encoding changes or that
// Basic and form syntax use works through the three ways clients send HTTP
// Basic: curl -u (raw, README's idiom), x/oauth2 (form-encoded, RFC 6749
// §2.3.1) and a raw Authorization header; one byte off fails each way.
// CONFORMANCE T2
func TestBasicSecretWithReservedCharacters_T2(t *testing.T) {
	curl := testutil.Need(t, "curl", "curl")
	const secret = "a+b%c:d/e=f&g h%41"
	t.Setenv("OAUTHGATE_TEST_ODD_SECRET", secret)
	g := newGateway(t)
	g.load(`	oauthgate {
		issuer `+g.base+`
		scope api_v3 "Access the API v3" default
		client odd {
			secret {env.OAUTHGATE_TEST_ODD_SECRET}
			grants client_credentials
			scopes api_v3
		}
	}`, "\toauthgate_server")
	tokenURL := g.base + "/oauth/token"
	for _, s := range []struct {
		secret string
		ok     bool
	}{{secret, true}, {secret[:len(secret)-1] + "B", false}} {
		out, err := exec.Command(curl, "-sS", "--max-time", "5", "-u", "odd:"+s.secret, "-d", "grant_type=client_credentials", tokenURL).CombinedOutput()
		var tr map[string]any
		if err != nil || json.Unmarshal(out, &tr) != nil {
			t.Fatalf("curl: %v %s", err, out)
		}
		if got := tr["access_token"] != nil; got != s.ok || (!s.ok && tr["error"] != "invalid_client") {
			t.Fatalf("curl -u with %q: %s", s.secret, out)
		}

		cc := clientcredentials.Config{ClientID: "odd", ClientSecret: s.secret, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}
		if _, err := cc.Token(context.Background()); (err == nil) != s.ok {
			t.Fatalf("x/oauth2 with %q: %v", s.secret, err)
		}

		resp, body := call(t, "POST", tokenURL, map[string]string{"Content-Type": "application/x-www-form-urlencoded",
			"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("odd:"+s.secret))}, "grant_type=client_credentials")
		if (resp.StatusCode == 200) != s.ok || (!s.ok && (resp.StatusCode != 401 || !strings.Contains(body, "invalid_client"))) {
			t.Fatalf("raw Authorization header with %q: %d %s", s.secret, resp.StatusCode, body)
		}
	}
}

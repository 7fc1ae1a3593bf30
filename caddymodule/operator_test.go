package caddymodule

import (
	"strings"
	"testing"
)

// validateCaddyfile adapts and validates a config as `caddy validate` does.
func validateCaddyfile(t *testing.T, g *gateway, oauthgate, site string) error {
	t.Helper()
	cfg, err := adaptErr(g.caddyfile(oauthgate, site))
	if err != nil {
		return err
	}
	return validate(cfg)
}

// Issue 17 item 8: a Caddyfile client's redirect URI is held to the same
// rules as the admin API's: javascript:, data:, file: and plain remote http
// fail `caddy validate` with the reason.
// CONFORMANCE M1
func TestCaddyfileRedirectURISchemes(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	client := func(uri string) string {
		return baseApp(g.base, `client web {
			secret {env.OAUTHGATE_TEST_ORO_SECRET}
			grants authorization_code
			scopes api_v3
			redirect_uri `+uri+`
		}`)
	}
	for uri, why := range map[string]string{
		"javascript:alert(1)":   "scheme javascript",
		"data:text/html,x":      "scheme data",
		"file:///etc/passwd":    "scheme file",
		"http://app.example/cb": "loopback host",
	} {
		err := validateCaddyfile(t, g, client(uri), "oauthgate_server")
		if err == nil || !strings.Contains(err.Error(), `client "web"`) || !strings.Contains(err.Error(), why) {
			t.Errorf("redirect_uri %s: %v, want an error naming the client and %q", uri, err, why)
		}
	}
	for _, uri := range []string{"https://app.example/cb", "http://127.0.0.1/cb", "com.example.app:/cb", "urn:ietf:wg:oauth:2.0:oob"} {
		if err := validateCaddyfile(t, g, client(uri), "oauthgate_server"); err != nil {
			t.Errorf("redirect_uri %s: %v", uri, err)
		}
	}
}

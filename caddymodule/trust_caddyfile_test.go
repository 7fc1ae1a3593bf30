// Bad trust blocks and route issuers: the errors of caddy adapt and provisioning.

package caddymodule

import (
	"strings"
	"testing"
)

// Bad trust blocks fail `caddy adapt` / `caddy validate` with a message
// naming the directive and the fix.
func TestTrustCaddyfileErrors(t *testing.T) {
	for _, c := range []struct{ block, want string }{
		{"trust https://idp.example.com {\n}", "audience is required"},
		{"trust http://idp.example.com {\n audience a\n}", "plain http"},
		{"trust https://idp.example.com {\n audience a\n jwks_uri http://10.1.2.3/keys\n}", "plain http"},
		{"trust https://idp.example.com {\n audience a\n introspect {\n client_id gw\n client_secret hunter2-literal\n }\n}", "placeholder"},
		{"trust https://idp.example.com {\n audience a\n introspect {\n client_id gw\n }\n}", "client_id and client_secret"},
		{"trust https://idp.example.com {\n audience a\n introspect {\n endpoint http://idp.example.com/i\n client_id gw\n client_secret {env.X}\n }\n}", "plain http"},
		{"trust https://idp.example.com {\n audience a\n claim subject\n}", "usage: claim"},
		{"trust https://idp.example.com {\n audience a\n header X-Roles\n}", "usage: header"},
		{"trust https://idp.example.com {\n audience a\n jwks https://x\n}", `unrecognized trust option "jwks"`},
		{"trust {\n audience a\n}", "usage: trust <issuer>"},
		{"trust https://idp.example.com {\n audience a\n introspect {\n client_id gw\n client_secret {env.X}\n max_in_flight 0\n }\n}", "max_in_flight must be a positive number, not \"0\""},
		{"trust https://idp.example.com {\n audience a\n introspect {\n client_id gw\n client_secret {env.X}\n max_inactive lots\n }\n}", "max_inactive must be a positive number or off"},
	} {
		_, err := adaptErr("{\n\toauthgate {\n" + c.block + "\n\t}\n}\n:1\n")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error with %q", c.block, err, c.want)
		}
	}
	// Provision-time checks (JSON configs too): a HMAC algorithm, a route naming an issuer not trusted.
	for _, c := range []struct{ app, site, want string }{
		{"oauthgate {\n trust https://idp.example.com {\n audience a\n algorithms HS256\n }\n }", "respond ok", "never none or HMAC"},
		{"oauthgate {\n trust https://idp.example.com {\n audience a\n }\n }", "oauthgate_protect {\n issuers https://other.example.com\n }", "not a configured issuer"},
		{"oauthgate {\n trust https://idp.example.com {\n audience a\n }\n }", "oauthgate_protect {\n issuers self\n }", "no `issuer` of its own"},
		{"oauthgate {\n trust https://idp.example.com {\n audience a\n }\n client c {\n secret {env.X}\n grants client_credentials\n }\n }", "respond ok", "need `issuer`"},
	} {
		g := newGateway(t)
		if err := g.loadErr(c.app, c.site); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q / %q: %v, want an error with %q", c.app, c.site, err, c.want)
		}
	}
}

// The introspection limits reach the JSON config: a number, and off as -1.
func TestTrustIntrospectLimitsCaddyfile(t *testing.T) {
	cfg := string(adapt(t, "{\n\toauthgate {\n\t\ttrust https://idp.example.com {\n\t\t\taudience a\n\t\t\tintrospect {\n\t\t\t\tclient_id gw\n"+
		"\t\t\t\tclient_secret {env.X}\n\t\t\t\tmax_in_flight 8\n\t\t\t\tmax_inactive off\n\t\t\t}\n\t\t}\n\t}\n}\n:1\n"))
	if !strings.Contains(cfg, `"max_in_flight":8`) || !strings.Contains(cfg, `"max_inactive":-1`) {
		t.Fatalf("adapted config lacks the limits: %s", cfg)
	}
}

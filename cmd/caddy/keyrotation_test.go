// Tests that a key rotated on one instance is accepted at once by the others sharing its storage.

package main

import (
	"encoding/json"
	"fmt"
	"testing"
)

// Issue 17 item 12: behind a load balancer, a token signed with a key just
// rotated on one instance is accepted by the others at once — not after
// their key_refresh (an hour here) — and the tokens signed before keep
// working everywhere. Three instances share one Caddy storage.
// CONFORMANCE K3
// CONFORMANCE S6
func TestKeyRotationReachesEveryInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	dir := t.TempDir()
	var instances []*running
	for range 3 {
		instances = append(instances, startCaddyIn(t, dir, func(api, admin int) string {
			return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	oauthgate {
		issuer https://auth.example.com
		key_refresh 1h
		scope api_v3 "API"
		client rep {
			secret_hash 0fefc1b27100e636d38ff6bc989040691f4a48220d8bc2183b6bbcfd001524c7
			grants client_credentials
			scopes api_v3
			default_scopes api_v3
		}
	}
}
http://127.0.0.1:%d {
	oauthgate_server
	route /api/* {
		oauthgate_protect api_v3
		respond "ok"
	}
}
`, admin, api)
		}))
	}
	_, before := instances[0].token("rep", "demo-secret-change-me")
	var rotated struct{ Kid string }
	if err := json.Unmarshal([]byte(instances[0].mustCLI("keys", "rotate", "--json")), &rotated); err != nil || rotated.Kid == "" {
		t.Fatalf("keys rotate: %v %+v", err, rotated)
	}
	for round := range 3 {
		status, fresh := instances[round%3].token("rep", "demo-secret-change-me")
		if status != 200 {
			t.Fatalf("token: %d", status)
		}
		for i, r := range instances {
			for name, tok := range map[string]string{"a token signed before the rotation": before, "a fresh token": fresh} {
				if code := r.api(tok); code != 200 {
					t.Errorf("instance %d, %s (issued by instance %d): %d", i+1, name, round%3+1, code)
				}
			}
		}
	}
}

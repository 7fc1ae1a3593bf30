// Tests of `caddy oauthgate explain`'s walk through a config's routes.

package caddymodule

import (
	"fmt"
	"strings"
	"testing"
)

// CONFORMANCE R3
// explain walks routes as Caddy does: of the `handle` blocks of a site,
// which Caddy groups so that they exclude each other, only the first that
// matches applies — the admin block's scope for /api/admin/x (report_only,
// and no handler that answers), not also the general API block's after it.
func TestExplainHandleGroups(t *testing.T) {
	g := newGateway(t)
	cfg := adapt(t, g.globals(fmt.Sprintf(`	oauthgate {
		issuer %s
		scope api_v3 "API"
		scope admin "Administration"
	}`, g.base))+fmt.Sprintf(`
http://127.0.0.1:%d {
	handle /api/admin/* {
		oauthgate_protect admin {
			report_only
		}
		header X-Admin yes
	}
	handle /api/* {
		oauthgate_protect api_v3
		respond "api"
	}
}
`, g.port))
	explain := func(path string) string {
		t.Helper()
		var out strings.Builder
		err := Explain(&out, cfg, "GET", g.base+path, "", "")
		// Explain provisions without cleaning up (a short-lived CLI
		// process): give back its reference to the shared memory store, or
		// later tests of this process would keep its state.
		_, _ = memoryPool.Delete(memoryPoolKey)
		if err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	admin := explain("/api/admin/x")
	if !strings.Contains(admin, "requires all of [admin]") || strings.Contains(admin, "[api_v3]") {
		t.Fatalf("/api/admin/x: want only the admin block's policy:\n%s", admin)
	}
	api := explain("/api/projects")
	if !strings.Contains(api, "requires all of [api_v3]") || strings.Contains(api, "[admin]") {
		t.Fatalf("/api/projects: want only the API block's policy:\n%s", api)
	}
}

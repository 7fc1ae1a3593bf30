package caddymodule

import (
	"runtime"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/oauthgate/caddy-oauthgate/authz"
	"github.com/oauthgate/caddy-oauthgate/internal/fastverify"
)

// An operator whose build checks ES256 without nistec's assembly (another
// nistec selected, or purego) is told so once at start; nobody else is.
func TestWarnSlowES256(t *testing.T) {
	es, err := authz.GenerateKey(authz.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := authz.GenerateKey(authz.AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	esSet, _ := authz.NewKeySet(es)
	edSet, _ := authz.NewKeySet(ed)
	expected := runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64"
	for _, tc := range []struct {
		name        string
		keys        *authz.KeySet
		accelerated bool
		warn        bool
	}{
		{"ES256 with the assembly", esSet, true, false},
		{"ES256 without it", esSet, false, expected},
		{"EdDSA only", edSet, false, false},
	} {
		core, logs := observer.New(zap.WarnLevel)
		a := &App{logger: zap.New(core)}
		a.warnSlowES256(tc.keys, tc.accelerated)
		if got := logs.FilterMessageSnippet("without filippo.io/nistec's assembly").Len(); got != map[bool]int{true: 1, false: 0}[tc.warn] {
			t.Errorf("%s: %d warnings", tc.name, got)
		}
	}
	if expected && !fastverify.P256Accelerated() {
		t.Error("this build checks ES256 without nistec's assembly: Provision would warn")
	}
}

// Tests of `caddy oauthgate`'s errors and exit statuses.

package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

type exited int

// runCLI runs `caddy oauthgate args…` in process and returns its output and
// exit status.
func runCLI(t *testing.T, args ...string) (out string, status int) {
	t.Helper()
	var buf bytes.Buffer
	root := &cobra.Command{Use: "oauthgate", SilenceUsage: true, SilenceErrors: true}
	buildCLI(root, &cli{out: &buf, errOut: &buf, exit: func(n int) { panic(exited(n)) }, args: args})
	root.SetArgs(args)
	root.SetOut(&buf)
	root.SetErr(&buf)
	defer func() {
		if r := recover(); r != nil {
			n, ok := r.(exited)
			if !ok {
				panic(r)
			}
			out, status = buf.String(), int(n)
		}
	}()
	if err := root.Execute(); err != nil {
		return buf.String() + err.Error(), -1
	}
	return buf.String(), 0
}

// Issue 17 item 19: `caddy oauthgate` tells scripts what went wrong: JSON
// errors with --json, distinct exit statuses for not found, conflict, bad
// request and unreachable, and a non-zero status for unknown subcommands.
func TestCLIErrorsAndExitStatuses(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	admin := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	cfg := strings.Replace(g.caddyfile(baseApp(g.base, ""), "oauthgate_server"), "admin off", "admin "+admin, 1)
	if err := g.loadJSON(adapt(t, cfg)); err != nil {
		t.Fatal(err)
	}
	at := []string{"--address", admin}
	for _, tc := range []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"not found", []string{"client", "show", "nobody"}, exitNotFound, "no such client"},
		{"conflict", []string{"client", "create", "--id", "reporting", "--grant", "client_credentials", "--scope", "api_v3"}, exitConflict, "exists already"},
		{"bad request", []string{"client", "create", "--grant", "password"}, exitBadRequest, "password"},
		{"unreachable", []string{"client", "list", "--address", "127.0.0.1:1"}, exitUnreachable, "cannot be reached"},
		{"unknown subcommand", []string{"client", "frob"}, exitBadRequest, `unknown subcommand "frob"`},
		{"unknown command", []string{"frob"}, exitBadRequest, `unknown subcommand "frob"`},
		{"missing argument", []string{"client", "show"}, exitBadRequest, "arg"},
		{"unknown flag", []string{"client", "list", "--frob"}, exitBadRequest, "frob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{}, tc.args...), at...)
			if tc.name == "unreachable" {
				args = tc.args
			}
			out, status := runCLI(t, args...)
			if status != tc.status || !strings.Contains(out, tc.want) {
				t.Errorf("caddy oauthgate %v: status %d, want %d; output %q (want %q in it)", args, status, tc.status, out, tc.want)
			}
			out, status = runCLI(t, append(args, "--json")...)
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil || status != tc.status || m["exit_code"] != float64(tc.status) ||
				!strings.Contains(fmt.Sprint(m["error"]), tc.want) {
				t.Errorf("caddy oauthgate %v --json: status %d, output %q: not the JSON error", args, status, out)
			}
		})
	}
	if out, status := runCLI(t, append([]string{"client", "list"}, at...)...); status != 0 || !strings.Contains(out, "reporting") {
		t.Errorf("client list: %d %s", status, out)
	}
}

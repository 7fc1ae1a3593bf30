// Tests that a token sent in token_header stays out of Caddy's logs with the filters README shows.

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// tokenLogConfig is README's "Tokens in a custom header" configuration —
// token_header sessionID (seed 001) and its log filters — with the two logs
// written to files, the default log at DEBUG. filtered=false leaves the
// filters out.
func tokenLogConfig(port int, dir string, filtered bool) string {
	filter := "\t\t\trequest>headers>Sessionid delete\n"
	if !filtered {
		filter = ""
	}
	return fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %[2]s/storage
	log default {
		output file %[2]s/error.log
		level DEBUG
		format filter {
%[3]s			resp_headers>Location delete
		}
	}
	oauthgate {
		issuer http://127.0.0.1:%[1]d
		scope api_v3 "Access the API v3" default
		scope bcf_v2_1 "BCF 2.1 API"
		client demo {
			secret {env.OAUTHGATE_LOGTEST_SECRET}
			grants client_credentials
			scopes api_v3 bcf_v2_1
		}
	}
}

http://127.0.0.1:%[1]d {
	log {
		output file %[2]s/access.log
		format filter {
%[3]s			resp_headers>Location delete
		}
	}
	oauthgate_server
	route /api/* {
		oauthgate_protect api_v3 {
			token_header sessionID
		}
		respond "api"
	}
}
`, port, dir, filter)
}

// A token sent in token_header never reaches Caddy's access log or its
// error log at DEBUG with the configuration README shows; without the
// filters it would (Caddy copies every request header into both), which is
// why Caddy warns at start naming the exact filter.
// CONFORMANCE O2
// CONFORMANCE R1
func TestTokenHeaderKeptOutOfLogs_O2(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildCaddy(t)
	const secret = "log-test-secret-0123456789"
	for _, filtered := range []bool{true, false} {
		t.Run(fmt.Sprintf("filtered=%v", filtered), func(t *testing.T) {
			dir := t.TempDir()
			port := testutil.FreePort(t)
			cfg := filepath.Join(dir, "Caddyfile")
			if err := os.WriteFile(cfg, []byte(tokenLogConfig(port, dir, filtered)), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			stderr, proc := runGateway(t, ctx, bin, cfg, dir, port, "OAUTHGATE_LOGTEST_SECRET="+secret)
			base := fmt.Sprintf("http://127.0.0.1:%d", port)

			token := func(scope string) string {
				form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
				req, _ := http.NewRequest("POST", base+"/oauth/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("demo", secret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var tr struct {
					AccessToken string `json:"access_token"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
					t.Fatalf("token: %d %v", resp.StatusCode, err)
				}
				return tr.AccessToken
			}
			good, wrongScope := token("api_v3"), token("bcf_v2_1")
			forged := good[:len(good)-4] + "AAAA"
			for tok, want := range map[string]int{good: 200, wrongScope: 403, forged: 401} {
				req, _ := http.NewRequest("GET", base+"/api/v3/projects", nil)
				req.Header.Set("sessionID", tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Fatalf("sessionID call: %d, want %d", resp.StatusCode, want)
				}
			}
			// Stop Caddy so every line is written, then read both logs.
			_ = proc.Process.Signal(os.Interrupt)
			_ = proc.Wait()
			access, _ := os.ReadFile(filepath.Join(dir, "access.log"))
			errlog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			for name, log := range map[string]string{"access": string(access), "error": string(errlog)} {
				if !strings.Contains(log, `"/api/v3/projects"`) {
					t.Fatalf("the %s log has no entry for the API calls:\n%s", name, log)
				}
			}
			if !strings.Contains(string(errlog), `"status":403`) || !strings.Contains(string(errlog), `"status":401`) {
				t.Fatalf("the DEBUG error log lacks the refusals:\n%s", errlog)
			}
			warning := "request>headers>Sessionid delete"
			if !strings.Contains(string(errlog), warning) {
				t.Fatalf("no start-up warning naming %q:\n%s", warning, errlog)
			}
			all := string(access) + string(errlog) + stderr.String()
			leaked := false
			for _, tok := range []string{good, wrongScope, forged} {
				leaked = leaked || strings.Contains(all, tok)
			}
			if leaked != !filtered {
				t.Fatalf("filtered=%v: a token in the logs: %v\naccess:\n%s\nerror:\n%s", filtered, leaked, access, errlog)
			}
			if strings.Contains(all, secret) {
				t.Fatal("the client secret reached a log")
			}
		})
	}
}

// waitListening waits until the port accepts connections.
func waitListening(t *testing.T, port int, logs *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Caddy did not start:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

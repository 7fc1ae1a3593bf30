// The MCP flow end to end: the official MCP SDK client, two unchanged MCP servers behind the built gateway.

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/crypto/bcrypt"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// whoamiServer is an MCP server written with the Go SDK and nothing of
// oauthgate: its one tool reports the identity headers the gateway added.
func whoamiServer(t *testing.T) *httptest.Server {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "whoami", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "the identity headers of the request"},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			seen := map[string]string{}
			for k, v := range req.Extra.Header {
				if strings.HasPrefix(k, "X-Oauth-") {
					seen[k] = strings.Join(v, ",")
				}
			}
			b, _ := json.Marshal(seen)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}}, nil, nil
		})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(srv.Close)
	return srv
}

// sdkExampleServer starts the MCP TypeScript SDK's own example server
// (simpleStreamableHttp, without its --oauth option) on port.
func sdkExampleServer(t *testing.T, ctx context.Context, node string, port int) {
	t.Helper()
	script := filepath.Join(clientsDir, "node_modules/@modelcontextprotocol/sdk/dist/esm/examples/server/simpleStreamableHttp.js")
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), "MCP_PORT="+strconv.Itoa(port))
	logs := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitListening(t, port, logs)
}

// metadataDocument serves a Client ID Metadata Document on loopback
// https, with a certificate the gateway is told to trust; it returns the
// document's URL and the certificate's PEM file. The document's redirect
// URI is read from callback when it is fetched: the ports of the others
// are chosen after this server has its own.
func metadataDocument(t *testing.T, callback *atomic.Value) (string, string) {
	t.Helper()
	var url string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/clients/desktop.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=300")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"client_id": url, "client_name": "Desktop MCP client", "client_uri": "https://desktop.example/",
			"redirect_uris": []string{callback.Load().(string)}, "grant_types": []string{"authorization_code", "refresh_token"},
			"response_types": []string{"code"}, "token_endpoint_auth_method": "none",
		})
	}))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	url = srv.URL + "/clients/desktop.json"
	certFile := filepath.Join(t.TempDir(), "ca.pem")
	cert := srv.Certificate()
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return url, certFile
}

// The official MCP TypeScript SDK client, with its OAuth support, against
// the SDK's own example server and a Go SDK server, each on its own route
// and resource behind the built gateway; Chromium signs alice in. Once
// per way an MCP client identifies itself. The checks are clients/mcp.mjs.
// CONFORMANCE G3
// CONFORMANCE G2
// CONFORMANCE G1
// CONFORMANCE G4
func TestMCPClients(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and runs Node")
	}
	node := needNodeClients(t)
	chromium := testutil.Need(t, "chromium", "chromium")
	bin := buildCaddy(t)
	for _, identity := range []string{"register", "metadata", "static"} {
		t.Run(identity, func(t *testing.T) {
			runMCPClients(t, node, chromium, bin, identity)
		})
	}
}

func runMCPClients(t *testing.T, node, chromium, bin, identity string) {
	const password = "mcp-alice-password"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	// The servers that take any free port start first: one of them could
	// otherwise be given a port just chosen for the gateway or a client.
	whoami := whoamiServer(t)
	var callbackURL atomic.Value
	docURL, certFile := metadataDocument(t, &callbackURL)
	port, portA := testutil.FreePort(t), testutil.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	callback := fmt.Sprintf("http://127.0.0.1:%d/callback", testutil.FreePort(t))
	callbackURL.Store(callback)
	sdkExampleServer(t, ctx, node, portA)
	// A pre-registered client needs no registration: it stays off then.
	registration := ""
	if identity != "static" {
		registration = `registration {
			mode open
			metadata_documents loopback
			grants authorization_code refresh_token
			scopes mcp:tools
		}`
	}
	cfg := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %[1]s
	oauthgate {
		issuer %[2]s
		scope mcp:tools "Use the MCP tools" default
		users {
			alice %[3]s
		}
		%[7]s
		client desktop {
			name "Pre-registered desktop client"
			public
			redirect_uri %[4]s
			grants authorization_code refresh_token
			scopes mcp:tools
		}
	}
}

%[2]s {
	oauthgate_server
	route /a/* {
		oauthgate_protect mcp:tools {
			resource %[2]s/a/mcp
			resource_name "SDK example server"
		}
		uri strip_prefix /a
		reverse_proxy 127.0.0.1:%[5]d
	}
	route /b/* {
		oauthgate_protect mcp:tools {
			resource %[2]s/b/mcp
		}
		uri strip_prefix /b
		reverse_proxy %[6]s
	}
	handle /metrics {
		metrics
	}
}
`, filepath.Join(dir, "storage"), base, hash, callback, portA, strings.TrimPrefix(whoami.URL, "http://"), registration)
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs, gw := runGateway(t, ctx, bin, cfgPath, dir, port, "SSL_CERT_FILE="+certFile)

	script := exec.CommandContext(ctx, node, "mcp.mjs")
	script.Dir = clientsDir
	script.Env = append(os.Environ(),
		"MCP_SERVER_A="+base+"/a/mcp", "MCP_SERVER_B="+base+"/b/mcp", "MCP_CALLBACK="+callback,
		"MCP_IDENTITY="+identity, "MCP_CLIENT_METADATA_URL="+docURL, "MCP_CLIENT_ID=desktop",
		"MCP_CHROMIUM="+chromium, "MCP_USER=alice", "MCP_PASSWORD="+password)
	out, err := script.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "mcp clients: all") {
		t.Fatalf("node mcp.mjs: %v\n%s\ngateway (%v) log:\n%s", err, out, gw.ProcessState, logs.String())
	}
	t.Logf("%s", out)

	// Streamable HTTP through the gateway: every request the SDK sent with
	// a token was checked once — not per SSE event, not twice.
	m := regexp.MustCompile(`requests with a token: (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatal("mcp.mjs printed no request count")
	}
	sent, _ := strconv.Atoi(string(m[1]))
	checked := protectDecisions(t, base+"/metrics")
	if checked != sent {
		t.Fatalf("the gateway made %d token decisions for %d requests with a token", checked, sent)
	}
	if strings.Contains(logs.String(), "Bearer ") {
		t.Fatal("a bearer token reached the gateway's log")
	}
}

// protectDecisions sums oauthgate_protect_decisions_total over requests
// that carried a token (every reason but no_token).
func protectDecisions(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	total := 0
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "oauthgate_protect_decisions_total{") || strings.Contains(line, `reason="no_token"`) {
			continue
		}
		f := strings.Fields(line)
		n, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q", line)
		}
		total += int(n)
	}
	return total
}

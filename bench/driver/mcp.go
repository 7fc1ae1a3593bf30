// The MCP scenario's upstream: an MCP server of the Go SDK, stateless, answering tools/call with JSON.

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpCall is the JSON-RPC request bench/mcp.lua sends: one tool call.
const mcpCall = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`

type echoArgs struct {
	Text string `json:"text"`
}

// startMCPUpstream serves an MCP server with one tool, echo, on a free
// loopback port in this process, and returns the port. Stateless with
// JSON answers: every tool call is one request, as wrk sends them.
func startMCPUpstream() int {
	s := mcp.NewServer(&mcp.Implementation{Name: "bench-echo", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echoes its text"},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	go func() { _ = http.Serve(l, h) }()
	port := l.Addr().(*net.TCPAddr).Port
	pids[port] = os.Getpid()
	return port
}

// checkMCPCall sends one tool call to url with tok and checks the answer
// is the tool's result, not a JSON-RPC error (which wrk would count as a
// success: it is a 200).
func checkMCPCall(url, tok string) error {
	req, _ := http.NewRequest("POST", url, strings.NewReader(mcpCall))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"text":"hello"`) || strings.Contains(string(b), `"error"`) {
		return fmt.Errorf("MCP tool call through %s: %d %s", url, resp.StatusCode, b)
	}
	return nil
}

// registrations measures RFC 7591 registrations per second on the memory
// store: a gateway with open registration (its per-address limit raised
// for the load, which comes from one address) under wrk for one load.
func registrations() (float64, error) {
	port := freePort()
	cfg := fmt.Sprintf(`{
	admin off
	auto_https off
	oauthgate {
		issuer http://127.0.0.1:%[1]d
		signing_key ES256 %[2]s
		scope api "API" default
		registration {
			mode open
			grants authorization_code refresh_token
			scopes api
			max_clients 10000000
			rate 100000000/1s
		}
	}
}
http://127.0.0.1:%[1]d {
	oauthgate_server
}
`, port, keyFile("ES256"))
	start("registration", cfg, port)
	return wrk(fmt.Sprintf("http://127.0.0.1:%d/oauth/register", port), "bench/register.lua", "", "")
}

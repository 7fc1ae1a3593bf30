// Tests that a client cannot strip or forge identity headers with Connection or request trailers.

package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// trailerUpstream records the headers and, having read the body, the
// trailers of what reached the backend.
type trailerUpstream struct {
	*httptest.Server
	mu       sync.Mutex
	header   http.Header
	trailer  http.Header
	requests int
}

func newTrailerUpstream(t *testing.T) *trailerUpstream {
	u := &trailerUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.header, u.trailer, u.requests = r.Header.Clone(), r.Trailer.Clone(), u.requests+1
		u.mu.Unlock()
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *trailerUpstream) seen(t *testing.T) (http.Header, http.Header) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.requests == 0 {
		t.Fatal("nothing reached the upstream")
	}
	return u.header, u.trailer
}

// Issue 17 item 6: a client cannot make reverse_proxy drop the identity
// headers the gateway set by naming them in Connection, nor add its own
// as request trailers; under report_only the decision header survives the
// same trick and a refused request's Authorization header is removed too.
// CONFORMANCE R5
func TestClientCannotStripOrForgeIdentityHeaders(t *testing.T) {
	setSecrets(t)
	g := newGateway(t)
	up := newTrailerUpstream(t)
	g.load(baseApp(g.base, ""), fmt.Sprintf(`
	oauthgate_server
	route /api/* {
		oauthgate_protect api_v3
		reverse_proxy %[1]s
	}
	route /report/* {
		oauthgate_protect bcf_v2_1 {
			report_only
		}
		reverse_proxy %[1]s
	}`, strings.TrimPrefix(up.URL, "http://")))
	tok := getToken(t, g, "reporting", reportingSecret, "api_v3")

	send := func(path string, header map[string]string, trailer http.Header) {
		t.Helper()
		var body io.Reader = http.NoBody
		if trailer != nil {
			body = io.MultiReader(strings.NewReader("payload")) // unknown length: chunked, with trailers
		}
		req, _ := http.NewRequest("POST", g.base+path, body)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		req.Trailer = trailer
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}

	send("/api/x", map[string]string{"Authorization": "Bearer " + tok,
		"Connection": "keep-alive, X-OAuth-Subject, x-oauth-scope,X-OAuth-Client-Id , X-OAuth-Audience"}, nil)
	h, _ := up.seen(t)
	for name, want := range map[string]string{"X-Oauth-Subject": "svc-reporting", "X-Oauth-Scope": "api_v3",
		"X-Oauth-Client-Id": "reporting", "X-Oauth-Audience": "backend"} {
		if got := h.Get(name); got != want {
			t.Errorf("upstream %s = %q, want %q (Connection stripped it)", name, got, want)
		}
	}

	send("/api/x", map[string]string{"Authorization": "Bearer " + tok},
		http.Header{"X-Oauth-Subject": {"admin"}, "X-Oauth-Role": {"root"}, "X-Other": {"kept"}})
	h, tr := up.seen(t)
	if h.Get("X-Oauth-Subject") != "svc-reporting" || tr.Get("X-Oauth-Subject") != "" || tr.Get("X-Oauth-Role") != "" {
		t.Errorf("identity trailers reached the upstream: header %q, trailers %v", h.Get("X-Oauth-Subject"), tr)
	}
	if tr.Get("X-Other") != "kept" {
		t.Errorf("other trailers are lost: %v (the test no longer sends trailers?)", tr)
	}

	// report_only: a refused request (wrong scope) keeps its decision
	// header and loses its token.
	send("/report/x", map[string]string{"Authorization": "Bearer " + tok, "Connection": "X-OAuth-Decision"}, nil)
	h, _ = up.seen(t)
	if d := h.Get("X-Oauth-Decision"); !strings.Contains(d, "insufficient_scope") {
		t.Errorf("report_only decision = %q after Connection: X-OAuth-Decision", d)
	}
	if a := h.Get("Authorization"); a != "" {
		t.Errorf("report_only: a refused request reached the upstream with its Authorization header")
	}
}

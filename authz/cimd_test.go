// Tests of Client ID Metadata Documents (CONFORMANCE G4): a code flow, refusals on an error page, addresses, cache lifetimes.

package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// documents turns metadata documents on.
func documents(c *Config) {
	c.Registration = RegistrationConfig{MetadataDocuments: true, Scopes: []string{"api_v3"}, Fetch: FetchOptions{Loopback: true}}
}

// docServer serves documents on loopback http: each path maps to a
// function writing the answer; hits counts requests.
type docServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newDocServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, self string)) *docServer {
	d := &docServer{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.hits.Add(1)
		handle(w, r, d.URL+r.URL.Path)
	}))
	t.Cleanup(d.Close)
	return d
}

// goodDocument answers a valid document for the URL it is served at.
func goodDocument(cacheControl string) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, _ *http.Request, self string) {
		w.Header().Set("Content-Type", "application/json")
		if cacheControl != "" {
			w.Header().Set("Cache-Control", cacheControl)
		}
		fmt.Fprintf(w, `{"client_id":%q,"client_name":"Doc Agent","redirect_uris":["http://127.0.0.1/cb"],
			"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none",
			"client_uri":"https://agent.example"}`, self)
	}
}

// CONFORMANCE G4
// A client_id URL served on loopback http completes a code
// flow with PKCE; the consent page shows the document's host; the
// document is fetched once while its max-age lasts and again after.
func TestMetadataDocument_G4_CodeFlowAndCache(t *testing.T) {
	f, srv := regServer(t, documents)
	docs := newDocServer(t, goodDocument("public, max-age=120"))
	id := docs.URL + "/client.json"
	host := strings.TrimPrefix(docs.URL, "http://")
	if md := f.srv.Metadata(); !md.ClientIDMetadataDocumentSupported || md.RegistrationEndpoint != "" {
		t.Fatalf("metadata: %+v", md)
	}
	b := testutil.NewBrowser(t)
	q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {"http://127.0.0.1:4567/cb"},
		"code_challenge": {pkcePair(testVerifier)}, "code_challenge_method": {"S256"}}
	p := b.Get(srv.URL + PathAuthorize + "?" + q.Encode())
	p = b.Submit(p, map[string]string{"oauthgate_username": "alice", "oauthgate_password": "pw", "oauthgate_action": "login"})
	if !strings.Contains(p.Body, `<span class="host">from `+host+`</span>`) || !strings.Contains(p.Body, "Doc Agent") ||
		!strings.Contains(p.Body, "its name is self-asserted") {
		t.Fatalf("the consent page does not show the document's host: %s", p.Body)
	}
	tok := codeFlow(t, srv, id, "http://127.0.0.1:4567/cb")
	if tok["refresh_token"] == nil {
		t.Errorf("no refresh token: %v", tok)
	}
	if n := docs.hits.Load(); n != 1 {
		t.Fatalf("%d fetches within max-age, want 1", n)
	}
	// The token verifies (the verifier resolves the client through the cache).
	if _, err := f.srv.Verifier().Verify(t.Context(), tok["access_token"].(string)); err != nil {
		t.Fatalf("verify: %v", err)
	}
	f.clock.Advance(121 * time.Second)
	tok = codeFlow(t, srv, id, "http://127.0.0.1:4567/cb")
	if n := docs.hits.Load(); n != 2 {
		t.Fatalf("%d fetches after max-age, want 2", n)
	}
	// The document's host goes away: its tokens still reach the API (no
	// fetch on that path), but a refresh cannot resolve the client.
	docs.Close()
	f.clock.Advance(10 * time.Minute)
	if _, err := f.srv.Verifier().Verify(t.Context(), tok["access_token"].(string)); err != nil {
		t.Fatalf("verify without the document: %v", err)
	}
	resp, err := http.PostForm(srv.URL+PathToken, url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {tok["refresh_token"].(string)}, "client_id": {id}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("refresh without the document: %d", resp.StatusCode)
	}
	if recs, _ := f.store.ListClients(t.Context()); len(recs) != 0 {
		t.Fatalf("a document's client was stored: %v", recs)
	}
}

// CONFORMANCE G4
// No-store documents are fetched every time; max-age is
// held within the bounds (1 minute – 24 hours).
func TestMetadataDocument_G4_CacheBounds(t *testing.T) {
	m := NewMetadataDocuments(RegistrationConfig{}, time.Now)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"no-store", 0}, {"private, no-cache", 0}, {"max-age=5", time.Minute}, {"max-age=600", 10 * time.Minute},
		{"max-age=99999999999", 24 * time.Hour}, {"", 5 * time.Minute}, {"max-age=junk", 5 * time.Minute},
	} {
		if got := m.ttl(http.Header{"Cache-Control": {tc.header}}); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.header, got, tc.want)
		}
	}
	f, _ := regServer(t, documents)
	docs := newDocServer(t, goodDocument("no-store"))
	for range 3 {
		if _, err := f.srv.Registry().Client(t.Context(), docs.URL+"/c"); err != nil {
			t.Fatal(err)
		}
	}
	if n := docs.hits.Load(); n != 3 {
		t.Fatalf("no-store fetched %d times for 3 lookups", n)
	}
}

// CONFORMANCE G4
// Documents that do not validate, redirects and oversized
// answers give an error page at /oauth/authorize — never a redirect to the
// (untrusted) redirect URI — and invalid_client at /oauth/token.
func TestMetadataDocument_G4_Refused(t *testing.T) {
	_, srv := regServer(t, documents)
	docs := newDocServer(t, func(w http.ResponseWriter, r *http.Request, self string) {
		doc := func(body string) { w.Header().Set("Content-Type", "application/json"); fmt.Fprint(w, body) }
		switch r.URL.Path {
		case "/other-id":
			doc(`{"client_id":"https://elsewhere.example/c","redirect_uris":["http://127.0.0.1/cb"]}`)
		case "/trailing-slash":
			doc(fmt.Sprintf(`{"client_id":%q,"redirect_uris":["http://127.0.0.1/cb"]}`, self+"/"))
		case "/redirect":
			http.Redirect(w, r, "/good", http.StatusFound)
		case "/big":
			doc(fmt.Sprintf(`{"client_id":%q,"redirect_uris":["http://127.0.0.1/cb"],"client_name":"%s"}`, self, strings.Repeat("x", 20<<10)))
		case "/secret":
			doc(fmt.Sprintf(`{"client_id":%q,"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"client_secret_basic"}`, self))
		case "/js":
			doc(fmt.Sprintf(`{"client_id":%q,"redirect_uris":["javascript:alert(1)"]}`, self))
		case "/scope":
			doc(fmt.Sprintf(`{"client_id":%q,"redirect_uris":["http://127.0.0.1/cb"],"scope":"admin"}`, self))
		case "/not-json":
			doc(`<html>`)
		default:
			http.NotFound(w, r)
		}
	})
	for _, tc := range []struct{ path, want string }{
		{"/other-id", "its client_id is not the URL"},
		{"/trailing-slash", "its client_id is not the URL"},
		{"/redirect", "redirects are not followed"},
		{"/big", "larger than"},
		{"/secret", "shared secret"},
		{"/js", "redirect URI"},
		{"/scope", "may not be registered"},
		{"/not-json", "JSON object"},
		{"/missing", "HTTP 404"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			id := docs.URL + tc.path
			q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {"http://127.0.0.1/cb"},
				"code_challenge": {pkcePair(testVerifier)}, "code_challenge_method": {"S256"}, "state": {"s"}}
			p := testutil.NewBrowser(t).Get(srv.URL + PathAuthorize + "?" + q.Encode())
			if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" || !strings.Contains(p.Body, tc.want) {
				t.Fatalf("%d %q: %s", p.Status, p.Header.Get("Location"), p.Body)
			}
			resp, err := http.PostForm(srv.URL+PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {"ogc_x"},
				"client_id": {id}, "code_verifier": {testVerifier}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("token endpoint: %d", resp.StatusCode)
			}
		})
	}
}

// CONFORMANCE G4
// Client_id URLs that may not be fetched are refused before
// any connection: plain http off loopback, private and link-local
// addresses, URLs without a path or with a fragment.
func TestMetadataDocument_G4_Addresses(t *testing.T) {
	f, _ := regServer(t, documents)
	m := f.srv.Registry().Documents
	for _, id := range []string{
		"http://10.0.0.1/client.json", "http://app.example/client.json", "https://169.254.169.254/latest/meta-data",
		"https://10.1.2.3/c", "https://192.168.0.1/c",
		"https://[fe80::1]/c", "https://0.0.0.0/c", "https://100.64.0.1/c", "https://[::ffff:10.0.0.1]/c", "https://[64:ff9b::a00:1]/c",
		"https://app.example", "https://app.example/", "https://app.example/c#f", "https://u:p@app.example/c",
		"https://app.example/a/../c",
	} {
		_, err := f.srv.Registry().Client(t.Context(), id)
		var de *DocumentError
		if !errors.As(err, &de) {
			t.Errorf("%s: %v", id, err)
		}
	}
	if n := m.Fetches.Load(); n != 0 {
		t.Fatalf("%d fetches started for refused URLs", n)
	}
}

// CONFORMANCE G4
// The address is checked when connecting (so DNS
// rebinding cannot get past it): loopback, private and link-local
// addresses are refused by the dialer unless the URL was http on loopback.
func TestMetadataDocument_G4_DialCheck(t *testing.T) {
	m := NewMetadataDocuments(RegistrationConfig{}, time.Now)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := m.dial(ctx, "tcp", ln.Addr().String()); !errors.Is(err, errForbiddenAddress) {
		t.Fatalf("dial to loopback: %v", err)
	}
	if _, err := m.dial(ctx, "tcp", "10.0.0.1:443"); !errors.Is(err, errForbiddenAddress) {
		t.Fatalf("dial to 10.0.0.1: %v", err)
	}
	if accepted.Load() != 0 {
		t.Fatal("the dialer connected to a loopback address")
	}
	c, err := m.dial(context.WithValue(ctx, loopbackAllowed{}, true), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial for an http loopback URL: %v", err)
	}
	c.Close()
	if _, err := m.dial(context.WithValue(ctx, loopbackAllowed{}, true), "tcp", "192.0.2.1:80"); !errors.Is(err, errForbiddenAddress) {
		t.Fatalf("an http loopback URL dialled elsewhere: %v", err)
	}
	for _, ip := range []string{"8.8.8.8", "2606:4700::1111"} {
		if !publicAddr(netipMust(ip)) {
			t.Errorf("%s is public", ip)
		}
	}
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }

// FuzzMetadataDocument: a client_id URL and a document either give a
// public client with PKCE whose id is the URL, or a DocumentError; never a
// panic, never a non-public host. CONFORMANCE G4
func FuzzMetadataDocument(f *testing.F) {
	f.Add("https://app.example/c", `{"client_id":"https://app.example/c","redirect_uris":["https://app.example/cb"]}`)
	f.Add("https://10.0.0.1/c", `{}`)
	f.Add("http://127.0.0.1:1/c", `{"client_id":"http://127.0.0.1:1/c","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"client_secret_post"}`)
	m := NewMetadataDocuments(RegistrationConfig{Grants: []string{GrantAuthorizationCode, GrantRefreshToken}, Scopes: []string{"api_v3"}}, time.Now)
	f.Fuzz(func(t *testing.T, id, body string) {
		u, _, derr := documentURL(id)
		if derr != nil {
			return
		}
		if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !publicAddr(ip) && u.Scheme == "https" {
			t.Fatalf("%s accepted", id)
		}
		c, e := m.check(id, u, []byte(body))
		if e != nil {
			return
		}
		if c.ID != id || !c.Public || !c.Registered || c.DocumentHost != u.Host || c.AllowsGrant(GrantClientCredentials) {
			t.Fatalf("client %+v", c)
		}
	})
}

// CONFORMANCE G4
// A client_id URL on a loopback host is refused unless the operator asked
// for it (`metadata_documents loopback`): on a server, anyone could make
// the gateway send GETs to its own local ports. Nothing is fetched.
func TestMetadataDocument_G4_LoopbackNeedsTheOption(t *testing.T) {
	m := NewMetadataDocuments(RegistrationConfig{MetadataDocuments: true, Scopes: []string{"api_v3"}}, time.Now)
	for _, id := range []string{"http://127.0.0.1:2019/debug/pprof/x", "https://localhost:8443/c", "https://[::1]/c"} {
		_, err := m.Client(t.Context(), id)
		var de *DocumentError
		if !errors.As(err, &de) || !strings.Contains(de.Error(), "metadata_documents loopback") {
			t.Errorf("%s: %v", id, err)
		}
	}
	if n := m.Fetches.Load(); n != 0 {
		t.Fatalf("%d fetches for loopback URLs", n)
	}
}

// CONFORMANCE G4
// A document that failed is not fetched again for a while: strangers
// naming a broken or hostile URL over and over cost one fetch.
func TestMetadataDocument_G4_FailuresRemembered(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.NotFound(w, r)
	}))
	defer srv.Close()
	clk := &clock{t: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}
	m := NewMetadataDocuments(RegistrationConfig{MetadataDocuments: true, Scopes: []string{"api_v3"}, Fetch: FetchOptions{Loopback: true}}, clk.Now)
	id := srv.URL + "/client.json"
	for range 5 {
		var de *DocumentError
		if _, err := m.Client(t.Context(), id); !errors.As(err, &de) {
			t.Fatalf("a missing document: %v", err)
		}
	}
	if hits.Load() != 1 {
		t.Fatalf("%d fetches of a failed document within %s", hits.Load(), failedDocumentTTL)
	}
	clk.Advance(failedDocumentTTL + time.Second)
	_, _ = m.Client(t.Context(), id)
	if hits.Load() != 2 {
		t.Fatalf("%d fetches after %s, want 2", hits.Load(), failedDocumentTTL)
	}
}

// CONFORMANCE G4: requests from one address make at most 30 document
// fetches a minute; the next is refused before any fetch, with a reason,
// and is not remembered as the document's failure (another address gets
// it at once); documents cached already still serve that address; the
// limit ends with its minute.
func TestMetadataDocument_G4_FetchesPerAddress(t *testing.T) {
	f, srv := regServer(t, documents, fromAddr)
	docs := newDocServer(t, goodDocument("public, max-age=3600"))
	authorize := func(addr string, n int) *testutil.Page {
		q := url.Values{"response_type": {"code"}, "client_id": {fmt.Sprintf("%s/c%d.json", docs.URL, n)}, "redirect_uri": {"http://127.0.0.1:4567/cb"},
			"code_challenge": {pkcePair(testVerifier)}, "code_challenge_method": {"S256"}}
		return browserAt(t, addr).Get(srv.URL + PathAuthorize + "?" + q.Encode())
	}
	accepted := func(p *testutil.Page) bool { return p.Status == http.StatusOK && p.Form.Has("oauthgate_password") }
	for n := range fetchesPerAddress {
		if p := authorize("203.0.113.5", n); !accepted(p) {
			t.Fatalf("document %d: %d %s", n, p.Status, p.Body)
		}
	}
	p := authorize("203.0.113.5", fetchesPerAddress)
	if p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" ||
		!strings.Contains(p.Body, "too many client metadata documents were fetched for this address") {
		t.Fatalf("fetch %d from one address within a minute: %d (Retry-After %q) %s", fetchesPerAddress+1, p.Status, p.Header.Get("Retry-After"), p.Body)
	}
	if n := docs.hits.Load(); n != fetchesPerAddress {
		t.Fatalf("%d fetches, want %d (the refused one made none)", n, fetchesPerAddress)
	}
	if p := authorize("198.51.100.20", fetchesPerAddress); !accepted(p) {
		t.Fatalf("the same document for another address: %d %s", p.Status, p.Body)
	}
	if p := authorize("203.0.113.5", 0); !accepted(p) {
		t.Fatalf("a cached document for the limited address: %d", p.Status)
	}
	f.clock.Advance(fetchWindow + time.Second)
	if p := authorize("203.0.113.5", fetchesPerAddress+1); !accepted(p) {
		t.Fatalf("after the minute: %d %s", p.Status, p.Body)
	}
}

// CONFORMANCE G4: sign-out requests naming a client_id look its document
// up too, and count against the same per-address limit as the
// authorization endpoint: logout links cannot be used to make the server
// fetch without bound. The user is signed out either way.
func TestMetadataDocument_G4_LogoutFetchesPerAddress(t *testing.T) {
	_, srv := regServer(t, documents, fromAddr)
	docs := newDocServer(t, goodDocument("public, max-age=3600"))
	logout := func(addr string, n int) *testutil.Page {
		q := url.Values{"client_id": {fmt.Sprintf("%s/c%d.json", docs.URL, n)}, "post_logout_redirect_uri": {"http://127.0.0.1/bye"}}
		return browserAt(t, addr).Get(srv.URL + PathLogout + "?" + q.Encode())
	}
	// Half the limit through the authorization endpoint, half through logout.
	for n := range fetchesPerAddress {
		var p *testutil.Page
		if n%2 == 0 {
			q := url.Values{"response_type": {"code"}, "client_id": {fmt.Sprintf("%s/c%d.json", docs.URL, n)}, "redirect_uri": {"http://127.0.0.1/cb"},
				"code_challenge": {pkcePair(testVerifier)}, "code_challenge_method": {"S256"}}
			p = browserAt(t, "203.0.113.7").Get(srv.URL + PathAuthorize + "?" + q.Encode())
		} else {
			p = logout("203.0.113.7", n)
		}
		// The documents register no post_logout_redirect_uris: logout
		// looks them up, then refuses the return address.
		if n%2 == 0 && p.Status != http.StatusOK || n%2 == 1 && (p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "The page to return to is not registered")) {
			t.Fatalf("lookup %d: %d %s", n, p.Status, p.Body)
		}
	}
	if n := docs.hits.Load(); n != fetchesPerAddress {
		t.Fatalf("%d fetches, want %d", n, fetchesPerAddress)
	}
	p := logout("203.0.113.7", fetchesPerAddress)
	if p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" ||
		!strings.Contains(p.Body, "too many client metadata documents were fetched for this address") || !strings.Contains(p.Body, "You are signed out") {
		t.Fatalf("logout fetch %d within a minute: %d (Retry-After %q) %s", fetchesPerAddress+1, p.Status, p.Header.Get("Retry-After"), p.Body)
	}
	if n := docs.hits.Load(); n != fetchesPerAddress {
		t.Fatalf("%d fetches, want %d (the refused one made none)", n, fetchesPerAddress)
	}
	if p := logout("198.51.100.21", fetchesPerAddress); p.Status != http.StatusBadRequest {
		t.Fatalf("the same document for another address: %d %s", p.Status, p.Body)
	}
}

// CONFORMANCE G4: at the token endpoint, a document fetch refused for the
// address's limit is a 429 with Retry-After that the client-authentication
// throttles do not count: a public client whose document may not be
// cached (no-store) is slowed for the rest of the minute, never locked out
// as a guesser for the window.
func TestMetadataDocument_G4_FetchLimitIsNotAFailure(t *testing.T) {
	f, srv := regServer(t, documents, fromAddr)
	docs := newDocServer(t, goodDocument("no-store"))
	id := docs.URL + "/client.json"
	c := browserAt(t, "203.0.113.6").C
	exchange := func() (int, map[string]any, string) {
		resp, err := c.PostForm(srv.URL+PathToken, url.Values{"grant_type": {"authorization_code"}, "client_id": {id},
			"code": {"not-a-code"}, "redirect_uri": {"http://127.0.0.1/cb"}, "code_verifier": {testVerifier}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m, resp.Header.Get("Retry-After")
	}
	for i := range fetchesPerAddress {
		if code, m, _ := exchange(); code != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("exchange %d: %d %v", i, code, m)
		}
	}
	for i := range 30 { // more than the pair's failure limit (20), had they counted
		code, m, retry := exchange()
		if code != http.StatusTooManyRequests || m["error"] != "temporarily_unavailable" || retry == "" {
			t.Fatalf("exchange %d past the fetch limit: %d %v Retry-After %q", fetchesPerAddress+i, code, m, retry)
		}
	}
	f.clock.Advance(fetchWindow + time.Second)
	if code, m, _ := exchange(); code != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Fatalf("after the minute: %d %v (a lock would be invalid_client)", code, m)
	}
}

// CONFORMANCE G4: slow documents cannot keep everyone else's out. One
// address has at most 2 fetches under way (a third is refused at once,
// while another address fetches); strangers holding every shared fetch
// slot, from many addresses, keep out new documents but not a known
// client's, whose document was good when last fetched: it has slots of its
// own.
func TestMetadataDocument_G4_SlowDocumentsHoldNoOneElseUp(t *testing.T) {
	release := make(chan struct{})
	var held atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/slow/") {
			held.Add(1)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, `{"client_id":%q,"client_name":"Doc","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`,
			"http://"+r.Host+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	clk := &clock{t: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}
	m := NewMetadataDocuments(RegistrationConfig{MetadataDocuments: true, Grants: []string{GrantAuthorizationCode, GrantRefreshToken}, Scopes: []string{"api_v3"},
		Fetch: FetchOptions{Loopback: true, Timeout: 20 * time.Second}}, clk.Now)
	from := func(addr string) context.Context { return withCaller(t.Context(), addr) }
	known := srv.URL + "/known.json"
	if _, err := m.Client(from("198.51.100.1"), known); err != nil {
		t.Fatalf("the known client's document: %v", err)
	}
	clk.Advance(2 * time.Minute) // its cache lifetime is over: the next use refetches

	var wg sync.WaitGroup
	hold := func(addr string, n int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = m.Client(from(addr), fmt.Sprintf("%s/slow/%s-%d.json", srv.URL, addr, n))
		}()
	}
	waitHeld := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); held.Load() < n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d slow fetches under way, want %d", held.Load(), n)
			}
		}
	}
	busy := func(err error, what string) {
		t.Helper()
		var de *DocumentError
		if !errors.As(err, &de) || de.RetryAfter <= 0 {
			t.Fatalf("%s: %v, want a refusal to retry shortly", what, err)
		}
	}
	hold("203.0.113.1", 0)
	hold("203.0.113.1", 1)
	waitHeld(2)
	_, err := m.Client(from("203.0.113.1"), srv.URL+"/slow/third.json")
	busy(err, "a third fetch under way from one address")
	if !strings.Contains(err.Error(), "being fetched already") {
		t.Fatalf("the refusal does not say why: %v", err)
	}
	for a := range maxConcurrentFetches/inFlightPerAddress - 1 { // every shared slot
		hold(fmt.Sprintf("192.0.2.%d", a+1), 0)
		hold(fmt.Sprintf("192.0.2.%d", a+1), 1)
	}
	waitHeld(maxConcurrentFetches)
	_, err = m.Client(from("198.51.100.2"), srv.URL+"/new.json")
	busy(err, "a new document with every shared slot held")
	if c, err := m.Client(from("198.51.100.1"), known); err != nil || c.ID != known {
		t.Fatalf("the known client's document with every shared slot held: %v", err)
	}
	close(release)
	wg.Wait()
	if _, err := m.Client(from("198.51.100.2"), srv.URL+"/new.json"); err != nil {
		t.Fatalf("a new document once the slow ones ended: %v", err)
	}
}

// CONFORMANCE G4: an IPv6 /48 has at most 4 document fetches under way
// however many of its /64s ask; another /48 is not held up.
func TestMetadataDocument_G4_InFlightPerSite(t *testing.T) {
	release := make(chan struct{})
	var held atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	m := NewMetadataDocuments(RegistrationConfig{MetadataDocuments: true, Scopes: []string{"api_v3"}, Fetch: FetchOptions{Loopback: true, Timeout: 20 * time.Second}}, time.Now)
	var wg sync.WaitGroup
	for i := range 4 { // four /64s of one /48, one fetch each
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = m.Client(withCaller(t.Context(), fmt.Sprintf("2001:db8:7:%x::1", i)), fmt.Sprintf("%s/doc-%d.json", srv.URL, i))
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); held.Load() < 4; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d fetches under way, want 4", held.Load())
		}
	}
	var de *DocumentError
	_, err := m.Client(withCaller(t.Context(), "2001:db8:7:99::1"), srv.URL+"/doc-5.json")
	if !errors.As(err, &de) || de.RetryAfter <= 0 || !strings.Contains(err.Error(), "being fetched already") {
		t.Fatalf("a fifth fetch from the /48: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := m.Client(withCaller(t.Context(), "2001:db8:8::1"), srv.URL+"/doc-6.json")
		done <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); held.Load() < 5; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("another /48's fetch did not start")
		}
	}
	unblock()
	wg.Wait()
	<-done
}

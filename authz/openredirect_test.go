// A property test: the authorization endpoint redirects only to registered URIs, over generated near misses.

package authz

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The open-redirect property: whatever redirect_uri a request carries, the
// authorization endpoint redirects only to a URI registered for the client —
// the one allowed difference being the port of a loopback registration made
// without one (RFC 8252 §7.3). Checked over thousands of generated near-miss
// URIs against MatchRedirectURI and the handler itself.

var orRegistered = []string{
	"https://app.example/cb",
	"https://app.example/cb?tenant=1",
	"https://app.example:8443/other/cb",
	"http://127.0.0.1/callback",
	"http://[::1]/cb",
	"http://127.0.0.1:9000/fixed", // registered with a port: exact only
	"http://localhost/cb",         // a name, not a loopback IP literal: exact only
	"com.example.app:/oauth2redirect",
	OOBRedirect,
}

// orLoopbackHosts are the registrations' hosts whose port may vary.
var orLoopbackHosts = []string{"http://127.0.0.1", "http://[::1]"}

// orPrefixes returns each way s starts with a registered URI — verbatim,
// or with only a decimal port added to a loopback host registered without
// one — as the matched prefix and what follows it.
func orPrefixes(s string) (matched, rest []string) {
	for _, r := range orRegistered {
		if r != OOBRedirect && strings.HasPrefix(s, r) {
			matched, rest = append(matched, s[:len(r)]), append(rest, s[len(r):])
		}
		for _, h := range orLoopbackHosts {
			after, isLoopback := strings.CutPrefix(r, h)
			if !isLoopback || (after != "" && after[0] != '/') || !strings.HasPrefix(s, h+":") {
				continue
			}
			digits := 0
			for digits < 5 && len(s) > len(h)+1+digits && s[len(h)+1+digits] >= '0' && s[len(h)+1+digits] <= '9' {
				digits++
			}
			end := len(h) + 1 + digits
			if digits > 0 && strings.HasPrefix(s[end:], after) {
				matched, rest = append(matched, s[:end+len(after)]), append(rest, s[end+len(after):])
			}
		}
	}
	return matched, rest
}

// orAllowed: s is a registered URI, or one with only a loopback port added.
func orAllowed(s string) bool {
	_, rest := orPrefixes(s)
	return slices.Contains(rest, "") || s == OOBRedirect
}

// orValidPort: orAllowed, and a port a client could listen on (1–65535,
// no leading zero) — such a URI must match (CONFORMANCE A2).
func orValidPort(s string) bool {
	if !orAllowed(s) {
		return false
	}
	for _, h := range orLoopbackHosts {
		if rest, ok := strings.CutPrefix(s, h+":"); ok {
			end := strings.IndexAny(rest, "/?")
			if end < 0 {
				end = len(rest)
			}
			n, err := strconv.Atoi(rest[:end])
			return err == nil && n >= 1 && n <= 65535 && rest[0] != '0'
		}
	}
	return true
}

// orCheckLocation fails unless loc is an allowed URI followed by the
// parameters the server adds, and nothing else.
func orCheckLocation(t *testing.T, loc, input string) {
	t.Helper()
	matched, rest := orPrefixes(loc)
	for i, m := range matched {
		sep := "?"
		if strings.Contains(m, "?") {
			sep = "&"
		}
		if !strings.HasPrefix(rest[i], sep) || strings.ContainsAny(rest[i], "#\\ \t\r\n") {
			continue
		}
		params, err := url.ParseQuery(rest[i][1:])
		if err != nil {
			continue
		}
		only := true
		for k := range params {
			switch k {
			case "code", "state", "iss", "error", "error_description":
			default:
				only = false
			}
		}
		if only {
			return
		}
	}
	t.Fatalf("OPEN REDIRECT: Location %q for redirect_uri %q", loc, input)
}

// orMutations turn a URI into a near miss.
var orMutations = []func(r *rand.Rand, s string) string{
	func(r *rand.Rand, s string) string { // a port, added or replaced
		ports := []string{"", "0", "1", "80", "443", "8080", "8443", "9000", "65535", "65536", "99999", "123456",
			"-1", "08080", " 80", "80 ", "%38%30", "0x50", "+80", "80:81", "٨٠"}
		return orSetPort(s, ports[r.IntN(len(ports))])
	},
	func(r *rand.Rand, s string) string { // userinfo
		ui := []string{"evil@", "user:pass@", "127.0.0.1@", "app.example@", "%40@", "@"}
		i := strings.Index(s, "://")
		if i < 0 {
			return ui[r.IntN(len(ui))] + s
		}
		if r.IntN(2) == 0 {
			return s[:i+3] + ui[r.IntN(len(ui))] + s[i+3:]
		}
		return orHostEdit(s, func(h string) string { return h + "@evil.example" })
	},
	func(r *rand.Rand, s string) string { // dot segments
		segs := []string{"/..", "/../evil", "/./", "/%2e%2e/", "/%2E%2E%2Fevil", "/.%2e/", "/..;/", "/.."}
		return orAt(r, s, segs[r.IntN(len(segs))])
	},
	func(r *rand.Rand, s string) string { // one character percent-encoded
		if s == "" {
			return s
		}
		i := r.IntN(len(s))
		f := "%%%02X"
		if r.IntN(2) == 0 {
			f = "%%%02x"
		}
		return s[:i] + fmt.Sprintf(f, s[i]) + s[i+1:]
	},
	func(r *rand.Rand, s string) string { // fragments
		fr := []string{"#", "#x", "#@evil.example", "%23", "#/../evil"}
		return orAt(r, s, fr[r.IntN(len(fr))])
	},
	func(r *rand.Rand, s string) string { // another scheme
		schemes := []string{"HTTP:", "Https:", "http:", "https:", "javascript:", "data:", "ftp:", "file:", "ws:", "", "http:/", "https:\\\\", "http:\\/", "com.example.app:", "urn:"}
		i := strings.Index(s, ":")
		if i < 0 {
			return schemes[r.IntN(len(schemes))] + s
		}
		return schemes[r.IntN(len(schemes))] + s[i+1:]
	},
	func(r *rand.Rand, s string) string { // case changes
		b := []byte(s)
		for range 1 + r.IntN(3) {
			if len(b) == 0 {
				break
			}
			i := r.IntN(len(b))
			switch c := b[i]; {
			case 'a' <= c && c <= 'z':
				b[i] = c - 32
			case 'A' <= c && c <= 'Z':
				b[i] = c + 32
			}
		}
		return string(b)
	},
	func(r *rand.Rand, s string) string { // trailing dots and host suffixes
		edits := []func(string) string{
			func(h string) string { return h + "." },
			func(h string) string { return h + ".." },
			func(h string) string { return h + ".evil.example" },
			func(h string) string { return "evil." + h },
			func(h string) string { return "evil.example" },
			func(h string) string { return h + "%00.evil.example" },
		}
		return orHostEdit(s, edits[r.IntN(len(edits))])
	},
	func(r *rand.Rand, s string) string { // other spellings of loopback
		forms := []string{"127.0.0.1", "[::1]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "[::1%25eth0]", "[::1%eth0]",
			"127.1", "2130706433", "0x7f.0.0.1", "127.0.0.01", "127.000.000.001", "localhost", "[::]", "0.0.0.0",
			"127.0.0.2", "[::1", "::1", "[[::1]]", "[::1]:", "127.0.0.1.", "localhost."}
		return orHostEdit(s, func(string) string { return forms[r.IntN(len(forms))] })
	},
	func(r *rand.Rand, s string) string { // backslashes
		if r.IntN(2) == 0 {
			return strings.Replace(s, "/", "\\", 1+r.IntN(3))
		}
		bs := []string{"\\@evil.example", "\\\\evil.example", "\\", "%5C", "/\\evil.example"}
		return orAt(r, s, bs[r.IntN(len(bs))])
	},
	func(r *rand.Rand, s string) string { // whitespace and control characters
		ws := []string{" ", "\t", "\n", "\r", "\x00", "%00", "%0d%0a", "%20", "+", "\x7f"}
		return orAt(r, s, ws[r.IntN(len(ws))])
	},
	func(r *rand.Rand, s string) string { // queries
		q := []string{"?", "?x=1", "&x=1", "?redirect=https://evil.example", "?tenant=1", "?tenant=2", "&tenant=1"}
		return s + q[r.IntN(len(q))]
	},
	func(r *rand.Rand, s string) string { // slashes
		switch r.IntN(4) {
		case 0:
			return s + "/"
		case 1:
			return strings.TrimSuffix(s, "/")
		case 2:
			return strings.Replace(s, "://", ":///", 1)
		default:
			return strings.Replace(s, "://", "//", 1)
		}
	},
	func(r *rand.Rand, s string) string { // look-alike characters
		look := []string{"ａ", "\u0430", "。", "\u2215", "\uff0f", "ℯ", "\u200b", "İ"}
		if s == "" {
			return look[r.IntN(len(look))]
		}
		i := r.IntN(len(s))
		return s[:i] + look[r.IntN(len(look))] + s[i+1:]
	},
	func(r *rand.Rand, s string) string { // truncation and repetition
		if r.IntN(2) == 0 && s != "" {
			return s[:r.IntN(len(s))]
		}
		return s + s
	},
	func(r *rand.Rand, s string) string { // any byte
		return orAt(r, s, string([]byte{byte(r.IntN(256))}))
	},
	func(r *rand.Rand, s string) string { // very long
		return s + strings.Repeat("a", r.IntN(3000))
	},
}

// orAt inserts ins at a random position of s.
func orAt(r *rand.Rand, s, ins string) string {
	i := r.IntN(len(s) + 1)
	return s[:i] + ins + s[i:]
}

// orHostEdit applies edit to the authority of s (after "://", before the
// next "/", "?" or "#").
func orHostEdit(s string, edit func(string) string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	start := i + 3
	end := strings.IndexAny(s[start:], "/?#")
	if end < 0 {
		end = len(s) - start
	}
	return s[:start] + edit(s[start:start+end]) + s[start+end:]
}

// orSetPort sets or adds the port of s's authority ("" removes it).
func orSetPort(s, port string) string {
	return orHostEdit(s, func(h string) string {
		if i := strings.LastIndex(h, ":"); i >= 0 && !strings.HasSuffix(h, "]") {
			h = h[:i]
		}
		if port == "" {
			return h
		}
		return h + ":" + port
	})
}

// orCandidate returns a generated redirect URI: a registered or attacker
// URI with one to three mutations, or (one time in eight) a loopback
// registration on a random port, which must match.
func orCandidate(r *rand.Rand) string {
	if r.IntN(8) == 0 {
		host := orLoopbackHosts[r.IntN(2)]
		path := map[string]string{"http://127.0.0.1": "/callback", "http://[::1]": "/cb"}[host]
		return host + ":" + strconv.Itoa(1+r.IntN(65535)) + path
	}
	bases := append([]string{"https://evil.example/cb", "//evil.example/cb", "/cb", "cb", ""}, orRegistered...)
	s := bases[r.IntN(len(bases))]
	for range 1 + r.IntN(3) {
		s = orMutations[r.IntN(len(orMutations))](r, s)
	}
	return s
}

// orFixed are hand-picked candidates, always checked.
var orFixed = []string{
	"https://app.example/cb", "https://app.example/cb/", "https://app.example/cb?", "https://app.example/cb#",
	"https://app.example/cb?tenant=1", "https://app.example/cb?tenant=1&x", "https://app.example/cb?tenant=2",
	"https://app.example:443/cb", "https://APP.example/cb", "HTTPS://app.example/cb", "https://app.example./cb",
	"https://app.example/CB", "https://app.example/%63b", "https://app.example/cb/..", "https://app.example/x/../cb",
	"https://evil.example@app.example/cb", "https://app.example@evil.example/cb", "https://app.example\\@evil.example/cb",
	"https:\\\\app.example\\cb", "//app.example/cb", "https://app.example.evil.example/cb", "http://app.example/cb",
	"https://app.example:8443/other/cb", "https://app.example:8444/other/cb", "https://app.example/other/cb",
	"http://127.0.0.1/callback", "http://127.0.0.1:1/callback", "http://127.0.0.1:65535/callback",
	"http://127.0.0.1:0/callback", "http://127.0.0.1:65536/callback", "http://127.0.0.1:99999/callback",
	"http://127.0.0.1:123456/callback", "http://127.0.0.1:/callback", "http://127.0.0.1:08080/callback",
	"http://127.0.0.1:8080/callback/", "http://127.0.0.1:8080/callback/../evil", "http://127.0.0.1:8080/Callback",
	"http://127.0.0.1:8080/callback?x", "http://127.0.0.1:8080/callback#x", "http://127.0.0.1:80:81/callback",
	"http://127.0.0.1:%38%30/callback", "http://evil@127.0.0.1:8080/callback", "http://127.0.0.1:8080@evil.example/callback",
	"http://127.0.0.1:8080\\@evil.example/callback", "http://127.0.0.1.:8080/callback", "http://127.1:8080/callback",
	"http://2130706433:8080/callback", "http://localhost:8080/callback", "https://127.0.0.1:8080/callback",
	"HTTP://127.0.0.1:8080/callback", "http://127.0.0.1:8080/callback%00", "http://127.0.0.1:8080//callback",
	"http://[::1]/cb", "http://[::1]:8080/cb", "http://[0:0:0:0:0:0:0:1]:8080/cb", "http://[::ffff:127.0.0.1]:8080/cb",
	"http://[::1%25eth0]:8080/cb", "http://[::1]:8080/cb/", "http://::1:8080/cb", "http://[::1]8080/cb",
	"http://127.0.0.1:9000/fixed", "http://127.0.0.1:9001/fixed", "http://127.0.0.1/fixed",
	"http://localhost/cb", "http://localhost:8080/cb", "http://localhost./cb",
	"com.example.app:/oauth2redirect", "com.example.app://oauth2redirect", "COM.example.app:/oauth2redirect",
	"com.example.app:/oauth2redirect/../evil", "com.example.evil:/oauth2redirect",
	OOBRedirect, "urn:ietf:wg:oauth:2.0:oob:auto", "URN:ietf:wg:oauth:2.0:oob",
	"javascript:alert(1)//https://app.example/cb", "data:text/html,https://app.example/cb",
	"https://app.example/cb\r\nLocation: https://evil.example", "https://app.example/cb%0d%0aSet-Cookie:x=y",
	"https://app.example/cb?" + strings.Repeat("a", biLongURI), "http://127.0.0.1:8080/callback" + strings.Repeat("/a", biLongURI/2),
}

// CONFORMANCE A1
// CONFORMANCE A2
// CONFORMANCE A6
func TestOpenRedirectProperty(t *testing.T) {
	const generated = 4000
	budget := 20 * time.Second
	if testing.Short() {
		budget = 5 * time.Second
	}
	for _, u := range orRegistered {
		if err := ValidRedirectURI(u); err != nil {
			t.Fatalf("registration %q is invalid: %v", u, err)
		}
		if !orAllowed(u) || !orValidPort(u) {
			t.Fatalf("the oracle refuses registration %q", u)
		}
	}
	f := newFixture(t)
	app := &Client{ID: "app", Grants: []string{GrantAuthorizationCode}, Scopes: []string{"api_v3"}, RedirectURIs: orRegistered}
	app.SetSecret(HashSecret("app-secret-0123456789"))
	f.clients["app"] = app
	if err := f.store.PutConsent(context.Background(), "alice", "app", []string{"api_v3"}, f.clock.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	formLogin, err := f.srv.AuthorizeHandler(AuthorizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	signedIn, err := f.srv.AuthorizeHandler(AuthorizeOptions{Login: LoginIdentity, Identity: func(*http.Request) string { return "alice" }})
	if err != nil {
		t.Fatal(err)
	}
	// Each candidate goes through: an error redirect (unsupported response
	// type), a login_required redirect, a code redirect, and — unencoded —
	// the raw query and a POST form.
	variants := []struct {
		h    http.Handler
		raw  bool
		post bool
		rest string
	}{
		{formLogin, false, false, "response_type=token&client_id=app&state=s"},
		{formLogin, false, false, "response_type=code&client_id=app&state=s&prompt=none"},
		{signedIn, false, false, "response_type=code&client_id=app&state=s&scope=api_v3"},
		{signedIn, true, false, "response_type=code&client_id=app&scope=api_v3"},
		{signedIn, false, true, "response_type=code&client_id=app&scope=api_v3"},
	}
	rng := rand.New(rand.NewPCG(8252, 9700))
	start := time.Now()
	matched, redirected, n := 0, 0, 0
	check := func(cand string) {
		n++
		got := MatchRedirectURI(orRegistered, cand)
		if got && !orAllowed(cand) {
			t.Fatalf("OPEN REDIRECT: MatchRedirectURI accepts %q", cand)
		}
		if !got && orValidPort(cand) {
			t.Fatalf("MatchRedirectURI refuses the registered %q", cand)
		}
		if got {
			matched++
		}
		for _, v := range variants {
			var req *http.Request
			switch {
			case v.post:
				req = biReq("POST", PathAuthorize, formCT, v.rest+"&redirect_uri="+url.QueryEscape(cand))
			case v.raw:
				req = httptest.NewRequest("GET", PathAuthorize, nil)
				req.URL.RawQuery = v.rest + "&redirect_uri=" + cand
			default:
				req = httptest.NewRequest("GET", PathAuthorize, nil)
				req.URL.RawQuery = v.rest + "&redirect_uri=" + url.QueryEscape(cand)
			}
			rec := httptest.NewRecorder()
			v.h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%d for redirect_uri %q", rec.Code, cand)
			}
			loc := rec.Header().Get("Location")
			if loc == "" {
				continue
			}
			redirected++
			orCheckLocation(t, loc, cand)
			if !v.raw && (!got || rec.Code != http.StatusFound) {
				t.Fatalf("%d redirect to %q for redirect_uri %q, which does not match", rec.Code, loc, cand)
			}
		}
	}
	for _, c := range orFixed {
		check(c)
	}
	for i := 0; i < generated && time.Since(start) < budget; i++ {
		check(orCandidate(rng))
	}
	t.Logf("%d redirect URIs (%d matched), %d redirects checked in %v", n, matched, redirected, time.Since(start).Round(time.Millisecond))
	if matched == 0 || redirected == 0 {
		t.Fatal("no candidate matched: the generator or the oracle is broken")
	}
}

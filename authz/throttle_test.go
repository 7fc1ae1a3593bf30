// Tests of throttling failed logins and client authentication, and that strangers cannot lock others out.

package authz

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// Failed client authentication is throttled per client and per IP with 429
// and Retry-After; the window ends by itself (injected clock).
func TestClientAuthThrottle(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ClientAuthLimit, c.IPAuthLimit, c.AuthWindow = 3, 10, time.Minute })
	cc := url.Values{"grant_type": {"client_credentials"}}
	for i := range 3 {
		wantError(t, f.post(PathToken, "oro", fmt.Sprint("wrong", i), cc), 401, "invalid_client")
	}
	// Blocked now, even with the right secret.
	rec := f.post(PathToken, "oro", "oro-secret-0123456789", cc)
	wantError(t, rec, 429, "invalid_client")
	if s, _ := strconv.Atoi(rec.Header().Get("Retry-After")); s <= 0 || s > 61 {
		t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	// Another client from the same IP is not blocked yet.
	if rec := f.post(PathToken, "reporting", testSecret, cc); rec.Code != 200 {
		t.Fatalf("other client: %d", rec.Code)
	}
	f.clock.Advance(time.Minute + time.Second)
	if rec := f.post(PathToken, "oro", "oro-secret-0123456789", cc); rec.Code != 200 {
		t.Fatalf("after the window: %d %s", rec.Code, rec.Body)
	}
	// Per IP: failures spread over many client ids still add up.
	for i := range 10 {
		f.post(PathToken, fmt.Sprint("ghost-", i), "x", cc)
	}
	wantError(t, f.post(PathToken, "reporting", testSecret, cc), 429, "invalid_client")
	// Revocation and introspection authenticate clients through the same throttle.
	wantError(t, f.post(PathIntrospect, "reporting", testSecret, url.Values{"token": {"x"}}), 429, "invalid_client")
}

// addrTransport sends every request with the test's notion of its source
// address (the fixture's ClientIP reads it), so one process plays many callers.
type addrTransport string

func (a addrTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Test-Addr", string(a))
	return http.DefaultTransport.RoundTrip(r)
}

func fromAddr(c *Config) {
	c.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Test-Addr") }
}

func browserAt(t *testing.T, addr string) *testutil.Browser {
	b := testutil.NewBrowser(t)
	b.C.Transport = addrTransport(addr)
	return b
}

// signIn submits the login form once as user with password from b.
func signIn(t *testing.T, srv *httptest.Server, b *testutil.Browser, user, password string) *testutil.Page {
	t.Helper()
	login := b.Get(srv.URL + PathAuthorize + "?response_type=code&client_id=app&state=s")
	if login.Status != http.StatusOK || !login.Form.Has("oauthgate_csrf") {
		t.Fatalf("login page: %d %s", login.Status, login.Body)
	}
	return b.Submit(login, map[string]string{"oauthgate_username": user, "oauthgate_password": password, "oauthgate_action": "login"})
}

// signedIn: the answer to a sign-in is the consent page, not the login form.
func signedIn(p *testutil.Page) bool {
	return p.Status == http.StatusOK && !p.Form.Has("oauthgate_password") && strings.Contains(p.Body, `value="allow"`)
}

// retryAfter is the page's Retry-After in seconds (0 when absent).
func retryAfter(h http.Header) int {
	s, _ := strconv.Atoi(h.Get("Retry-After"))
	return s
}

// Issue 17 item 1: failures from one address lock that address out of the
// account (and, past its own limit, out of everything), but never the
// account for everyone: the owner signing in from elsewhere gets in at once
// after one stranger's failures, and after a crowd's at most after a short
// delay (30 s at most, injected clock).
func TestStrangersCannotLockOutAUser(t *testing.T) {
	f, srv := flowFixture(t, fromAddr)
	attacker := browserAt(t, "203.0.113.1")
	for i := range 5 {
		if p := signIn(t, srv, attacker, "alice", fmt.Sprint("guess", i)); p.Status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, p.Status)
		}
	}
	if p := signIn(t, srv, attacker, "alice", "pw"); p.Status != http.StatusTooManyRequests || retryAfter(p.Header) <= 0 {
		t.Fatalf("the guessing address, sixth attempt: %d Retry-After %q", p.Status, p.Header.Get("Retry-After"))
	}
	owner := browserAt(t, "198.51.100.7")
	if p := signIn(t, srv, owner, "alice", "pw"); !signedIn(p) {
		t.Fatalf("the owner from another address after a stranger's five failures: %d", p.Status)
	}

	// A crowd: 40 addresses, each up to its own limit.
	for a := range 40 {
		b := browserAt(t, fmt.Sprintf("192.0.2.%d", a+10))
		for i := range 5 {
			signIn(t, srv, b, "alice", fmt.Sprint("crowd", a, i))
		}
	}
	owner = browserAt(t, "198.51.100.8")
	p := signIn(t, srv, owner, "alice", "pw")
	if p.Status == http.StatusTooManyRequests {
		wait := retryAfter(p.Header)
		if wait <= 0 || wait > 31 {
			t.Fatalf("the owner after a crowd's failures: Retry-After %d, want a short delay (≤ 30 s)", wait)
		}
		f.clock.Advance(time.Duration(wait) * time.Second)
		p = signIn(t, srv, owner, "alice", "pw")
	}
	if !signedIn(p) {
		t.Fatalf("the owner after the delay: %d %s", p.Status, p.Body)
	}
}

// Issue 17 item 1: twenty wrong secrets for a (public) client id from one
// address lock that address out of the client, not the client out of the
// world; a crowd costs the client at most a short delay; a disabled client
// presenting its right secret does not count against its address.
func TestStrangersCannotLockOutAClient(t *testing.T) {
	f := newFixture(t, fromAddr)
	cc := url.Values{"grant_type": {"client_credentials"}}
	post := func(addr, id, secret string) *httptest.ResponseRecorder {
		req := formReq(PathToken, cc)
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		req.Header.Set("X-Test-Addr", addr)
		return f.do(req)
	}
	for i := range 20 {
		wantError(t, post("203.0.113.1", "oro", fmt.Sprint("wrong", i)), 401, "invalid_client")
	}
	wantError(t, post("203.0.113.1", "oro", "oro-secret-0123456789"), 429, "invalid_client")
	if rec := post("198.51.100.7", "oro", "oro-secret-0123456789"); rec.Code != 200 {
		t.Fatalf("the client from its own address after a stranger's failures: %d %s", rec.Code, rec.Body)
	}
	for a := range 30 {
		for i := range 20 {
			post(fmt.Sprintf("192.0.2.%d", a+10), "oro", fmt.Sprint("crowd", i))
		}
	}
	rec := post("198.51.100.7", "oro", "oro-secret-0123456789")
	if rec.Code == http.StatusTooManyRequests {
		wait := retryAfter(rec.Header())
		if wait <= 0 || wait > 31 {
			t.Fatalf("the client after a crowd's failures: Retry-After %d, want a short delay (≤ 30 s)", wait)
		}
		f.clock.Advance(time.Duration(wait) * time.Second)
		rec = post("198.51.100.7", "oro", "oro-secret-0123456789")
	}
	if rec.Code != 200 {
		t.Fatalf("the client after the delay: %d %s", rec.Code, rec.Body)
	}

	// A disabled client retrying with its right secret is refused each
	// time, but its address is not throttled for it.
	for range 150 {
		wantError(t, post("198.51.100.9", "off", "off-secret-0123456789"), 401, "invalid_client")
	}
	if rec := post("198.51.100.9", "reporting", testSecret); rec.Code != 200 {
		t.Fatalf("another client from the disabled client's address: %d %s", rec.Code, rec.Body)
	}
}

// countingUsers counts the comparisons made, to show which attempts pay one.
type countingUsers struct {
	Users
	n atomic.Int64
}

func (c *countingUsers) Authenticate(u, p string) bool {
	c.n.Add(1)
	return c.Users.Authenticate(u, p)
}

// Issue 17 item 2: a user name over 256 bytes (or a password over 1024)
// pays the same bcrypt comparison as any other attempt, so it is no
// cheaper way to fill the throttle table.
func TestLongUserNamesCostABcrypt(t *testing.T) {
	var counter *countingUsers
	_, srv := flowFixture(t, fromAddr, func(c *Config) {
		counter = &countingUsers{Users: c.Users}
		c.Users = counter
	})
	b := browserAt(t, "203.0.113.1")
	for i, up := range [][2]string{{strings.Repeat("u", 300), "pw"}, {"alice", strings.Repeat("p", 2000)}, {"alice", "nope"}} {
		if p := signIn(t, srv, b, up[0], up[1]); p.Status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, p.Status)
		}
		if got := counter.n.Load(); got != int64(i+1) {
			t.Fatalf("attempt %d (user %d bytes, password %d bytes): %d comparisons so far, want %d", i, len(up[0]), len(up[1]), got, i+1)
		}
	}
}

// Issue 17 item 2: a full table drops the keys whose last failure is
// oldest and never a key that is locked (or delayed) now — 100,000 cheap
// failures of fresh keys leave every lock in place. When the table holds
// nothing but locks, a new key is not refused (whoever filled the table
// would shut everyone else out): its failures count once the first lock
// has ended.
func TestFullThrottleKeepsItsLocks(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	for _, th := range []*Throttle{NewThrottle(3, time.Minute, clk.Now), NewDelayThrottle(3, time.Minute, 30*time.Second, clk.Now)} {
		th.MaxKeys = 1000
		for range 3 {
			th.Fail("attacker")
			th.Fail("victim-lock")
		}
		th.Fail("old") // two failures, the oldest idle key
		th.Fail("old")
		for i := range 100_000 {
			th.Fail(fmt.Sprint("filler-", i))
			if i == 99_500 {
				th.Fail("recent") // two failures, among the newest
				th.Fail("recent")
			}
		}
		if n := th.Len(); n > th.MaxKeys {
			t.Fatalf("%d keys held, MaxKeys %d", n, th.MaxKeys)
		}
		for _, k := range []string{"attacker", "victim-lock"} {
			if _, blocked := th.Blocked(k); !blocked {
				t.Fatalf("delay %v: the lock on %q was forgotten when the table filled", th.MaxDelay, k)
			}
		}
		th.Fail("recent")
		if _, blocked := th.Blocked("recent"); !blocked {
			t.Fatalf("delay %v: a recently active key was evicted (its third failure does not block)", th.MaxDelay)
		}
		th.Fail("old")
		if _, blocked := th.Blocked("old"); blocked {
			t.Fatalf("delay %v: the oldest idle key was kept over newer ones", th.MaxDelay)
		}
		if _, blocked := th.Blocked("filler-0"); blocked {
			t.Fatal("an evicted key is blocked")
		}
	}

	// All locks: a new key is let through, its failure not recorded, until
	// the first lock ends.
	th := NewThrottle(1, time.Minute, clk.Now)
	th.MaxKeys = 10
	for i := range 10 {
		th.Fail(fmt.Sprint("lock-", i))
		clk.Advance(time.Second)
	}
	if wait, blocked := th.Attempt("newcomer"); blocked {
		t.Fatalf("newcomer with the table all locks: refused for %v", wait)
	}
	th.Done("newcomer", true)
	if _, blocked := th.Blocked("newcomer"); blocked || th.Len() != 10 {
		t.Fatalf("newcomer's failure with the table all locks: blocked %v, %d keys", blocked, th.Len())
	}
	for i := range 10 {
		if _, blocked := th.Blocked(fmt.Sprint("lock-", i)); !blocked {
			t.Fatalf("lock-%d forgotten", i)
		}
	}
	clk.Advance(51 * time.Second) // the first lock has ended
	th.Fail("newcomer")
	if _, blocked := th.Blocked("newcomer"); !blocked {
		t.Fatal("newcomer's failure not counted once there was room")
	}
}

// Attempts under way count before they end: with a limit of 3, three
// concurrent attempts start and a fourth waits; once they have failed the
// key is locked; a delay past its limit lets one attempt run at a time; an
// attempt that succeeds frees its place without counting.
func TestThrottleCountsAttemptsUnderWay(t *testing.T) {
	clock := &clock{t: time.Now()}
	lock := NewThrottle(3, time.Minute, clock.Now)
	for i := range 3 {
		if _, blocked := lock.Attempt("k"); blocked {
			t.Fatalf("attempt %d under the limit refused", i+1)
		}
	}
	if wait, blocked := lock.Attempt("k"); !blocked || wait <= 0 {
		t.Fatalf("a fourth attempt while three that could reach the limit run: blocked %v, wait %s", blocked, wait)
	}
	if _, blocked := lock.Attempt("other"); blocked {
		t.Fatal("another key refused")
	}
	lock.Done("other", false)
	lock.Done("k", false) // one succeeded: its place is free, nothing counted
	if _, blocked := lock.Attempt("k"); blocked {
		t.Fatal("refused after an attempt ended without failing")
	}
	for range 3 {
		lock.Done("k", true)
	}
	if wait, blocked := lock.Attempt("k"); !blocked || wait < 50*time.Second {
		t.Fatalf("after three failures: blocked %v, wait %s, want the rest of the window", blocked, wait)
	}

	delay := NewDelayThrottle(2, time.Minute, 30*time.Second, clock.Now)
	for range 2 {
		delay.Fail("u")
	}
	clock.Advance(time.Minute / 2) // past the delay of the second failure
	if _, blocked := delay.Attempt("u"); blocked {
		t.Fatal("delay: the attempt after the delay refused")
	}
	if _, blocked := delay.Attempt("u"); !blocked {
		t.Fatal("delay: a second attempt past the limit while one runs, accepted")
	}
	delay.Done("u", true)
	if wait, blocked := delay.Attempt("u"); !blocked || wait <= 0 {
		t.Fatalf("delay: after that failure: blocked %v, wait %s", blocked, wait)
	}

	// After a failure only: without one, up to 4 × the limit run at once;
	// with one, what runs counts as if it will fail.
	parallel := NewThrottle(3, time.Minute, clock.Now)
	parallel.Running = RunningAfterFailure
	for i := range burstFactor * 3 {
		if _, blocked := parallel.Attempt("c"); blocked {
			t.Fatalf("after-failure: attempt %d without a failure refused", i+1)
		}
	}
	if _, blocked := parallel.Attempt("c"); !blocked {
		t.Fatalf("after-failure: attempt %d at once accepted, want at most %d", burstFactor*3+1, burstFactor*3)
	}
	for range burstFactor * 3 {
		parallel.Done("c", false)
	}
	parallel.Fail("c")
	for range 2 {
		if _, blocked := parallel.Attempt("c"); blocked {
			t.Fatal("after-failure: one failure, two attempts refused")
		}
	}
	if _, blocked := parallel.Attempt("c"); !blocked {
		t.Fatal("after-failure: one failure and two running, a third accepted (limit 3)")
	}
	ignored := NewDelayThrottle(2, time.Minute, 30*time.Second, clock.Now)
	ignored.Running = RunningIgnored
	for range 50 {
		if _, blocked := ignored.Attempt("id"); blocked {
			t.Fatal("ignored: an attempt refused for others under way")
		}
	}
	for range 50 {
		ignored.Done("id", false)
	}

	// Take checks and counts in one step: of 100 concurrent attempts on a
	// limit of 10, exactly 10 pass.
	rate := NewThrottle(10, time.Minute, clock.Now)
	var passed atomic.Int64
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, blocked := rate.Take("addr"); !blocked {
				passed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := passed.Load(); n != 10 {
		t.Fatalf("Take: %d of 100 concurrent attempts passed a limit of 10", n)
	}
}

// gatedUsers holds every password check until want checks have arrived
// (or a short while has passed), so a test's concurrent sign-ins are all
// under way at once whatever the machine's speed.
type gatedUsers struct {
	Users
	want    int64
	arrived atomic.Int64
	all     chan struct{}
}

func (g *gatedUsers) Authenticate(user, password string) bool {
	if g.arrived.Add(1) == g.want {
		close(g.all)
	}
	select {
	case <-g.all:
	case <-time.After(300 * time.Millisecond):
	}
	return g.Users.Authenticate(user, password)
}

// Concurrent wrong passwords from one address are checked no more often
// than the address's limit allows (5 for one account): the others get 429
// at once instead of a password check each, and the owner signing in
// from elsewhere is not held up. The checks are held until all guesses
// could be under way, so without the count all 30 would be checked.
func TestConcurrentGuessesAreCounted(t *testing.T) {
	const guesses = 30
	gate := &gatedUsers{want: guesses, all: make(chan struct{})}
	_, srv := flowFixture(t, fromAddr, func(c *Config) { gate.Users = c.Users; c.Users = gate })
	type attempt struct {
		b     *testutil.Browser
		login *testutil.Page
	}
	var as []attempt
	for range guesses {
		b := browserAt(t, "203.0.113.9")
		login := b.Get(srv.URL + PathAuthorize + "?response_type=code&client_id=app&state=s")
		if login.Status != http.StatusOK {
			t.Fatalf("login page: %d", login.Status)
		}
		as = append(as, attempt{b, login})
	}
	var checked, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, a := range as {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			p := a.b.Submit(a.login, map[string]string{"oauthgate_username": "alice", "oauthgate_password": fmt.Sprint("guess", i), "oauthgate_action": "login"})
			switch p.Status {
			case http.StatusUnauthorized:
				checked.Add(1)
			case http.StatusTooManyRequests:
				if retryAfter(p.Header) <= 0 {
					t.Errorf("429 without Retry-After")
				}
				refused.Add(1)
			default:
				t.Errorf("guess %d: %d", i, p.Status)
			}
		}()
	}
	close(start)
	wg.Wait()
	if c := checked.Load(); c > 5 || c+refused.Load() != guesses {
		t.Fatalf("%d concurrent guesses: %d checked, %d refused; want at most 5 checked", guesses, c, refused.Load())
	}
	if n := gate.arrived.Load(); n > 5 {
		t.Fatalf("%d password checks for %d concurrent guesses, want at most 5", n, guesses)
	}
	if p := signIn(t, srv, browserAt(t, "198.51.100.7"), "alice", "pw"); !signedIn(p) {
		t.Fatalf("the owner from another address: %d", p.Status)
	}
}

// A machine client asking for tokens in parallel with its right secret is
// never held up by the count of attempts under way (its limit here is 3);
// once its address has a failure, parallel wrong secrets are counted
// before they end, and no more than the limit are checked.
func TestParallelClientsAreNotThrottled(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ClientAuthLimit, c.IPAuthLimit, c.AuthWindow = 3, 10, time.Minute })
	cc := url.Values{"grant_type": {"client_credentials"}}
	parallel := func(secret string) (codes map[int]int) {
		var mu sync.Mutex
		codes = map[int]int{}
		var wg sync.WaitGroup
		for range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rec := f.post(PathToken, "oro", secret, cc)
				mu.Lock()
				codes[rec.Code]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return codes
	}
	if codes := parallel("oro-secret-0123456789"); codes[200] != 30 {
		t.Fatalf("30 parallel token requests with the right secret: %v, want 30 × 200", codes)
	}
	wantError(t, f.post(PathToken, "oro", "wrong", cc), 401, "invalid_client")
	if codes := parallel("wrong-again"); codes[401] > 2 || codes[401]+codes[429] != 30 {
		t.Fatalf("30 parallel wrong secrets after one failure (limit 3): %v, want at most 2 checked", codes)
	}
}

// ownerSignsIn signs alice in from 198.51.100.7 and returns the
// authorization endpoint's URL and the device cookie that sign-in set.
func ownerSignsIn(t *testing.T, srv *httptest.Server) (*url.URL, []*http.Cookie) {
	t.Helper()
	home := browserAt(t, "198.51.100.7")
	if p := signIn(t, srv, home, "alice", "pw"); !signedIn(p) {
		t.Fatalf("the owner's first sign-in: %d", p.Status)
	}
	u, _ := url.Parse(srv.URL + PathAuthorize)
	var device []*http.Cookie
	for _, c := range home.C.Jar.Cookies(u) {
		if c.Name == deviceCookie {
			device = append(device, c)
		}
	}
	if len(device) != 1 {
		t.Fatal("no device cookie after a sign-in")
	}
	return u, device
}

// A stranger who knows the user's name and fails once each time the
// user's delay ends keeps that delay running for every unknown source —
// but not for the owner: a browser the owner signed in with (its device
// cookie, from any address) and an address the owner signed in from
// lately sign in at once, every time.
func TestStrangerCannotKeepTheOwnerWaiting(t *testing.T) {
	f, srv := flowFixture(t, fromAddr)
	u, device := ownerSignsIn(t, srv)
	for a := range 40 { // a crowd past the user's limit
		b := browserAt(t, fmt.Sprintf("192.0.2.%d", a+10))
		for i := range 5 {
			signIn(t, srv, b, "alice", fmt.Sprint("crowd", a, i))
		}
	}
	for round := range 8 {
		// The stranger's one failure as the delay ends, from a new address.
		stranger := browserAt(t, fmt.Sprintf("203.0.113.%d", round+20))
		p := signIn(t, srv, stranger, "alice", fmt.Sprint("again", round))
		if p.Status == http.StatusTooManyRequests {
			f.clock.Advance(time.Duration(retryAfter(p.Header)) * time.Second)
			p = signIn(t, srv, stranger, "alice", fmt.Sprint("again", round))
		}
		if p.Status != http.StatusUnauthorized {
			t.Fatalf("round %d: the stranger's failure: %d", round, p.Status)
		}
		// The owner's browser on another network (a phone off the wifi).
		away := browserAt(t, fmt.Sprintf("198.51.100.%d", 100+round))
		away.C.Jar.SetCookies(u, device)
		if p := signIn(t, srv, away, "alice", "pw"); !signedIn(p) {
			t.Fatalf("round %d: the owner's browser from a new address: %d (Retry-After %s)", round, p.Status, p.Header.Get("Retry-After"))
		}
		// Another browser at the owner's address.
		if p := signIn(t, srv, browserAt(t, "198.51.100.7"), "alice", "pw"); !signedIn(p) {
			t.Fatalf("round %d: the owner's address: %d", round, p.Status)
		}
		// An unknown source still waits on the delay.
		if p := signIn(t, srv, browserAt(t, fmt.Sprintf("198.51.100.%d", 200+round)), "alice", "pw"); p.Status != http.StatusTooManyRequests {
			t.Fatalf("round %d: an unknown source during the delay: %d, want 429", round, p.Status)
		}
	}
	// A device cookie names its user: it does not help another account.
	bob := browserAt(t, "198.51.100.250")
	bob.C.Jar.SetCookies(u, device)
	if p := signIn(t, srv, bob, "alice-not", "x"); p.Status != http.StatusUnauthorized {
		t.Fatalf("another user's name with alice's device cookie: %d", p.Status)
	}
}

// Past the user's limit, sign-ins of that user from many addresses at
// once run one at a time: a crowd gets one guess per delay, not one each.
// The checks are held until all could be under way.
func TestConcurrentGuessesFromManyAddresses(t *testing.T) {
	gate := &gatedUsers{want: 1 << 30, all: make(chan struct{})}
	close(gate.all)
	f, srv := flowFixture(t, fromAddr, func(c *Config) { gate.Users = c.Users; c.Users = gate })
	for a := range 3 { // 15 failures: past the user's limit (10)
		b := browserAt(t, fmt.Sprintf("192.0.2.%d", a+10))
		for i := range 5 {
			signIn(t, srv, b, "alice", fmt.Sprint("crowd", a, i))
		}
	}
	f.clock.Advance(time.Minute) // the delay has ended
	const guesses = 30
	gate.arrived.Store(0)
	gate.want, gate.all = guesses, make(chan struct{})
	logins := make([]*testutil.Page, guesses)
	browsers := make([]*testutil.Browser, guesses)
	for i := range guesses {
		browsers[i] = browserAt(t, fmt.Sprintf("203.0.113.%d", i+50))
		logins[i] = browsers[i].Get(srv.URL + PathAuthorize + "?response_type=code&client_id=app&state=s")
	}
	var wg sync.WaitGroup
	var checked atomic.Int64
	for i := range guesses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := browsers[i].Submit(logins[i], map[string]string{"oauthgate_username": "alice", "oauthgate_password": fmt.Sprint("wave", i), "oauthgate_action": "login"})
			if p.Status == http.StatusUnauthorized {
				checked.Add(1)
			} else if p.Status != http.StatusTooManyRequests {
				t.Errorf("guess %d: %d", i, p.Status)
			}
		}()
	}
	wg.Wait()
	if n := gate.arrived.Load(); n != 1 || checked.Load() != 1 {
		t.Fatalf("%d concurrent guesses from %d addresses past the user's limit: %d password checks, want 1", guesses, guesses, n)
	}
}

// clientCredentialsFrom asks for a client_credentials token as client id
// with secret, from addr.
func (f *fixture) clientCredentialsFrom(addr, id, secret string) *httptest.ResponseRecorder {
	req := formReq(PathToken, url.Values{"grant_type": {"client_credentials"}})
	req.SetBasicAuth(id, url.QueryEscape(secret))
	req.Header.Set("X-Test-Addr", addr)
	return f.do(req)
}

// A stranger who fails once for a (public) client id each time its delay
// ends keeps that delay running for unknown addresses, but the client's
// own address — where it authenticated lately — gets its tokens at once,
// every time.
func TestStrangerCannotKeepAClientWaiting(t *testing.T) {
	f := newFixture(t, fromAddr)
	post := func(addr, secret string) *httptest.ResponseRecorder {
		return f.clientCredentialsFrom(addr, "oro", secret)
	}
	if rec := post("198.51.100.7", "oro-secret-0123456789"); rec.Code != 200 {
		t.Fatalf("the client's first token: %d", rec.Code)
	}
	for a := range 5 { // 100 failures: past the client id's limit (40)
		for i := range 20 {
			post(fmt.Sprintf("192.0.2.%d", a+10), fmt.Sprint("crowd", i))
		}
	}
	for round := range 8 {
		stranger := fmt.Sprintf("203.0.113.%d", round+20)
		rec := post(stranger, "wrong")
		if rec.Code == http.StatusTooManyRequests {
			f.clock.Advance(time.Duration(retryAfter(rec.Header())) * time.Second)
			rec = post(stranger, "wrong")
		}
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("round %d: the stranger's failure: %d", round, rec.Code)
		}
		if rec := post("198.51.100.7", "oro-secret-0123456789"); rec.Code != 200 {
			t.Fatalf("round %d: the client from its own address: %d %s", round, rec.Code, rec.Body)
		}
		if rec := post(fmt.Sprintf("198.51.100.%d", 100+round), "oro-secret-0123456789"); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("round %d: the client from an unknown address during the delay: %d, want 429", round, rec.Code)
		}
	}
}

// A client's known address is held up only by its own lock, but its
// failures count toward the client id's delay for everyone else, like a
// user's known addresses: 20 from the known address (its pair's limit) and
// 20 from a crowd reach the client id's limit of 40.
func TestKnownClientAddressFailuresCount(t *testing.T) {
	f := newFixture(t, fromAddr)
	post := func(addr, secret string) *httptest.ResponseRecorder {
		return f.clientCredentialsFrom(addr, "oro", secret)
	}
	const own = "198.51.100.7"
	if rec := post(own, "oro-secret-0123456789"); rec.Code != 200 {
		t.Fatalf("the client's first token: %d", rec.Code)
	}
	for i := range 20 {
		if rec := post(own, fmt.Sprint("wrong", i)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d from the known address: %d", i, rec.Code)
		}
	}
	if rec := post(own, "wrong"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("past its pair's limit, the known address: %d, want 429", rec.Code)
	}
	for i := range 19 {
		if rec := post(fmt.Sprintf("192.0.2.%d", i+1), "crowd"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("crowd failure %d: %d", i, rec.Code)
		}
	}
	if rec := post("203.0.113.9", "oro-secret-0123456789"); rec.Code != 200 {
		t.Fatalf("39 failures: an unknown address with the right secret: %d, want 200", rec.Code)
	}
	post("192.0.2.99", "crowd") // the 40th
	if rec := post("203.0.113.10", "oro-secret-0123456789"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("40 failures, 20 of them from the known address: an unknown address: %d, want 429", rec.Code)
	}
}

// A device cookie is no master key: a copy of it used with wrong
// passwords from any number of addresses is locked after the per-user
// limit (5), and then counts as an unknown source (it waits on the user's
// delay); the failures of known sources count toward that delay for
// everyone else.
func TestDeviceCookieIsLockedOnFailures(t *testing.T) {
	_, srv := flowFixture(t, fromAddr)
	u, device := ownerSignsIn(t, srv)
	thief := func(i int) *testutil.Browser {
		b := browserAt(t, fmt.Sprintf("203.0.113.%d", i+1))
		b.C.Jar.SetCookies(u, device)
		return b
	}
	for i := range 5 { // five addresses, one guess each, with the cookie
		if p := signIn(t, srv, thief(i), "alice", fmt.Sprint("guess", i)); p.Status != http.StatusUnauthorized {
			t.Fatalf("guess %d with the device cookie: %d", i, p.Status)
		}
	}
	// Locked, the cookie is an unknown source's: its guess is checked
	// against the user's delay (6 failures: under its limit of 10).
	if p := signIn(t, srv, thief(5), "alice", "guess5"); p.Status != http.StatusUnauthorized {
		t.Fatalf("a sixth guess with the locked cookie: %d", p.Status)
	}
	// The cookie's failures counted toward the user's delay: four more
	// from unknown sources reach its limit of 10, and the next one waits.
	for i := range 4 {
		signIn(t, srv, browserAt(t, fmt.Sprintf("192.0.2.%d", i+1)), "alice", fmt.Sprint("crowd", i))
	}
	if p := signIn(t, srv, browserAt(t, "192.0.2.99"), "alice", "pw"); p.Status != http.StatusTooManyRequests {
		t.Fatalf("an unknown source after 10 failures (5 with the cookie): %d, want 429", p.Status)
	}
	// The owner's own address is still known.
	if p := signIn(t, srv, browserAt(t, "198.51.100.7"), "alice", "pw"); !signedIn(p) {
		t.Fatalf("the owner's address: %d", p.Status)
	}
}

// Only a right secret makes a client's address known: a public client
// (no secret; anyone can send its id) never does, so strangers cannot
// churn the table of known addresses with it.
func TestPublicClientsMakeNoAddressKnown(t *testing.T) {
	f := newFixture(t, fromAddr)
	f.clients["pub"] = &Client{ID: "pub", Public: true, Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{"https://pub.example/cb"}}
	key := func(id, addr string) string { return "client\x00" + throttleName(id) + "\x00" + addressBlock(addr) }
	req := formReq(PathToken, url.Values{"grant_type": {"authorization_code"}, "client_id": {"pub"}, "code": {"nope"},
		"redirect_uri": {"https://pub.example/cb"}, "code_verifier": {testVerifier}})
	req.Header.Set("X-Test-Addr", "203.0.113.77")
	if rec := f.do(req); rec.Code != http.StatusBadRequest {
		t.Fatalf("a public client's exchange of a bad code: %d %s", rec.Code, rec.Body)
	}
	if f.srv.knownClients.has(key("pub", "203.0.113.77")) {
		t.Fatal("a public client's id made its address known")
	}
	req = formReq(PathToken, url.Values{"grant_type": {"client_credentials"}})
	req.SetBasicAuth("oro", "oro-secret-0123456789")
	req.Header.Set("X-Test-Addr", "203.0.113.78")
	if rec := f.do(req); rec.Code != 200 || !f.srv.knownClients.has(key("oro", "203.0.113.78")) {
		t.Fatalf("a confidential client's right secret: %d, known %v", rec.Code, f.srv.knownClients.has(key("oro", "203.0.113.78")))
	}
}

// Take (registrations: no other counter) still refuses a new key while
// its table is all locks, until the first lock ends.
func TestFullThrottleTakeRefusesNewKeys(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	th := NewThrottle(1, time.Minute, clk.Now)
	th.MaxKeys = 10
	for i := range 10 {
		if _, blocked := th.Take(fmt.Sprint("lock-", i)); blocked {
			t.Fatalf("key %d refused", i)
		}
		clk.Advance(time.Second)
	}
	wait, blocked := th.Take("newcomer")
	if !blocked || wait <= 0 || wait > 51*time.Second {
		t.Fatalf("a new key with the table all locks: blocked %v for %v", blocked, wait)
	}
	clk.Advance(wait)
	if _, blocked := th.Take("newcomer"); blocked {
		t.Fatal("a new key still refused after the first lock ended")
	}
}

package authz

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// heldIntrospection is an introspection endpoint that counts the calls
// under way and answers each once hold is closed (or after delay).
type heldIntrospection struct {
	now, most atomic.Int64
	hold      chan struct{}
	delay     time.Duration
}

func (h *heldIntrospection) handler(t *testing.T) func(http.ResponseWriter, *http.Request) {
	answer := introspectWith(t, func(string) (int, string, string) {
		return 200, "application/json", `{"active":true,"sub":"u","aud":"api://orders"}`
	})
	return func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm() // a read body lets net/http see the gateway hang up (r.Context)
		n := h.now.Add(1)
		defer h.now.Add(-1)
		for m := h.most.Load(); n > m && !h.most.CompareAndSwap(m, n); m = h.most.Load() {
		}
		select {
		case <-h.hold:
		case <-time.After(h.delay):
		case <-r.Context().Done():
			return
		}
		answer(w, r)
	}
}

// CONFORMANCE X3: at most max_in_flight introspection calls run at once
// per issuer; a burst of first checks waits its turn and is answered.
func TestTrustIntrospectionInFlightBound(t *testing.T) {
	idp := newTestIdP(t)
	h := &heldIntrospection{hold: make(chan struct{}), delay: 30 * time.Millisecond}
	idp.setIntrospect(h.handler(t))
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"},
		Introspection: &IntrospectionConfig{ClientID: "gateway", ClientSecret: "gw/secret", MaxInFlight: 3, Timeout: 5 * time.Second}})
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, e := f.check(fmt.Sprintf("burst-%02d-0123456789", i), nil); e != nil {
				t.Error(e)
			}
		}()
	}
	wg.Wait()
	if most := h.most.Load(); most != 3 {
		t.Fatalf("%d introspection calls ran at once with max_in_flight 3", most)
	}
	if n := idp.introHits.Load(); n != 24 {
		t.Fatalf("%d introspections for 24 tokens", n)
	}
}

// CONFORMANCE X3: a check that finds no free call within the timeout is a
// 503 with Retry-After — the issuer is not asked, nothing is cached — and
// the same token is checked normally once calls are free.
func TestTrustIntrospectionBusy(t *testing.T) {
	idp := newTestIdP(t)
	h := &heldIntrospection{hold: make(chan struct{}), delay: time.Minute}
	idp.setIntrospect(h.handler(t))
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"},
		Introspection: &IntrospectionConfig{ClientID: "gateway", ClientSecret: "gw/secret", MaxInFlight: 2, Timeout: 10 * time.Second}})
	f.v.Trust.list[0].intro.wait = 300 * time.Millisecond // held calls outlast the wait
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = f.check(fmt.Sprintf("held-%d-0123456789", i), nil) }()
	}
	for deadline := time.Now().Add(5 * time.Second); h.now.Load() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the two held calls never reached the issuer")
		}
	}
	p, e := f.check("third-token-0123456789", nil)
	wantRefused(t, "a third call while two are held", p, e, "temporarily_unavailable", "issuer_busy")
	if e.Status != http.StatusServiceUnavailable || e.RetryAfter() <= 0 {
		t.Fatalf("busy: status %d, Retry-After %v; want 503 with a Retry-After", e.Status, e.RetryAfter())
	}
	if n := idp.introHits.Load(); n != 2 {
		t.Fatalf("the issuer was asked %d times, want only the 2 held calls", n)
	}
	close(h.hold)
	wg.Wait()
	if _, e := f.check("third-token-0123456789", nil); e != nil {
		t.Fatalf("once calls are free: %v", e)
	}
}

// CONFORMANCE X3: an address that caused max_inactive inactive answers in
// a minute cannot make the gateway ask the issuer about more tokens until
// the minute ends (429, Retry-After); other addresses, a whole IPv6 /64
// counted as one, and tokens already cached are unaffected; an inactive
// answer remembered by the gateway is not counted again.
func TestTrustIntrospectionInactivePerAddress(t *testing.T) {
	idp := newTestIdP(t)
	idp.setIntrospect(introspectWith(t, func(tok string) (int, string, string) {
		if strings.HasPrefix(tok, "good-") {
			return 200, "application/json", `{"active":true,"sub":"u","aud":"api://orders"}`
		}
		return 200, "application/json", `{"active":false}`
	}))
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"},
		Introspection: &IntrospectionConfig{ClientID: "gateway", ClientSecret: "gw/secret", MaxInactive: 3}})
	n := 0
	check := func(from, prefix string) (*Principal, *Error) {
		n++
		return f.v.AuthenticateRoute(context.Background(), fmt.Sprintf("%s-%03d-0123456789", prefix, n), from, &Policy{})
	}
	wantThrottled := func(what string, p *Principal, e *Error) {
		t.Helper()
		wantRefused(t, what, p, e, "temporarily_unavailable", "too_many_inactive")
		if e.Status != http.StatusTooManyRequests || e.RetryAfter() <= 0 || e.RetryAfter() > time.Minute {
			t.Fatalf("%s: status %d, Retry-After %v; want 429 within a minute", what, e.Status, e.RetryAfter())
		}
	}

	const a = "198.51.100.7"
	if p, e := f.v.AuthenticateRoute(context.Background(), "good-cached-0123456789", a, &Policy{}); e != nil {
		t.Fatalf("a good token: %v %+v", e, p)
	}
	for range 3 {
		p, e := check(a, "random")
		wantRefused(t, "a random token", p, e, "invalid_token", "inactive")
	}
	hits := idp.introHits.Load()
	p, e := check(a, "random")
	wantThrottled("a fourth random token from the address", p, e)
	p, e = check(a, "good")
	wantThrottled("a new good token from the address", p, e)
	if idp.introHits.Load() != hits {
		t.Fatalf("the issuer was asked %d more times for a throttled address", idp.introHits.Load()-hits)
	}
	if _, e := f.v.AuthenticateRoute(context.Background(), "good-cached-0123456789", a, &Policy{}); e != nil {
		t.Fatalf("a cached token from the throttled address: %v", e)
	}
	if _, e := check("198.51.100.8", "good"); e != nil {
		t.Fatalf("another address: %v", e)
	}

	// An IPv6 /64 is one address; the next /64 is another.
	for i := range 3 {
		p, e := check(fmt.Sprintf("2001:db8:1:2::%d", i+1), "random")
		wantRefused(t, "a random token over IPv6", p, e, "invalid_token", "inactive")
	}
	p, e = check("2001:db8:1:2:ffff::9", "good")
	wantThrottled("the same /64", p, e)
	if _, e := check("2001:db8:1:3::1", "good"); e != nil {
		t.Fatalf("the next /64: %v", e)
	}

	// One inactive token sent again and again costs the issuer one answer,
	// and counts once.
	const c = "203.0.113.5"
	for range 10 {
		p, e := f.v.AuthenticateRoute(context.Background(), "expired-one-0123456789", c, &Policy{})
		wantRefused(t, "a repeated inactive token", p, e, "invalid_token", "inactive")
	}
	for range 2 {
		p, e := check(c, "random")
		wantRefused(t, "random after a repeated one", p, e, "invalid_token", "inactive")
	}
	p, e = check(c, "random")
	wantThrottled("a fourth distinct inactive token", p, e)

	// The minute ends: the address is asked for again.
	f.clock.Advance(61 * time.Second)
	if _, e := check(a, "good"); e != nil {
		t.Fatalf("a minute later: %v", e)
	}

	// max_inactive off (< 0): no limit.
	off := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"},
		Introspection: &IntrospectionConfig{ClientID: "gateway", ClientSecret: "gw/secret", MaxInactive: -1}})
	for i := range DefaultIntrospectInactive + 5 {
		p, e := off.v.AuthenticateRoute(context.Background(), fmt.Sprintf("random-off-%03d-0123456789", i), a, &Policy{})
		wantRefused(t, "max_inactive off", p, e, "invalid_token", "inactive")
	}
}

// CONFORMANCE X3: concurrent checks of one inactive token share one call,
// and count once toward max_inactive; a token that a later issuer finds
// active is not counted at the earlier issuers that answered inactive.
func TestTrustIntrospectionInactiveCountedOnce(t *testing.T) {
	idp := newTestIdP(t)
	idp.setIntrospect(introspectWith(t, func(string) (int, string, string) {
		time.Sleep(50 * time.Millisecond) // the concurrent checks overlap
		return 200, "application/json", `{"active":false}`
	}))
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"},
		Introspection: &IntrospectionConfig{ClientID: "gateway", ClientSecret: "gw/secret", MaxInactive: 3}})
	const a = "198.51.100.20"
	check := func(tok string) (*Principal, *Error) {
		return f.v.AuthenticateRoute(context.Background(), tok, a, &Policy{})
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, e := check("expired-shared-0123456789")
			if e == nil || e.Reason != reasonInactive {
				t.Errorf("a concurrent check of an inactive token: %+v %v", p, e)
			}
		}()
	}
	wg.Wait()
	if n := idp.introHits.Load(); n != 1 {
		t.Fatalf("8 concurrent checks of one token made %d calls", n)
	}
	for i := range 2 { // 2 and 3 of max_inactive 3
		p, e := check(fmt.Sprintf("other-inactive-%d-0123456789", i))
		wantRefused(t, "an inactive token after the shared one", p, e, "invalid_token", "inactive")
	}
	p, e := check("one-too-many-0123456789")
	wantRefused(t, "the fourth inactive answer's token", p, e, "temporarily_unavailable", "too_many_inactive")

	// Two introspecting issuers: first's answers inactive for the second's tokens.
	first, second := newTestIdP(t), newTestIdP(t)
	answer := func(prefix string) func(string) (int, string, string) {
		return func(tok string) (int, string, string) {
			if strings.HasPrefix(tok, prefix) {
				return 200, "application/json", `{"active":true,"sub":"u","aud":"api://orders"}`
			}
			return 200, "application/json", `{"active":false}`
		}
	}
	first.setIntrospect(introspectWith(t, answer("first-")))
	second.setIntrospect(introspectWith(t, answer("second-")))
	g := newTrustFixture(t,
		TrustConfig{Issuer: first.URL, Audience: []string{"api://orders"},
			Introspection: &IntrospectionConfig{ClientID: "gateway", ClientSecret: "gw/secret", MaxInactive: 2}},
		TrustConfig{Issuer: second.URL, Audience: []string{"api://orders"},
			Introspection: &IntrospectionConfig{ClientID: "gateway", ClientSecret: "gw/secret", MaxInactive: 2}})
	for i := range 5 {
		if p, e := g.v.AuthenticateRoute(context.Background(), fmt.Sprintf("second-%d-0123456789", i), a, &Policy{}); e != nil || p.Issuer != second.URL {
			t.Fatalf("the second issuer's token %d: %v %+v", i, e, p)
		}
	}
	if p, e := g.v.AuthenticateRoute(context.Background(), "first-0-0123456789", a, &Policy{}); e != nil || p.Issuer != first.URL {
		t.Fatalf("the first issuer's token after 5 of the second's: %v %+v; want accepted", e, p)
	}
}

// CONFORMANCE X3: an answer that is active but refuses the token (a
// refresh token, here) is remembered like an inactive one — the same token
// again costs no call — and counts toward max_inactive: refresh tokens
// cannot be used to keep calling the issuer from one address.
func TestTrustIntrospectionRefusedAnswersCount(t *testing.T) {
	idp := newTestIdP(t)
	idp.setIntrospect(introspectWith(t, func(string) (int, string, string) {
		return 200, "application/json", `{"active":true,"token_type":"refresh_token","sub":"u","aud":"api://orders"}`
	}))
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"},
		Introspection: &IntrospectionConfig{ClientID: "gateway", ClientSecret: "gw/secret", MaxInactive: 3}})
	const a = "198.51.100.30"
	check := func(tok string) (*Principal, *Error) {
		return f.v.AuthenticateRoute(context.Background(), tok, a, &Policy{})
	}
	for range 5 {
		p, e := check("refresh-same-0123456789")
		wantRefused(t, "a refresh token", p, e, "invalid_token", "invalid")
	}
	if n := idp.introHits.Load(); n != 1 {
		t.Fatalf("one refresh token sent 5 times: %d calls, want 1 (remembered)", n)
	}
	for i := range 2 {
		p, e := check(fmt.Sprintf("refresh-%d-0123456789", i))
		wantRefused(t, "another refresh token", p, e, "invalid_token", "invalid")
	}
	p, e := check("refresh-9-0123456789")
	wantRefused(t, "a fourth refused token", p, e, "temporarily_unavailable", "too_many_inactive")
	if n := idp.introHits.Load(); n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}
}

// CONFORMANCE X3: an IPv6 /48 (65,536 /64s, free from a tunnel broker)
// may cause 5 × max_inactive refusing answers a minute, however many /64s
// it uses; the next /48 is another site.
func TestTrustIntrospectionInactivePerSite(t *testing.T) {
	idp := newTestIdP(t)
	idp.setIntrospect(introspectWith(t, func(string) (int, string, string) { return 200, "application/json", `{"active":false}` }))
	f := newTrustFixture(t, TrustConfig{Issuer: idp.URL, Audience: []string{"api://orders"},
		Introspection: &IntrospectionConfig{ClientID: "gateway", ClientSecret: "gw/secret", MaxInactive: 3}})
	n := 0
	check := func(from string) (*Principal, *Error) {
		n++
		return f.v.AuthenticateRoute(context.Background(), fmt.Sprintf("random-%03d-0123456789", n), from, &Policy{})
	}
	for net := range 5 {
		for range 3 {
			p, e := check(fmt.Sprintf("2001:db8:aa:%x::1", net))
			wantRefused(t, "a random token", p, e, "invalid_token", "inactive")
		}
	}
	p, e := check("2001:db8:aa:99::1")
	wantRefused(t, "a sixth /64 of the /48", p, e, "temporarily_unavailable", "too_many_inactive")
	if p, e := check("2001:db8:ab::1"); e == nil || e.Reason != reasonInactive {
		t.Fatalf("another /48: %+v %v, want asked (inactive)", p, e)
	}
}

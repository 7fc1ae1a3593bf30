package authz

import (
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"
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

// Tests that a reload retires the old Redis client only once it has been idle for a while.

package caddymodule

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

// Issue 17 item 15: a reload that opens a new Redis client retires the old
// one without failing the requests the old config still serves: it is
// closed only once nobody has used it for a while — not at once, which made
// rare 503s on reloads.
// CONFORMANCE S5
func TestRetiredRedisClientClosesWhenIdle(t *testing.T) {
	srv := redistest.Start(t)
	s, err := redisstore.Open(t.Context(), redisstore.Config{URL: srv.URL(), Prefix: "retire:"})
	if err != nil {
		t.Fatal(err)
	}
	g := tokenstore.Grant{ClientID: "c", Subject: "s", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	call := func(i int) error {
		k := tokenstore.KeyOf(fmt.Sprint("retire-", i))
		if err := s.PutAccess(t.Context(), k, g); err != nil {
			return err
		}
		_, err := s.GetAccess(t.Context(), k)
		return err
	}
	if err := call(0); err != nil {
		t.Fatal(err)
	}
	// The last config using the client is cleaned up while a request of it
	// is still making store calls.
	if err := (pooledRedis{s}).Destruct(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		if err := call(i); err != nil {
			t.Fatalf("store call %d of a request still in flight, after the reload retired the client: %v", i, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Then nothing uses it: it is closed after its quiet second (each
	// look is a use, so they are spaced wider than that).
	for attempt := 1; ; attempt++ {
		time.Sleep(1500 * time.Millisecond)
		_, err := s.GetAccess(t.Context(), tokenstore.KeyOf("retire-1"))
		if errors.Is(err, tokenstore.ErrUnavailable) {
			break
		}
		if attempt == 3 {
			t.Fatalf("the retired client was never closed (last answer: %v)", err)
		}
	}
}

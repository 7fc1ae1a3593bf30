// Tests of Redis outages: stopped, hung or unreachable Redis fails fast and the store recovers.

package redis_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

func grantFor(ttl time.Duration) tokenstore.Grant {
	now := time.Now()
	return tokenstore.Grant{ClientID: "c", Subject: "alice", IssuedAt: now, ExpiresAt: now.Add(ttl), FamilyID: "fam", ID: "jti"}
}

// everyCall exercises each store operation once.
func everyCall(s *redisstore.Store) map[string]func(ctx context.Context) error {
	k := tokenstore.KeyOf("outage-key")
	g := grantFor(time.Hour)
	return map[string]func(ctx context.Context) error{
		"PutAccess":    func(ctx context.Context) error { return s.PutAccess(ctx, tokenstore.KeyOf("new"), g) },
		"GetAccess":    func(ctx context.Context) error { _, err := s.GetAccess(ctx, k); return err },
		"DeleteAccess": func(ctx context.Context) error { return s.DeleteAccess(ctx, k) },
		"PutCode":      func(ctx context.Context) error { return s.PutCode(ctx, tokenstore.KeyOf("new"), g, nil) },
		"TakeCode":     func(ctx context.Context) error { _, _, err := s.TakeCode(ctx, k); return err },
		"TakeRefresh":  func(ctx context.Context) error { _, err := s.TakeRefresh(ctx, k); return err },
		"GetRefresh":   func(ctx context.Context) error { _, err := s.GetRefresh(ctx, k); return err },
		"Revoke":       func(ctx context.Context) error { return s.Revoke(ctx, "jti-outage", g.ExpiresAt) },
		"IsRevoked":    func(ctx context.Context) error { _, err := s.IsRevoked(ctx, "jti-outage"); return err },
		"IsRevokedAny": func(ctx context.Context) error { _, err := s.IsRevokedAny(ctx, "jti-outage", "fam-outage"); return err },
		"PutConsent":   func(ctx context.Context) error { return s.PutConsent(ctx, "a", "c", nil, g.ExpiresAt) },
		"GetConsent":   func(ctx context.Context) error { _, err := s.GetConsent(ctx, "a", "c"); return err },
		"ListClients":  func(ctx context.Context) error { _, err := s.ListClients(ctx); return err },
		"Ping":         func(ctx context.Context) error { return s.Ping(ctx) },
		"GetAccessChecked": func(ctx context.Context) error {
			_, _, err := s.GetAccessChecked(ctx, k, "jti-outage", "fam-outage")
			return err
		},
	}
}

// failsFast checks every call answers ErrUnavailable within bound, with
// neither the password nor a key in the error text.
func failsFast(t *testing.T, s *redisstore.Store, bound time.Duration, secrets ...string) {
	t.Helper()
	for name, call := range everyCall(s) {
		start := time.Now()
		err := call(context.Background())
		took := time.Since(start)
		if !errors.Is(err, tokenstore.ErrUnavailable) {
			t.Errorf("%s with Redis down: err = %v, want ErrUnavailable", name, err)
			continue
		}
		if took > bound {
			t.Errorf("%s with Redis down took %v, want < %v", name, took, bound)
		}
		k := tokenstore.KeyOf("outage-key")
		for _, secret := range append(secrets, k.String(), base64.RawURLEncoding.EncodeToString(k[:])) {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error text holds a secret or key: %v", name, err)
			}
		}
	}
}

// CONFORMANCE S4
// Stopped, then restarted on the same port and data directory: calls fail
// fast with ErrUnavailable meanwhile, and the same Store (no new client)
// serves again afterwards, with what was stored before the outage.
func TestStoppedRedisFailsFastAndRecovers(t *testing.T) {
	t.Parallel()
	const password = "outage-pass-7e1b"
	srv := redistest.Start(t, "--requirepass", password)
	s := open(t, redisstore.Config{URL: srv.URL(), Password: password})
	ctx := context.Background()
	code := tokenstore.KeyOf("code-before-outage")
	if err := s.PutCode(ctx, code, grantFor(time.Hour), []byte("payload")); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	failsFast(t, s, 3*time.Second, password)

	srv.Restart()
	start := time.Now()
	for s.Ping(ctx) != nil {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the store did not recover within 5s of Redis restarting")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("recovered %v after the restart", time.Since(start))
	if _, payload, err := s.TakeCode(ctx, code); err != nil || string(payload) != "payload" {
		t.Fatalf("code stored before the outage: %q, %v", payload, err)
	}
}

// CONFORMANCE S4
// A Redis that hangs (frozen: connections open, no answers) is the slow
// kind of outage: the timeouts still bound every call.
func TestHungRedisFailsWithinTimeout(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := open(t, redisstore.Config{URL: srv.URL(), Timeout: 300 * time.Millisecond})
	srv.Freeze()
	failsFast(t, s, 2*time.Second)
	srv.Thaw()
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("after thawing: %v", err)
	}
}

// CONFORMANCE O3
// An unreachable Redis at start is an error naming the address, quickly.
func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	srv.Stop() // a port that was just free of Redis
	start := time.Now()
	_, err := redisstore.Open(context.Background(), redisstore.Config{URL: srv.URL()})
	if !errors.Is(err, tokenstore.ErrUnavailable) || !strings.Contains(err.Error(), srv.Addr) {
		t.Fatalf("Open of a stopped Redis: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Open took %v", took)
	}
}

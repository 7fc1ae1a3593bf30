// Tests that the metrics wrapper keeps an opaque token's read-and-check one Redis round trip.

package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	"github.com/oauthgate/caddy-oauthgate/tokenstore/memory"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

// pipelineCount counts the pipelines holding a GET that a go-redis client
// sends (a new connection's handshake is not one).
type pipelineCount struct{ n atomic.Int32 }

func (c *pipelineCount) DialHook(next goredis.DialHook) goredis.DialHook          { return next }
func (c *pipelineCount) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook { return next }
func (c *pipelineCount) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if slices.ContainsFunc(cmds, func(c goredis.Cmder) bool { return c.Name() == "get" }) {
			c.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// CONFORMANCE R6
// CONFORMANCE O1
// The metrics wrapper passes tokenstore.AccessChecker on, so the verifier's
// read-and-check of an opaque token stays one Redis round trip, observed
// once as get_access_checked; stores without it get the fallback. Unknown
// tokens are answers, a store that is down an error.
func TestMeasuredStoreAccessChecked(t *testing.T) {
	ctx := context.Background()
	mem := memory.New(memory.Options{})
	t.Cleanup(func() { _ = mem.Close() })
	rs, err := redisstore.Open(ctx, redisstore.Config{URL: redistest.Start(t).URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Close() })
	now := time.Now().Truncate(time.Second)
	g := tokenstore.Grant{ClientID: "c", Subject: "alice", IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: "jti-1", FamilyID: "fam-1"}
	k := tokenstore.KeyOf("oga_metrics")
	for _, s := range []tokenstore.Store{mem, rs} {
		if err := s.PutAccess(ctx, k, g); err != nil {
			t.Fatal(err)
		}
		if err := s.Revoke(ctx, "fam-revoked", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	pipelines := &pipelineCount{}
	rs.Client().AddHook(pipelines)

	for name, s := range map[string]tokenstore.Store{"Redis": rs, "Memory": mem} {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m, err := newMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			var ac tokenstore.AccessChecker = measuredStore{s: s, m: m}
			pipelines.n.Store(0)
			for _, tc := range []struct {
				ids     []string
				revoked bool
			}{
				{[]string{"jti-1", "fam-1"}, false},
				{[]string{"jti-1", "fam-revoked"}, true},
			} {
				got, revoked, err := ac.GetAccessChecked(ctx, k, tc.ids...)
				if err != nil || revoked != tc.revoked || got.ID != g.ID {
					t.Errorf("GetAccessChecked(%q) = %q, %v, %v; want revoked %v", tc.ids, got.ID, revoked, err, tc.revoked)
				}
			}
			if _, _, err := ac.GetAccessChecked(ctx, tokenstore.KeyOf("oga_unknown"), "jti-x"); !errors.Is(err, tokenstore.ErrNotFound) {
				t.Errorf("unknown token: %v, want ErrNotFound", err)
			}
			if calls, errs := storeOp(t, reg, "get_access_checked"); calls != 3 || errs != 0 {
				t.Errorf("get_access_checked observed %d times with %d errors, want 3 and 0", calls, errs)
			}
			// One pipeline per read (the unknown token's legacy-key GET
			// after its pipeline is a command of its own).
			if name == "Redis" && pipelines.n.Load() != 3 {
				t.Errorf("Redis got %d pipelines for 3 reads, want 3: the wrapper hid its AccessChecker", pipelines.n.Load())
			}
		})
	}

	// Nothing listens on a port that was free a moment ago: a Redis that is down.
	down := redisstore.New(goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
		MaxRetries: -1, DialerRetries: 1}), redisstore.Options{CallTimeout: time.Second})
	t.Cleanup(func() { _ = down.Close() })
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, revoked, err := (measuredStore{s: down, m: m}).GetAccessChecked(ctx, k, "jti-1", "fam-1"); !errors.Is(err, tokenstore.ErrUnavailable) || revoked {
		t.Fatalf("GetAccessChecked with Redis down = %v, %v; want ErrUnavailable", revoked, err)
	}
	if calls, errs := storeOp(t, reg, "get_access_checked"); calls != 1 || errs != 1 {
		t.Errorf("get_access_checked observed %d times with %d errors, want 1 and 1", calls, errs)
	}
}

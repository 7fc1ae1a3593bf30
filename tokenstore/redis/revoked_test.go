// Tests that IsRevokedAny is one round trip, on a Cluster too.

package redis_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// calls counts what a client sends: single commands and pipelines.
type calls struct{ single, pipelines atomic.Int32 }

func (c *calls) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (c *calls) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error { c.single.Add(1); return next(ctx, cmd) }
}

func (c *calls) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error { c.pipelines.Add(1); return next(ctx, cmds) }
}

// The verifier checks a token's id and family in one round trip, on a
// Cluster too where the two deny-list keys sit in different slots.
func TestIsRevokedAnyIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	for name, cfg := range standaloneAndCluster(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t, cfg)
			ctx := context.Background()
			must(t, s.Revoke(ctx, "fam-2", time.Now().Add(time.Hour)))
			// Warm: a first pipeline may dial (and say HELLO on) a connection of its own.
			if _, err := s.IsRevokedAny(ctx, "jti-0", "fam-0"); err != nil {
				t.Fatal(err)
			}
			n := &calls{}
			s.Client().AddHook(n)
			for _, tc := range []struct {
				ids  []string
				want bool
			}{
				{[]string{"jti-1", "fam-1"}, false},
				{[]string{"jti-2", "fam-2"}, true},
				{[]string{"jti-3", "fam-3", "x", "y", "z"}, false},
			} {
				n.single.Store(0)
				n.pipelines.Store(0)
				got, err := s.IsRevokedAny(ctx, tc.ids...)
				if err != nil || got != tc.want {
					t.Fatalf("IsRevokedAny(%q) = %v, %v; want %v", tc.ids, got, err, tc.want)
				}
				if n.single.Load() != 0 || n.pipelines.Load() != 1 {
					t.Errorf("IsRevokedAny(%q) sent %d commands and %d pipelines, want one pipeline",
						tc.ids, n.single.Load(), n.pipelines.Load())
				}
			}
		})
	}
}

package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	"github.com/oauthgate/caddy-oauthgate/tokenstore/memory"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

// storeOp reads the observations and errors of one store operation.
func storeOp(t *testing.T, reg *prometheus.Registry, op string) (calls, errs uint64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != op {
				continue
			}
			switch mf.GetName() {
			case "oauthgate_store_operation_duration_seconds":
				calls = m.GetHistogram().GetSampleCount()
			case "oauthgate_store_errors_total":
				errs = uint64(m.GetCounter().GetValue())
			}
		}
	}
	return calls, errs
}

// onlyStore hides every method but tokenstore.Store's, as a store of
// another module might offer.
type onlyStore struct{ tokenstore.Store }

// The metrics wrapper passes tokenstore.RevokedAny on, so the verifier's one
// round trip stays one, and counts it as is_revoked_any, with or without
// the store's own implementation; a failure counts as an error.
func TestMeasuredStoreRevokedAny(t *testing.T) {
	mem := memory.New(memory.Options{})
	t.Cleanup(func() { _ = mem.Close() })
	ctx := context.Background()
	if err := mem.Revoke(ctx, "fam-revoked", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Nothing listens on a port that was free a moment ago: a Redis that is down.
	down := redisstore.New(goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
		MaxRetries: -1, DialerRetries: 1}), redisstore.Options{CallTimeout: time.Second})
	t.Cleanup(func() { _ = down.Close() })

	for name, s := range map[string]tokenstore.Store{"RevokedAny": mem, "IsRevokedOnly": onlyStore{mem}} {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m, err := newMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			var ra tokenstore.RevokedAny = measuredStore{s: s, m: m}
			for _, tc := range []struct {
				ids  []string
				want bool
			}{
				{[]string{"jti-1", "fam-revoked"}, true},
				{[]string{"jti-1", "fam-live"}, false},
				{[]string{"", "fam-revoked"}, true},
				{nil, false},
			} {
				if got, err := ra.IsRevokedAny(ctx, tc.ids...); err != nil || got != tc.want {
					t.Errorf("IsRevokedAny(%q) = %v, %v; want %v", tc.ids, got, err, tc.want)
				}
			}
			if calls, errs := storeOp(t, reg, "is_revoked_any"); calls != 4 || errs != 0 {
				t.Errorf("is_revoked_any observed %d times with %d errors, want 4 and 0", calls, errs)
			}
		})
	}
	for name, s := range map[string]tokenstore.Store{"DownRevokedAny": down, "DownIsRevokedOnly": onlyStore{down}} {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m, err := newMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := measuredStore{s: s, m: m}.IsRevokedAny(ctx, "jti-1", "fam-1")
			if !errors.Is(err, tokenstore.ErrUnavailable) || got {
				t.Fatalf("IsRevokedAny with Redis down = %v, %v; want ErrUnavailable", got, err)
			}
			if calls, errs := storeOp(t, reg, "is_revoked_any"); calls != 1 || errs != 1 {
				t.Errorf("is_revoked_any observed %d times with %d errors, want 1 and 1", calls, errs)
			}
		})
	}
}

// Tests of the metrics store wrapper: it counts every store operation and the revocation feed.

package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"reflect"
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

// The metrics wrapper passes IsRevokedAny on, so the verifier's one round
// trip stays one, and counts it as is_revoked_any; a failure counts as an
// error.
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

	for name, s := range map[string]tokenstore.Store{"Memory": mem} {
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
	for name, s := range map[string]tokenstore.Store{"RedisDown": down} {
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

// CONFORMANCE O1
// Every operation of the store contract goes through the metrics wrapper
// under a label of its own — client records included — and a lost
// revocation feed is counted; the app keeps only the wrapped store.
func TestMeasuredStoreCoversTheContract(t *testing.T) {
	mem := memory.New(memory.Options{})
	t.Cleanup(func() { _ = mem.Close() })
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	ms := measuredStore{s: mem, m: m}
	ctx := context.Background()
	k, g := tokenstore.KeyOf("x"), tokenstore.Grant{ClientID: "c", ExpiresAt: time.Now().Add(time.Hour)}
	calls := map[string]func(){
		"put_access":         func() { _ = ms.PutAccess(ctx, k, g) },
		"get_access":         func() { _, _ = ms.GetAccess(ctx, k) },
		"get_access_checked": func() { _, _, _ = ms.GetAccessChecked(ctx, k, "a") },
		"delete_access":      func() { _ = ms.DeleteAccess(ctx, k) },
		"put_code":           func() { _ = ms.PutCode(ctx, k, g, nil) },
		"take_code":          func() { _, _, _ = ms.TakeCode(ctx, k) },
		"get_code":           func() { _, _, _ = ms.GetCode(ctx, k) },
		"put_refresh":        func() { _ = ms.PutRefresh(ctx, k, g) },
		"take_refresh":       func() { _, _ = ms.TakeRefresh(ctx, k) },
		"get_refresh":        func() { _, _ = ms.GetRefresh(ctx, k) },
		"delete_refresh":     func() { _ = ms.DeleteRefresh(ctx, k) },
		"put_consent":        func() { _ = ms.PutConsent(ctx, "s", "c", nil, time.Now().Add(time.Hour)) },
		"get_consent":        func() { _, _ = ms.GetConsent(ctx, "s", "c") },
		"delete_consent":     func() { _ = ms.DeleteConsent(ctx, "s", "c") },
		"revoke":             func() { _ = ms.Revoke(ctx, "a", time.Now().Add(time.Hour)) },
		"is_revoked":         func() { _, _ = ms.IsRevoked(ctx, "a") },
		"is_revoked_any":     func() { _, _ = ms.IsRevokedAny(ctx, "a") },
		"create_client":      func() { _ = ms.CreateClient(ctx, tokenstore.Client{ID: "c"}) },
		"update_client":      func() { _ = ms.UpdateClient(ctx, tokenstore.Client{ID: "c"}) },
		"get_client":         func() { _, _ = ms.GetClient(ctx, "c") },
		"list_clients":       func() { _, _ = ms.ListClients(ctx) },
		"delete_client":      func() { _ = ms.DeleteClient(ctx, "c") },
		"ping":               func() { _ = ms.Ping(ctx) },
	}
	// Every method of the contract but FollowRevocations is a timed call.
	if n := reflect.TypeFor[tokenstore.Store]().NumMethod() - 1; n != len(calls) {
		t.Fatalf("the store contract has %d timed methods, the test calls %d", n, len(calls))
	}
	for op, call := range calls {
		call()
		if n, _ := storeOp(t, reg, op); n != 1 {
			t.Errorf("%s observed %d times, want 1", op, n)
		}
	}
	// A feed that goes down is an error of the revocation_feed operation.
	ms.FollowRevocations(ctx, downFollower{})
	measuredFollower{downFollower{}, m, nil}.FeedDown()
	if _, errs := storeOp(t, reg, "revocation_feed"); errs != 1 {
		t.Errorf("revocation_feed errors = %d, want 1", errs)
	}
}

type downFollower struct{}

func (downFollower) NoteRevoked(string) {}
func (downFollower) FeedUp()            {}
func (downFollower) FeedDown()          {}

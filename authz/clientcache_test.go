// Tests of caching dynamic clients: one lookup, and changes that reach every instance at once.

package authz

import (
	"context"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

// countingRecords counts client lookups reaching a real store.
type countingRecords struct {
	tokenstore.Store
	gets atomic.Int64
}

func (c *countingRecords) GetClient(ctx context.Context, id string) (tokenstore.Client, error) {
	c.gets.Add(1)
	return c.Store.GetClient(ctx, id)
}

// dynToken creates dynamic client id through reg and gets a
// client_credentials token for it from f's token endpoint.
func dynToken(t *testing.T, f *fixture, reg *Registry, id string) string {
	t.Helper()
	view, secret, err := reg.Create(t.Context(), tokenstore.Client{ID: id, Grants: []string{GrantClientCredentials}, Scopes: []string{"api_v3"}})
	if err != nil {
		t.Fatal(err)
	}
	req := formReq(PathToken, url.Values{"grant_type": {"client_credentials"}})
	req.SetBasicAuth(view.ID, secret)
	rec := f.do(req)
	if rec.Code != 200 {
		t.Fatalf("token for %s: %d %s", id, rec.Code, rec.Body)
	}
	return decode(t, rec)["access_token"].(string)
}

// With the verified-token cache on, a dynamic client is looked up once, not
// on every request, and a change through the registry applies at once.
func TestDynamicClientCachedAndChangesApplyAtOnce(t *testing.T) {
	var recs *countingRecords
	f := newFixture(t, func(c *Config) {
		recs = &countingRecords{Store: c.Store}
		c.Store = recs
		c.VerifyCacheSize = 100
	})
	reg := f.srv.Registry()
	tok := dynToken(t, f, reg, "dyn")
	v := f.srv.Verifier()
	before := recs.gets.Load()
	for range 5 {
		if _, err := v.Authenticate(t.Context(), tok); err != nil {
			t.Fatalf("verify: %v", err)
		}
	}
	if n := recs.gets.Load() - before; n != 1 {
		t.Fatalf("5 checks looked the client up %d times, want 1", n)
	}
	disabled := true
	if _, err := reg.Update(t.Context(), "dyn", disable(disabled)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate(t.Context(), tok); err == nil || err.Reason != "client_inactive" {
		t.Fatalf("token of a client just disabled: %v", err)
	}
	enabled := false
	if _, err := reg.Update(t.Context(), "dyn", disable(enabled)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate(t.Context(), tok); err != nil {
		t.Fatalf("token of a client enabled again: %v", err)
	}
	if err := reg.Delete(t.Context(), "dyn"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate(t.Context(), tok); err == nil || err.Reason != "client_inactive" {
		t.Fatalf("token of a deleted client: %v", err)
	}
}

// Two instances on one Redis: a client disabled through one instance's
// registry stops the other's cached tokens within the feed's latency.
func TestDynamicClientChangeReachesOtherInstances(t *testing.T) {
	srv := redistest.Start(t)
	open := func() *redisstore.Store { return openRedis(t, srv) }
	instance := func(st *redisstore.Store, keys *KeySet) (*fixture, *Registry) {
		f := newFixture(t, func(c *Config) {
			if keys != nil {
				c.Keys = keys
			}
			c.Store = st
			c.Now = time.Now
			c.VerifyCacheSize = 100
		})
		return f, f.srv.Registry()
	}
	a, regA := instance(open(), nil)
	bStore := open()
	b, _ := instance(bStore, a.keys)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	subscribed := make(chan struct{})
	go func() {
		bStore.FollowRevocations(ctx, b.srv.Verifier())
	}()
	// Wait until B's subscription receives: a probe revocation of an unused id.
	go func() {
		for ctx.Err() == nil {
			if n, _ := srv.CLI("PUBSUB", "NUMSUB", "oauthgate:revocations"); len(n) > 0 && n[len(n)-1] != '0' {
				close(subscribed)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	select {
	case <-subscribed:
	case <-time.After(5 * time.Second):
		t.Fatal("instance B did not subscribe to the revocation feed")
	}
	tok := dynToken(t, a, regA, "dyn-shared")
	if _, err := b.srv.Verifier().Authenticate(t.Context(), tok); err != nil {
		t.Fatalf("B verifies A's token: %v", err)
	}
	disabled := true
	if _, err := regA.Update(t.Context(), "dyn-shared", disable(disabled)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, err := b.srv.Verifier().Authenticate(t.Context(), tok)
		if err != nil && err.Reason == "client_inactive" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B still accepts the token of a client disabled through A 2 s ago: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

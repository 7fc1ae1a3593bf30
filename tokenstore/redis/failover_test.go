// Tests that the store recovers quickly after a Redis Cluster master fails over.

package redis_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

// Issue 17 item 9: when a Redis Cluster master dies (kill -9, under load),
// service is normal again within 2 × cluster-node-timeout + 1 s — the
// failover's own time and a moment — not after go-redis's 60-second
// topology reload.
// CONFORMANCE S4
func TestClusterMasterFailoverRecoversQuickly(t *testing.T) {
	if testing.Short() {
		t.Skip("a six-node cluster and a failover")
	}
	const nodeTimeout = time.Second
	c := redistest.StartClusterWithReplicas(t, nodeTimeout)
	s := open(t, redisstore.Config{Addrs: c.Addrs()})
	ctx := context.Background()

	var mu sync.Mutex
	var failures []time.Time
	var ops int
	var lastErr error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := tokenstore.KeyOf(fmt.Sprintf("failover-%d-%d", w, i%500)) // keys in every slot range
				// A failure counts from when its operation was sent: one sent
				// before the bound that comes back later (a slow machine, the
				// race detector) says nothing of the service after the bound.
				sent := time.Now()
				g := tokenstore.Grant{ClientID: "c", Subject: "s", IssuedAt: sent, ExpiresAt: sent.Add(time.Hour)}
				err := s.PutAccess(ctx, k, g)
				if err == nil || err == tokenstore.ErrExists {
					_, err = s.GetAccess(ctx, k)
				}
				mu.Lock()
				ops++
				if err != nil && err != tokenstore.ErrExists {
					failures = append(failures, sent)
					lastErr = err
				}
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second)
	mu.Lock()
	if len(failures) > 0 {
		mu.Unlock()
		t.Fatalf("%d failures before the kill", len(failures))
	}
	mu.Unlock()

	masters := c.Masters()
	if len(masters) != 3 {
		t.Fatalf("%d masters", len(masters))
	}
	killed := time.Now()
	masters[0].Kill()
	bound := 2*nodeTimeout + time.Second
	time.Sleep(bound + 4*time.Second) // then watch a while longer
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(failures) == 0 {
		t.Fatalf("no operation failed after a master was killed (%d ops): the test did not reach it", ops)
	}
	last := failures[len(failures)-1].Sub(killed)
	t.Logf("%d ops, %d failed, the last %v after the kill: %v", ops, len(failures), last.Round(time.Millisecond), lastErr)
	if last > bound {
		t.Fatalf("operations still failed %v after the master was killed, want normal service within %v", last.Round(time.Millisecond), bound)
	}
}

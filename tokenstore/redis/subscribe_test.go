// Tests of the revocation feed: delivery to other instances, loss and return, Sentinel failover.

package redis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

// follower records what a revocation feed tells it.
type follower struct {
	got      chan string
	up, down chan struct{}
}

func newFollower() *follower {
	return &follower{got: make(chan string, 100), up: make(chan struct{}, 10), down: make(chan struct{}, 10)}
}

func (f *follower) NoteRevoked(id string) { f.got <- id }
func (f *follower) FeedUp()               { f.up <- struct{}{} }
func (f *follower) FeedDown()             { f.down <- struct{}{} }

// wait waits for one signal on ch.
func wait(t *testing.T, ch <-chan struct{}, what string, within time.Duration) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(within):
		t.Fatalf("%s: nothing within %v", what, within)
	}
}

// delivered waits for id on got and returns how long it took from since.
func delivered(t *testing.T, got <-chan string, id string, since time.Time) time.Duration {
	t.Helper()
	select {
	case v := <-got:
		if v != id {
			t.Fatalf("delivered %q, want %q", v, id)
		}
		return time.Since(since)
	case <-time.After(time.Second):
		t.Fatalf("revocation of %s not delivered within 1s", id)
		return 0
	}
}

// CONFORMANCE S6
// Two Stores (two instances) on one Redis: a revocation through one is seen
// by the other's IsRevoked at once and reaches its subscriber within 1s,
// on a standalone server and across the nodes of a Cluster.
func TestRevocationReachesOtherInstance(t *testing.T) {
	t.Parallel()
	for name, cfg := range standaloneAndCluster(t) {
		t.Run(name, func(t *testing.T) {
			cfg.Prefix = "s6-" + name + ":"
			a, b := open(t, cfg), open(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			fl := newFollower()
			b.FollowRevocations(ctx, fl)
			wait(t, fl.up, "subscription", 5*time.Second)
			got := fl.got
			// Another prefix is another deployment: not heard here.
			other := cfg
			other.Prefix = "s6-elsewhere:"
			if err := open(t, other).Revoke(ctx, "jti-elsewhere", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := a.Revoke(ctx, "jti-s6", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if ok, err := b.IsRevoked(ctx, "jti-s6"); err != nil || !ok {
				t.Fatalf("IsRevoked on the other instance right after Revoke = %v, %v", ok, err)
			}
			t.Logf("delivered in %v", delivered(t, got, "jti-s6", start))
		})
	}
}

// CONFORMANCE S4
// CONFORMANCE S6
// The feed says when it is lost — Redis stopped, or hung — within a few
// seconds, resubscribes by itself when Redis is back, says so, and then
// delivers the next revocation within 1s.
func TestFeedReportsLossAndReturn(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, b := open(t, redisstore.Config{URL: srv.URL(), Prefix: "s6r:"}), open(t, redisstore.Config{URL: srv.URL(), Prefix: "s6r:"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fl := newFollower()
	b.FollowRevocations(ctx, fl)
	wait(t, fl.up, "first subscription", 5*time.Second)
	srv.Stop()
	wait(t, fl.down, "feed down after Redis stopped", 3*time.Second)
	srv.Restart()
	wait(t, fl.up, "resubscription after the restart", 10*time.Second)
	revokeAndSee := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			start := time.Now()
			err := a.Revoke(ctx, "jti-after-restart", time.Now().Add(time.Hour))
			if err == nil {
				t.Logf("delivered in %v", delivered(t, fl.got, "jti-after-restart", start))
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Revoke after the restart: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	revokeAndSee()
	// A hung Redis (SIGSTOP) answers nothing: the unanswered ping says so.
	srv.Freeze()
	wait(t, fl.down, "feed down while Redis is hung", 4*time.Second)
	srv.Thaw()
	wait(t, fl.up, "resubscription after the hang", 10*time.Second)
}

// CONFORMANCE S6
// A Sentinel failover (SENTINEL FAILOVER: the replica promoted, the old
// master demoted but still running) does not leave the revocation feed
// deaf: a revocation made through the new master reaches the subscriber
// within about a second of the switch, and whenever the subscription stops
// delivering, the feed says so (the cache does not answer meanwhile).
func TestFeedFollowsSentinelFailover(t *testing.T) {
	t.Parallel()
	master := redistest.Start(t)
	replica := redistest.Start(t, "--replicaof", "127.0.0.1", fmt.Sprint(master.Port))
	sentinel := redistest.StartSentinel(t, master, "mymaster")
	deadline := time.Now().Add(20 * time.Second)
	for { // the Sentinel must know the replica, and the replica be in sync
		out, _ := sentinel.CLI("SENTINEL", "REPLICAS", "mymaster")
		info, _ := replica.CLI("INFO", "replication")
		if strings.Contains(out, fmt.Sprint(replica.Port)) && strings.Contains(info, "master_link_status:up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Sentinel did not see an in-sync replica: %s / %s", out, info)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cfg := redisstore.Config{Addrs: []string{sentinel.Addr}, MasterName: "mymaster", Prefix: "failover:"}
	follower := open(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fl := newFollower()
	follower.FollowRevocations(ctx, fl)
	wait(t, fl.up, "first subscription", 5*time.Second)

	if out, err := sentinel.CLI("SENTINEL", "FAILOVER", "mymaster"); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("SENTINEL FAILOVER: %v %s", err, out)
	}
	newMaster := fmt.Sprintf("127.0.0.1\n%d", replica.Port)
	var switched time.Time
	for deadline := time.Now().Add(30 * time.Second); ; {
		if out, _ := sentinel.CLI("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"); strings.Contains(out, newMaster) {
			switched = time.Now()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Sentinel did not switch masters within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Revocations through a store that connects now, to the new master,
	// until one is delivered.
	writer := open(t, cfg)
	for i := 0; ; i++ {
		id := fmt.Sprintf("jti-after-failover-%d", i)
		if err := writer.Revoke(ctx, id, time.Now().Add(time.Hour)); err == nil {
			select {
			case got := <-fl.got:
				if !strings.HasPrefix(got, "jti-after-failover-") {
					t.Fatalf("delivered %q", got)
				}
				took := time.Since(switched)
				downs := len(fl.down)
				t.Logf("first revocation after the switch delivered %v after it (attempt %d; feed down %d times)", took, i, downs)
				if took > 2*time.Second {
					t.Fatalf("the feed delivered %v after the failover, want about a second", took)
				}
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		if time.Since(switched) > 3*time.Second {
			t.Fatal("no revocation through the new master reached the subscriber within 3s of the failover")
		}
	}
}

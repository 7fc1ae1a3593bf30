// Tests that the Redis store passes the store contract: standalone, Cluster, Sentinel, least-privilege ACL.

package redis_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
	"github.com/oauthgate/caddy-oauthgate/tokenstore/storetest"
)

var prefixes atomic.Int64

// aclCommands are all the store needs on a standalone server or Sentinel's master.
var aclCommands = strings.Fields("+get +set +del +exists +hset +hsetnx +hget +hmget +hgetall +hdel +hexists " +
	"+pexpireat +getex +eval +evalsha +publish +subscribe +ping +hello")

// open connects a Store to cfg under a prefix of its own, so every harness
// is a fresh, empty store on a shared server.
func open(t testing.TB, cfg redisstore.Config) *redisstore.Store {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = fmt.Sprintf("oauthgate-test%d:", prefixes.Add(1))
	}
	s, err := redisstore.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// contract runs the store contract against cfg. Redis keeps real time, so
// Advance sleeps; the suites of the different deployments run in parallel.
func contract(t *testing.T, cfg redisstore.Config) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		s := open(t, cfg)
		return storetest.Harness{Store: s, Now: time.Now, Advance: time.Sleep, Down: func() { _ = s.Close() }}
	})
	t.Run("ClientRecords", func(t *testing.T) {
		storetest.RunClients(t, func(t *testing.T) tokenstore.ClientRecords { return open(t, cfg) })
	})
}

// CONFORMANCE S1
// CONFORMANCE S2
// CONFORMANCE T9
// The contract, with its 64 concurrent redemptions of one code and of one
// refresh token, on a real standalone redis-server, a real 3-node Redis
// Cluster (every operation stays in one hash slot), Sentinel with a
// password, and as an ACL user with only the commands it needs. The contract sleeps on Redis's real clock, so the three run at
// once (t.Run from goroutines, which -parallel does not throttle).
func TestContract(t *testing.T) {
	t.Parallel()
	deployments := map[string]func(t *testing.T) redisstore.Config{
		"Standalone": func(t *testing.T) redisstore.Config {
			return redisstore.Config{URL: redistest.Start(t).URL()}
		},
		"Cluster": func(t *testing.T) redisstore.Config {
			return redisstore.Config{Addrs: redistest.StartCluster(t).Addrs()}
		},
		// The least privilege README ("Running several instances") gives: these commands, these keys.
		"ACL": func(t *testing.T) redisstore.Config {
			srv := redistest.Start(t)
			if out, err := srv.CLI(append([]string{"ACL", "SETUSER", "oauthgate", "on", ">acl-pass-0c4d",
				"resetkeys", "~oauthgate-test*", "resetchannels", "&oauthgate-test*", "-@all"}, aclCommands...)...); err != nil || !strings.Contains(out, "OK") {
				t.Fatalf("ACL SETUSER: %v %s", err, out)
			}
			return redisstore.Config{URL: srv.URL(), Username: "oauthgate", Password: "acl-pass-0c4d"}
		},
		"Sentinel": func(t *testing.T) redisstore.Config {
			master := redistest.Start(t, "--requirepass", "master-pass-5dcf")
			sentinel := redistest.StartSentinel(t, master, "mymaster")
			return redisstore.Config{Addrs: []string{sentinel.Addr}, MasterName: "mymaster", Password: master.Password}
		},
	}
	var wg sync.WaitGroup
	for name, cfg := range deployments {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(name, func(t *testing.T) { contract(t, cfg(t)) })
		}()
	}
	wg.Wait()
}

// standaloneAndCluster starts a standalone server and a 3-node Cluster and
// returns a configuration for each, by name.
func standaloneAndCluster(t *testing.T) map[string]redisstore.Config {
	srv := redistest.Start(t)
	c := redistest.StartCluster(t)
	return map[string]redisstore.Config{"Standalone": {URL: srv.URL()}, "Cluster": {Addrs: c.Addrs()}}
}

// Tests of GetAccessChecked: reading a token and checking its revocation in one round trip.

package redis_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

// CONFORMANCE R6
// CONFORMANCE S1
// GetAccessChecked answers GetAccess's grant and whether any given id is
// on the deny-list: live, id revoked, family revoked, unknown, deleted, on
// a standalone server and a Cluster.
func TestGetAccessChecked(t *testing.T) {
	t.Parallel()
	for name, cfg := range standaloneAndCluster(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg.Prefix = "checked-" + name + ":"
			s := open(t, cfg)
			ctx := context.Background()
			until := time.Now().Add(time.Hour)

			live, byID, byFamily := benchGrant(time.Now()), benchGrant(time.Now()), benchGrant(time.Now())
			keys := map[string]tokenstore.Key{"live": tokenstore.KeyOf("oga_live"), "id": tokenstore.KeyOf("oga_id"),
				"family": tokenstore.KeyOf("oga_family")}
			must(t, s.PutAccess(ctx, keys["live"], live))
			must(t, s.PutAccess(ctx, keys["id"], byID))
			must(t, s.PutAccess(ctx, keys["family"], byFamily))
			must(t, s.Revoke(ctx, byID.ID, until))
			must(t, s.Revoke(ctx, byFamily.FamilyID, until))

			for _, tc := range []struct {
				name    string
				k       tokenstore.Key
				want    tokenstore.Grant
				ids     []string
				revoked bool
			}{
				{"Live", keys["live"], live, []string{live.ID, live.FamilyID}, false},
				{"IDRevoked", keys["id"], byID, []string{byID.ID, byID.FamilyID}, true},
				{"FamilyRevoked", keys["family"], byFamily, []string{byFamily.ID, byFamily.FamilyID}, true},
				{"NoFamily", keys["id"], byID, []string{byID.ID, ""}, true},
				{"OnlyFamily", keys["family"], byFamily, []string{"", byFamily.FamilyID}, true},
				{"NoIDs", keys["id"], byID, nil, false},
				{"EmptyIDs", keys["family"], byFamily, []string{"", ""}, false},
				// The caller checks only what it names: other ids do not make it revoked.
				{"OtherIDs", keys["id"], byID, []string{"jti-other", "fam-other"}, false},
			} {
				g, revoked, err := s.GetAccessChecked(ctx, tc.k, tc.ids...)
				if err != nil || revoked != tc.revoked {
					t.Errorf("%s: GetAccessChecked = revoked %v, %v; want %v", tc.name, revoked, err, tc.revoked)
					continue
				}
				if g.ID != tc.want.ID || g.FamilyID != tc.want.FamilyID || g.Subject != tc.want.Subject || !g.ExpiresAt.Equal(tc.want.ExpiresAt) {
					t.Errorf("%s: grant = %+v, want %+v", tc.name, g, tc.want)
				}
				// The one-call answer is the two calls' answer.
				g2, err2 := s.GetAccess(ctx, tc.k)
				r2, err3 := s.IsRevokedAny(ctx, tc.ids...)
				if err2 != nil || err3 != nil || g2.ID != g.ID || r2 != revoked {
					t.Errorf("%s: GetAccess + IsRevokedAny = %v %v, %v %v; GetAccessChecked disagrees", tc.name, g2.ID, err2, r2, err3)
				}
			}
			// Unknown key: ErrNotFound, whatever the ids.
			for _, ids := range [][]string{{"jti-x", "fam-x"}, {byID.ID, byFamily.FamilyID}, nil} {
				if g, revoked, err := s.GetAccessChecked(ctx, tokenstore.KeyOf("oga_unknown"), ids...); !errors.Is(err, tokenstore.ErrNotFound) || revoked || g.ID != "" {
					t.Errorf("unknown key with ids %q = %+v, %v, %v; want ErrNotFound", ids, g, revoked, err)
				}
			}
			// A deleted token is gone.
			must(t, s.DeleteAccess(ctx, keys["live"]))
			if _, _, err := s.GetAccessChecked(ctx, keys["live"], live.ID); !errors.Is(err, tokenstore.ErrNotFound) {
				t.Errorf("deleted token: %v, want ErrNotFound", err)
			}
			// Store down: fail closed (CONFORMANCE S4).
			_ = s.Close()
			if _, revoked, err := s.GetAccessChecked(ctx, keys["id"], byID.ID, byID.FamilyID); !errors.Is(err, tokenstore.ErrUnavailable) || revoked {
				t.Errorf("closed store: revoked %v, %v; want ErrUnavailable", revoked, err)
			}
		})
	}
}

// nodeCalls holds a redistest.Reads per Cluster node, all sharing one delay.
type nodeCalls struct {
	nodes map[string]*redistest.Reads
	delay atomic.Int64
}

func (n *nodeCalls) attach(t *testing.T, cc *goredis.ClusterClient) {
	t.Helper()
	var mu sync.Mutex
	n.nodes = map[string]*redistest.Reads{}
	err := cc.ForEachShard(context.Background(), func(_ context.Context, c *goredis.Client) error {
		h := &redistest.Reads{Delay: &n.delay}
		c.AddHook(h)
		mu.Lock()
		n.nodes[c.Options().Addr] = h
		mu.Unlock()
		return nil
	})
	if err != nil || len(n.nodes) < 2 {
		t.Fatalf("hooking the Cluster's nodes: %v (%d nodes)", err, len(n.nodes))
	}
}

func (n *nodeCalls) reset() {
	for _, h := range n.nodes {
		h.Reset()
	}
}

// CONFORMANCE R6
// Reading a token's record and checking its id and family is one
// pipeline: one round trip on a standalone server; on a Cluster, where the
// three keys sit in different slots, at most one pipeline per node, sent
// at once (a delay on each node's pipeline is paid once, not per node).
// A miss costs no second command.
func TestGetAccessCheckedIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	for name, cfg := range standaloneAndCluster(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t, cfg)
			ctx := context.Background()
			g, revokedFamily := benchGrant(time.Now()), benchGrant(time.Now())
			k, kr := tokenstore.KeyOf("oga_one-trip"), tokenstore.KeyOf("oga_one-trip-revoked")
			must(t, s.PutAccess(ctx, k, g))
			must(t, s.PutAccess(ctx, kr, revokedFamily))
			must(t, s.Revoke(ctx, revokedFamily.FamilyID, time.Now().Add(time.Hour)))
			// Warm: a first pipeline may dial (and say HELLO on) connections of its own.
			for range 3 {
				if _, _, err := s.GetAccessChecked(ctx, k, g.ID, g.FamilyID); err != nil {
					t.Fatal(err)
				}
			}
			n := &redistest.Reads{}
			s.Client().AddHook(n)
			var nodes *nodeCalls
			if cc, ok := s.Client().(*goredis.ClusterClient); ok {
				nodes = &nodeCalls{}
				nodes.attach(t, cc)
			} else if name == "Cluster" {
				t.Fatalf("the Cluster's client is a %T", s.Client())
			}
			for _, tc := range []struct {
				name            string
				k               tokenstore.Key
				ids             []string
				revoked         bool
				single, missing int32
			}{
				{"Live", k, []string{g.ID, g.FamilyID}, false, 0, 0},
				{"IDOnly", k, []string{g.ID}, false, 0, 0},
				{"FamilyRevoked", kr, []string{revokedFamily.ID, revokedFamily.FamilyID}, true, 0, 0},
				{"Unknown", tokenstore.KeyOf("oga_nothing"), []string{"jti-none", "fam-none"}, false, 0, 1},
			} {
				n.Reset()
				if nodes != nil {
					nodes.reset()
				}
				_, revoked, err := s.GetAccessChecked(ctx, tc.k, tc.ids...)
				if tc.missing == 1 {
					if !errors.Is(err, tokenstore.ErrNotFound) {
						t.Fatalf("%s: %v, want ErrNotFound", tc.name, err)
					}
				} else if err != nil || revoked != tc.revoked {
					t.Fatalf("%s: revoked %v, %v; want %v", tc.name, revoked, err, tc.revoked)
				}
				if n.Pipelines.Load() != 1 || n.Single.Load() != tc.single {
					t.Errorf("%s: sent %d pipelines and %d commands, want one pipeline and %d commands",
						tc.name, n.Pipelines.Load(), n.Single.Load(), tc.single)
				}
				if nodes == nil {
					continue
				}
				var cmds int32
				for addr, c := range nodes.nodes {
					if c.Pipelines.Load() > 1 {
						t.Errorf("%s: node %s got %d pipelines, want at most one", tc.name, addr, c.Pipelines.Load())
					}
					cmds += c.Single.Load()
				}
				if cmds != tc.single {
					t.Errorf("%s: the nodes got %d single commands, want %d", tc.name, cmds, tc.single)
				}
			}
			if nodes == nil {
				return
			}
			// The per-node parts go out at once: with every node's pipeline
			// delayed, a call spanning several nodes waits for one delay.
			const delay = 200 * time.Millisecond
			nodes.delay.Store(int64(delay))
			defer nodes.delay.Store(0)
			for range 20 {
				h := benchGrant(time.Now())
				nodes.reset()
				start := time.Now()
				if _, _, err := s.GetAccessChecked(ctx, k, h.ID, h.FamilyID); err != nil {
					t.Fatal(err)
				}
				took := time.Since(start)
				spanned := 0
				for _, c := range nodes.nodes {
					if c.Pipelines.Load() > 0 {
						spanned++
					}
				}
				if spanned < 2 {
					continue // the three keys landed on one node: try other ids
				}
				if took >= 2*delay {
					t.Fatalf("a call spanning %d nodes took %v with %v per node pipeline: the parts were sent one after another", spanned, took, delay)
				}
				return
			}
			t.Fatal("twenty random id pairs never spanned two nodes")
		})
	}
}

// The store stays a tokenstore.AccessChecker, which the verifier relies on.
var _ tokenstore.AccessChecker = (*redisstore.Store)(nil)

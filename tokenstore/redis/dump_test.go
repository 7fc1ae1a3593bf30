// Tests that a dump of Redis holds only hashed keys with TTLs, never a token.

package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

func secret(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// CONFORMANCE K2
// CONFORMANCE S3
// A full dump after storing every kind of entry holds no raw token or code,
// only keys of the form <prefix><kind>:{<sha256 hex>}, or for access tokens
// <prefix>access:<sha256 base64url>, each with a TTL.
func TestDumpHoldsHashesWithTTLs(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := redistest.StartCluster(t)
	for name, tc := range map[string]struct {
		cfg   redisstore.Config
		nodes []*redistest.Server
	}{
		"Standalone": {redisstore.Config{URL: srv.URL()}, []*redistest.Server{srv}},
		"Cluster":    {redisstore.Config{Addrs: c.Addrs()}, c.Nodes},
	} {
		t.Run(name, func(t *testing.T) {
			tc.cfg.Prefix = "dump-" + name + ":"
			s := open(t, tc.cfg)
			ctx := context.Background()
			access, code, refresh, used := secret("oga_"), secret(""), secret("ogr_"), secret("ogr_")
			g := grantFor(time.Hour)
			must(t, s.PutAccess(ctx, tokenstore.KeyOf(access), g))
			must(t, s.PutCode(ctx, tokenstore.KeyOf(code), g, []byte(`{"r":"https://client.example/cb"}`)))
			must(t, s.PutRefresh(ctx, tokenstore.KeyOf(refresh), g))
			must(t, s.PutRefresh(ctx, tokenstore.KeyOf(used), g))
			if _, err := s.TakeRefresh(ctx, tokenstore.KeyOf(used)); err != nil { // leaves a tombstone
				t.Fatal(err)
			}
			must(t, s.PutConsent(ctx, "alice", "postman", []string{"api_v3"}, g.ExpiresAt))
			must(t, s.Revoke(ctx, "jti-dump", g.ExpiresAt))

			shape := regexp.MustCompile(`^` + regexp.QuoteMeta(tc.cfg.Prefix) +
				`(access:[0-9A-Za-z_-]{43}|(code|refresh|consent|revoked):\{[0-9a-f]{64}\})$`)
			entries := markerChecked(t, tc.cfg.Prefix, redistest.Dump(t, tc.nodes...))
			if len(entries) != 6 {
				t.Fatalf("want 6 keys, got %d: %+v", len(entries), entries)
			}
			for _, e := range entries {
				if !shape.MatchString(e.Key) {
					t.Errorf("key %q is not <prefix><kind>:{<sha256 hex>} or <prefix>access:<sha256 base64url>", e.Key)
				}
				if e.TTL <= 0 || e.TTL > time.Hour {
					t.Errorf("key %q has TTL %v, want (0, 1h]", e.Key, e.TTL)
				}
				for _, raw := range []string{access, code, refresh, used} {
					if strings.Contains(e.Key, raw) || strings.Contains(e.Value, raw) {
						t.Errorf("the dump of %q holds a raw token or code", e.Key)
					}
				}
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// markerChecked checks the data-loss marker (random, with a TTL, holding
// nothing of a token) and returns the other entries.
func markerChecked(t *testing.T, prefix string, entries []redistest.Entry) []redistest.Entry {
	t.Helper()
	var rest []redistest.Entry
	for _, e := range entries {
		if e.Key != prefix+"marker" {
			rest = append(rest, e)
			continue
		}
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(e.Value) || e.TTL <= 0 || e.TTL > 30*24*time.Hour {
			t.Errorf("marker %q = %q, TTL %v", e.Key, e.Value, e.TTL)
		}
	}
	return rest
}

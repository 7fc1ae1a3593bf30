// Benchmarks of the Redis store's access token writes, reads and revocation checks.

package redis_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

// Round trips against a local redis-server:
// `go test ./tokenstore/redis -run '^$' -bench . -benchmem`.

func BenchmarkPutAccess(b *testing.B) {
	s := open(b, redisstore.Config{URL: redistest.Start(b).URL()})
	ctx := context.Background()
	g := benchGrant(time.Now())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := s.PutAccess(ctx, tokenstore.KeyOf("oga_bench-"+strconv.Itoa(i)), g); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetAccess(b *testing.B) {
	s := open(b, redisstore.Config{URL: redistest.Start(b).URL()})
	ctx := context.Background()
	keys := make([]tokenstore.Key, 64)
	for i := range keys {
		keys[i] = tokenstore.KeyOf("oga_bench-" + strconv.Itoa(i))
		if err := s.PutAccess(ctx, keys[i], benchGrant(time.Now())); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.GetAccess(ctx, keys[i%len(keys)]); err != nil {
			b.Fatal(err)
		}
	}
}

// A token's id and family checked in one call, and as two IsRevoked.
func BenchmarkIsRevokedAny(b *testing.B) {
	s := open(b, redisstore.Config{URL: redistest.Start(b).URL()})
	ctx := context.Background()
	b.Run("OneCall", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if revoked, err := s.IsRevokedAny(ctx, "jti-live", "fam-live"); err != nil || revoked {
				b.Fatal(revoked, err)
			}
		}
	})
	b.Run("IsRevokedTwice", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, id := range []string{"jti-live", "fam-live"} {
				if revoked, err := s.IsRevoked(ctx, id); err != nil || revoked {
					b.Fatal(revoked, err)
				}
			}
		}
	})
}

// Reading an opaque token's record and checking its id and family on the
// deny-list (CONFORMANCE R6): GetAccessChecked's one pipeline, and the
// GetAccess then IsRevokedAny it replaces.
func BenchmarkGetAccessChecked(b *testing.B) {
	s := open(b, redisstore.Config{URL: redistest.Start(b).URL()})
	ctx := context.Background()
	keys := make([]tokenstore.Key, 64)
	grants := make([]tokenstore.Grant, len(keys))
	for i := range keys {
		keys[i] = tokenstore.KeyOf("oga_bench-" + strconv.Itoa(i))
		grants[i] = benchGrant(time.Now())
		if err := s.PutAccess(ctx, keys[i], grants[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("OneRoundTrip", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			g := grants[i%len(grants)]
			if _, revoked, err := s.GetAccessChecked(ctx, keys[i%len(keys)], g.ID, g.FamilyID); err != nil || revoked {
				b.Fatal(revoked, err)
			}
		}
	})
	b.Run("GetAccessThenIsRevokedAny", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			g, err := s.GetAccess(ctx, keys[i%len(keys)])
			if err != nil {
				b.Fatal(err)
			}
			if revoked, err := s.IsRevokedAny(ctx, g.ID, g.FamilyID); err != nil || revoked {
				b.Fatal(revoked, err)
			}
		}
	})
}

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

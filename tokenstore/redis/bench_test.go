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

// The access-token round trips against a local redis-server:
// `go test ./tokenstore/redis -run '^$' -bench Access -benchmem`.

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

// Tests of Redis memory per access token: within 300 bytes a token.

package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

// benchGrant is what a client_credentials grant of the gateway benchmark
// stores: second-precision times two hours apart, 22-character random ids.
func benchGrant(now time.Time) tokenstore.Grant {
	id := func() string {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	iat := now.Truncate(time.Second)
	return tokenstore.Grant{ClientID: "bench", Subject: "svc-bench", Scopes: []string{"api"},
		Audience: []string{"http://127.0.0.1:41234"}, IssuedAt: iat, ExpiresAt: iat.Add(2 * time.Hour),
		ID: id(), FamilyID: id()}
}

func usedMemory(t *testing.T, rdb goredis.UniversalClient) (mem, keys int64) {
	t.Helper()
	ctx := context.Background()
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			mem, err = strconv.ParseInt(v, 10, 64)
		}
	}
	if mem == 0 || err != nil {
		t.Fatalf("no used_memory in INFO memory: %v", err)
	}
	if keys, err = rdb.DBSize(ctx).Result(); err != nil {
		t.Fatal(err)
	}
	return mem, keys
}

// Redis memory is what a deployment pays per live opaque access token: the
// used_memory growth over 20,000 typical tokens, under the default prefix
// (key length counts), must stay within 300 bytes a token.
func TestMemoryPerAccessToken(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := open(t, redisstore.Config{URL: srv.URL(), Prefix: redisstore.DefaultPrefix})
	ctx := context.Background()
	now := time.Now()
	const n, budget = 20_000, 300
	// One connection, already open: its buffers are in the baseline.
	must(t, s.Ping(ctx))
	memBefore, keysBefore := usedMemory(t, s.Client())
	for i := range n {
		must(t, s.PutAccess(ctx, tokenstore.KeyOf("oga_memory-"+strconv.Itoa(i)), benchGrant(now)))
	}
	memAfter, keysAfter := usedMemory(t, s.Client())
	if keysAfter-keysBefore != n {
		t.Fatalf("DBSIZE grew by %d for %d tokens", keysAfter-keysBefore, n)
	}
	perToken := float64(memAfter-memBefore) / n
	t.Logf("%.1f bytes of used_memory per live access token (%d tokens)", perToken, n)
	if perToken > budget {
		t.Errorf("Redis holds %.1f bytes per live access token, want ≤ %d", perToken, budget)
	}
}

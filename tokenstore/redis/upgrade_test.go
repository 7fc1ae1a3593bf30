package redis_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

// legacyPut writes entries as versions before the compact layout did:
// grant JSON, access tokens under <prefix>access:{<sha256 hex>}.
type legacyPut struct {
	t      *testing.T
	rdb    goredis.UniversalClient
	prefix string
}

func (l legacyPut) key(kind string, k tokenstore.Key) string {
	return l.prefix + kind + ":{" + k.String() + "}"
}

func (l legacyPut) access(k tokenstore.Key, g tokenstore.Grant) {
	val, _ := json.Marshal(g)
	must(l.t, l.rdb.SetArgs(context.Background(), l.key("access", k), val, goredis.SetArgs{ExpireAt: g.ExpiresAt}).Err())
}

func (l legacyPut) once(kind string, k tokenstore.Key, g tokenstore.Grant, payload string) {
	ctx := context.Background()
	val, _ := json.Marshal(g)
	must(l.t, l.rdb.HSet(ctx, l.key(kind, k), "g", val, "p", payload).Err())
	must(l.t, l.rdb.ExpireAt(ctx, l.key(kind, k), g.ExpiresAt).Err())
}

// A store upgraded in place keeps what the previous version stored: access
// tokens under their old keys, JSON grants of codes and refresh tokens.
// Revoking an old access token deletes its old key.
func TestUpgradeKeepsLegacyEntries(t *testing.T) {
	t.Parallel()
	for name, cfg := range standaloneAndCluster(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg.Prefix = "upgrade-" + name + ":"
			s := open(t, cfg)
			ctx := context.Background()
			old := legacyPut{t, s.Client(), cfg.Prefix}
			g := benchGrant(time.Now())
			g.AuthTime = g.IssuedAt.Add(-time.Minute)
			access, code, refresh := tokenstore.KeyOf("oga_old"), tokenstore.KeyOf("old-code"), tokenstore.KeyOf("ogr_old")
			old.access(access, g)
			old.once("code", code, g, `{"r":"https://client.example/cb"}`)
			old.once("refresh", refresh, g, "")

			got, err := s.GetAccess(ctx, access)
			if err != nil {
				t.Fatalf("GetAccess of a token stored before the upgrade: %v", err)
			}
			if got.ID != g.ID || got.FamilyID != g.FamilyID || !got.ExpiresAt.Equal(g.ExpiresAt) || !got.AuthTime.Equal(g.AuthTime) {
				t.Fatalf("GetAccess = %+v, want %+v", got, g)
			}
			if got, err := s.GetRefresh(ctx, refresh); err != nil || got.ID != g.ID {
				t.Fatalf("GetRefresh of an old refresh token = %+v, %v", got, err)
			}
			if got, err := s.TakeRefresh(ctx, refresh); err != nil || got.FamilyID != g.FamilyID {
				t.Fatalf("TakeRefresh of an old refresh token = %+v, %v", got, err)
			}
			if _, err := s.TakeRefresh(ctx, refresh); !errors.Is(err, tokenstore.ErrReused) {
				t.Fatalf("second TakeRefresh of an old refresh token: %v, want ErrReused", err)
			}
			if _, payload, err := s.TakeCode(ctx, code); err != nil || !strings.Contains(string(payload), "client.example") {
				t.Fatalf("TakeCode of an old code = %q, %v", payload, err)
			}

			must(t, s.DeleteAccess(ctx, access))
			if _, err := s.GetAccess(ctx, access); !errors.Is(err, tokenstore.ErrNotFound) {
				t.Fatalf("GetAccess of an old token after DeleteAccess: %v, want ErrNotFound", err)
			}
			if n := s.Client().Exists(ctx, old.key("access", access)).Val(); n != 0 {
				t.Fatal("DeleteAccess left the old key")
			}
		})
	}
}

// Whatever else sits under a token's key is refused as a store fault
// (ErrUnavailable, fail closed), never taken for a grant.
func TestUndecodableGrantIsUnavailable(t *testing.T) {
	t.Parallel()
	const prefix = "garbage:"
	s := open(t, redisstore.Config{URL: redistest.Start(t).URL(), Prefix: prefix})
	ctx := context.Background()
	k := tokenstore.KeyOf("oga_garbage")
	for name, key := range map[string]string{
		"Key":       prefix + "access:" + base64.RawURLEncoding.EncodeToString(k[:]),
		"LegacyKey": prefix + "access:{" + k.String() + "}",
	} {
		for _, val := range []string{"", "\x01", "\x02garbage", "{not json", "\x01\x00\x05bench"} {
			must(t, s.Client().Set(ctx, key, val, time.Minute).Err())
			g, err := s.GetAccess(ctx, k)
			if !errors.Is(err, tokenstore.ErrUnavailable) || !strings.Contains(err.Error(), "undecodable") {
				t.Errorf("%s holding %q: GetAccess = %+v, %v; want an undecodable ErrUnavailable", name, val, g, err)
			}
			must(t, s.Client().Del(ctx, key).Err())
		}
	}
}

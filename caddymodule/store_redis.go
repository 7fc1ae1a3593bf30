// The redis store module: standalone, Cluster or Sentinel, TLS, shared across reloads through a usage pool.

package caddymodule

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

func init() {
	caddy.RegisterModule(RedisStore{})
}

// redisLogOnce installs redisLogger when the first Redis store is
// provisioned. go-redis has one logger for the whole process (its
// connection pools log through a package variable), so it cannot be set
// per store; a process without a Redis store keeps go-redis's default.
var redisLogOnce sync.Once

// redisPool shares one client per connection identity across config
// reloads (CONFORMANCE S5): a reload with the same settings keeps its
// connections; changed settings get a new client, and the old one closes
// when the old config is cleaned up.
var redisPool = caddy.NewUsagePool()

// RedisStore keeps codes, tokens, consents and revocations in Redis, so
// several Caddy instances share them: a standalone server (url or one
// address), a Redis Cluster (several addresses, or cluster) or Sentinel
// (master_name with the Sentinels' addresses).
type RedisStore struct {
	// URL of a standalone server: redis://[user:password@]host:port[/db],
	// or rediss:// for TLS. Usually a placeholder such as {env.REDIS_URL}.
	URL string `json:"url,omitempty"`
	// Addresses (host:port): one server, a Cluster's seed nodes, or with
	// master_name the Sentinels.
	Addresses []string `json:"addresses,omitempty"`
	// Cluster treats a single address as a Cluster seed node.
	Cluster bool `json:"cluster,omitempty"`
	// MasterName selects Sentinel mode: the name the Sentinels monitor.
	MasterName string `json:"master_name,omitempty"`
	// Username for Redis ACLs.
	Username string `json:"username,omitempty"`
	// Password, write-only: a placeholder such as {env.REDIS_PASSWORD},
	// expanded at provisioning and never logged.
	Password string `json:"password,omitempty"`
	// SentinelUsername authenticates to the Sentinels.
	SentinelUsername string `json:"sentinel_username,omitempty"`
	// SentinelPassword authenticates to the Sentinels; a placeholder like Password.
	SentinelPassword string `json:"sentinel_password,omitempty"`
	// DB is the database number (standalone and Sentinel only).
	DB int `json:"db,omitempty"`
	// TLS, when present, connects with TLS (implied by rediss://).
	TLS *RedisTLS `json:"tls,omitempty"`
	// KeyPrefix starts every key and the revocation channel (default "oauthgate:").
	// Instances that share tokens must use the same prefix.
	KeyPrefix string `json:"key_prefix,omitempty"`
	// PoolSize is the number of connections per Redis node (default 10 per CPU).
	PoolSize int `json:"pool_size,omitempty"`
	// Timeout bounds each dial, read and write (default 1s), so an outage
	// answers 503 quickly instead of holding requests.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	store   *redisstore.Store
	poolKey string
}

// RedisTLS configures TLS to Redis.
type RedisTLS struct {
	// CA is a PEM file of the CAs to trust (default: the system's).
	CA string `json:"ca,omitempty"`
	// ServerName to verify instead of the address's host.
	ServerName string `json:"server_name,omitempty"`
}

type pooledRedis struct{ *redisstore.Store }

// Destruct retires the client of a config that is gone: it closes once the
// requests that config still serves have stopped using it (no command for
// a second, at most 30 s), so a reload that opens a new client costs no 503.
func (p pooledRedis) Destruct() error {
	p.CloseWhenIdle(time.Second, 30*time.Second)
	return nil
}

// CaddyModule returns the Caddy module information.
func (RedisStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "oauthgate.stores.redis",
		New: func() caddy.Module { return new(RedisStore) },
	}
}

// Provision expands placeholders and takes the client for these settings
// from the pool, connecting (and checking Redis answers) only if it is new.
func (r *RedisStore) Provision(ctx caddy.Context) error {
	redisLogOnce.Do(func() { goredis.SetLogger(redisLogger{}) })
	cfg, err := r.config(caddy.NewReplacer())
	if err != nil {
		return fmt.Errorf("store redis: %v", err)
	}
	if _, err := cfg.Options(); err != nil {
		return fmt.Errorf("store redis: %v", err)
	}
	cfg.OnDataLoss = func(reason string) {
		caddy.Log().Named("oauthgate.stores.redis").Error("Redis has lost its data ("+reason+"): the revocations made before "+
			"are forgotten, so revoked JWTs validate again until they expire, and dynamic clients are gone; refresh tokens, codes and "+
			"opaque tokens issued before no longer work. Run Redis with persistence (appendonly yes), and check for a restart "+
			"without it or a failover to a replica that had not caught up", zap.String("key_prefix", cmp.Or(r.KeyPrefix, redisstore.DefaultPrefix)))
	}
	key := "oauthgate.stores.redis " + cfg.Identity()
	v, loaded, err := redisPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		s, err := redisstore.Open(pingCtx, cfg)
		if err != nil {
			return nil, err
		}
		return pooledRedis{s}, nil
	})
	if err != nil {
		return fmt.Errorf("store redis: %v; check the `store redis` settings (url or addresses, password, tls) and that Redis is running", err)
	}
	r.store, r.poolKey = v.(pooledRedis).Store, key
	prefix := cmp.Or(r.KeyPrefix, redisstore.DefaultPrefix)
	ctx.Logger().Info("redis store ready", zap.Strings("addresses", cfg.Addrs), zap.Bool("url", cfg.URL != ""),
		zap.Bool("reused_connection", loaded), zap.String("key_prefix", prefix))
	return nil
}

// config expands placeholders ({env.REDIS_PASSWORD}) into the settings the
// store package takes. Errors name the field, never its value.
func (r *RedisStore) config(repl *caddy.Replacer) (redisstore.Config, error) {
	expand := func(field, s string) (string, error) {
		if s == "" {
			return "", nil
		}
		v, err := repl.ReplaceOrErr(s, true, true)
		if err != nil {
			return "", fmt.Errorf("%s: %v (is the environment variable set?)", field, err)
		}
		return v, nil
	}
	cfg := redisstore.Config{Cluster: r.Cluster, DB: r.DB, PoolSize: r.PoolSize,
		Timeout: time.Duration(r.Timeout), Prefix: r.KeyPrefix, TLS: r.TLS != nil}
	var err error
	for _, f := range []struct {
		name string
		in   string
		out  *string
	}{
		{"url", r.URL, &cfg.URL}, {"master_name", r.MasterName, &cfg.MasterName},
		{"username", r.Username, &cfg.Username}, {"password", r.Password, &cfg.Password},
		{"sentinel_username", r.SentinelUsername, &cfg.SentinelUsername},
		{"sentinel_password", r.SentinelPassword, &cfg.SentinelPassword},
	} {
		if *f.out, err = expand(f.name, f.in); err != nil {
			return cfg, err
		}
	}
	for _, a := range r.Addresses {
		a, err := expand("addresses", a)
		if err != nil {
			return cfg, err
		}
		cfg.Addrs = append(cfg.Addrs, a)
	}
	if r.TLS != nil {
		cfg.TLSServerName = r.TLS.ServerName
		if cfg.TLSCAFile, err = expand("tls ca", r.TLS.CA); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// Cleanup releases this config's reference; the last one closes the client.
func (r *RedisStore) Cleanup() error {
	if r.poolKey == "" {
		return nil
	}
	_, err := redisPool.Delete(r.poolKey)
	return err
}

// TokenStore implements StoreModule.
func (r *RedisStore) TokenStore() tokenstore.Store { return r.store }

// redisLogger sends go-redis's own messages (connection trouble, with
// addresses and causes, never command arguments) to Caddy's log.
type redisLogger struct{}

func (redisLogger) Printf(_ context.Context, format string, v ...any) {
	caddy.Log().Named("oauthgate.stores.redis").Warn(fmt.Sprintf(format, v...))
}

// Interface guards
var (
	_ caddy.Provisioner  = (*RedisStore)(nil)
	_ caddy.CleanerUpper = (*RedisStore)(nil)
	_ StoreModule        = (*RedisStore)(nil)
)

// Package redis is the token store shared by several instances: standalone
// Redis, Sentinel or Cluster through go-redis's UniversalClient.
//
// Layout, every key under the configured prefix (default "oauthgate:") and
// with a TTL taken from what it holds, so nothing grows without bound:
//
//	<prefix>access:<sha256 base64url>  string: grant              until the token expires
//	<prefix>code:{<sha256 hex>}        hash: g grant, p payload, u  until the code expires
//	<prefix>refresh:{<sha256 hex>}     hash: g grant, u           until the token expires
//	<prefix>consent:{<sha256 hex>}     string: scopes JSON        until the consent ends
//	<prefix>revoked:{<sha256 hex>}     string: until (Unix ms)    until what it denies expires
//	<prefix>clients                    hash: id → record JSON     no TTL: configuration
//
// Tokens and codes reach the store only as SHA-256 keys (tokenstore.Key);
// consent and revocation keys are hashed too, so every key is a prefix, a
// kind and a digest. Access tokens, the most numerous entries, get the
// shortest key — the digest's unpadded base64url and no hash tag, so that
// it fits Redis's 64-byte allocation class — and a grant in the compact
// binary form of codec.go: Redis memory per live token is a target
// (TestMemoryPerAccessToken; the figures are in bench/NOTES.md).
//
// Every command touches one key, so nothing crosses a hash slot on a
// Cluster; the braces would keep the keys of one artifact in one slot, were
// a command ever to span several. Where an operation needs several keys
// (one revocation per id in IsRevokedAny,
// an access token and its deny-list entries in GetAccessChecked) it
// pipelines one command per key: one round trip, which a Cluster client
// sends to the nodes concerned at once. Revocations are also published on
// the channel <prefix>revocations (see FollowRevocations).
package redis

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// Options configure a Store around an existing client. Zero values take defaults.
type Options struct {
	// Prefix starts every key and the revocation channel (default DefaultPrefix).
	Prefix string
	// CallTimeout bounds each store call, retries included (default 3×DefaultTimeout).
	CallTimeout time.Duration
	// Now is the clock grants are checked against (default time.Now).
	Now func() time.Time
}

// Store implements tokenstore.Store and tokenstore.ClientRecords on Redis.
// It is safe for concurrent use; Close closes its client.
type Store struct {
	rdb     goredis.UniversalClient
	prefix  string
	channel string
	timeout time.Duration
	now     func() time.Time
	marker  *marker // nil: not watched (New without Open)
	ops     atomic.Uint64
}

// Open connects as cfg says and checks that Redis answers, so a wrong
// address fails at start rather than on the first request.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	opts, err := cfg.Options()
	if err != nil {
		return nil, err
	}
	m := &marker{onLoss: cfg.OnDataLoss, every: cmp.Or(cfg.MarkerEvery, DefaultMarkerEvery), kick: make(chan struct{}, 1)}
	opts.OnConnect = m.connected
	rdb := goredis.NewUniversalClient(opts)
	if cc, ok := rdb.(*goredis.ClusterClient); ok {
		cc.AddHook(reloadOnNetworkError{cc})
	}
	s := New(rdb, Options{Prefix: cfg.prefix(), CallTimeout: 3 * cfg.timeout()})
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("cannot reach Redis at %v: %w", opts.Addrs, err)
	}
	if err := s.startMarker(ctx, m); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("cannot write to Redis at %v: %w", opts.Addrs, err)
	}
	return s, nil
}

// New wraps a client; the Store owns it from then on.
func New(rdb goredis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 3 * DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{rdb: rdb, prefix: opts.Prefix, channel: opts.Prefix + "revocations",
		timeout: opts.CallTimeout, now: opts.Now}
	rdb.AddHook(activity{&s.ops})
	return s
}

// Client is the underlying go-redis client.
func (s *Store) Client() goredis.UniversalClient { return s.rdb }

// Close closes the client and with it any subscription.
func (s *Store) Close() error {
	s.stopMarker()
	return s.rdb.Close()
}

// key builds <prefix><kind>:{<hex>}.
func (s *Store) key(kind string, k tokenstore.Key) string {
	return s.prefix + kind + ":{" + k.String() + "}"
}

// accessKey builds <prefix>access:<base64url>.
func (s *Store) accessKey(k tokenstore.Key) string {
	return s.prefix + "access:" + base64.RawURLEncoding.EncodeToString(k[:])
}

// bound caps a call so an unreachable Redis answers within the timeout.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// unavailable wraps a backend failure. go-redis errors carry addresses and
// causes, never command arguments, so no key or value leaks into the text.
func unavailable(op string, err error) error {
	return fmt.Errorf("redis store: %s: %w: %w", op, tokenstore.ErrUnavailable, err)
}

// live reports whether an entry expiring at exp may be kept at all.
func (s *Store) live(exp time.Time) bool { return s.now().Before(exp) }

// PutAccess implements tokenstore.AccessTokens.
func (s *Store) PutAccess(ctx context.Context, k tokenstore.Key, g tokenstore.Grant) error {
	if !s.live(g.ExpiresAt) {
		return nil // already expired: reads would not find it anyway
	}
	val, err := encodeGrant(g)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	err = s.rdb.SetArgs(ctx, s.accessKey(k), val, goredis.SetArgs{Mode: "NX", ExpireAt: g.ExpiresAt}).Err()
	switch {
	case errors.Is(err, goredis.Nil):
		return tokenstore.ErrExists
	case err != nil:
		return unavailable("put access token", err)
	}
	return nil
}

// GetAccess implements tokenstore.AccessTokens.
func (s *Store) GetAccess(ctx context.Context, k tokenstore.Key) (tokenstore.Grant, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	val, err := s.rdb.Get(ctx, s.accessKey(k)).Bytes()
	return s.accessGrant(val, err)
}

// accessGrant finishes reading an access-token record from its GET's answer.
func (s *Store) accessGrant(val []byte, err error) (tokenstore.Grant, error) {
	if errors.Is(err, goredis.Nil) {
		return tokenstore.Grant{}, tokenstore.ErrNotFound
	}
	if err != nil {
		return tokenstore.Grant{}, unavailable("get access token", err)
	}
	return s.decode(val)
}

// GetAccessChecked implements tokenstore.AccessChecker: the GET of the
// record and one EXISTS per non-empty id go in one pipeline, so reading an
// opaque token and checking its deny-list entries costs one round trip (on
// a Cluster, one to each node concerned, sent at once).
func (s *Store) GetAccessChecked(ctx context.Context, k tokenstore.Key, ids ...string) (tokenstore.Grant, bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var get *goredis.StringCmd
	var buf [2]*goredis.IntCmd // a token's id and family: no allocation for the slice
	exists := buf[:0]
	_, err := s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		get = p.Get(ctx, s.accessKey(k))
		for _, id := range ids {
			if id != "" {
				exists = append(exists, p.Exists(ctx, s.revokedKey(id)))
			}
		}
		return nil
	})
	// The pipeline's error is its first command's; a GET miss (Nil) would
	// hide a failed EXISTS behind it, so every command is looked at.
	if err != nil && !errors.Is(err, goredis.Nil) {
		return tokenstore.Grant{}, false, unavailable("get access token", err)
	}
	revoked := false
	for _, c := range exists {
		if c.Err() != nil {
			return tokenstore.Grant{}, false, unavailable("check revocation", c.Err())
		}
		revoked = revoked || c.Val() > 0
	}
	val, err := get.Bytes()
	g, err := s.accessGrant(val, err)
	if err != nil {
		return tokenstore.Grant{}, false, err
	}
	return g, revoked, nil
}

// DeleteAccess implements tokenstore.AccessTokens.
func (s *Store) DeleteAccess(ctx context.Context, k tokenstore.Key) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.rdb.Del(ctx, s.accessKey(k)).Err(); err != nil {
		return unavailable("delete access token", err)
	}
	return nil
}

// decode reads a stored grant, treating one past its expiry as gone (Redis
// drops it at that instant; the local clock may run slightly ahead).
func (s *Store) decode(val []byte) (tokenstore.Grant, error) {
	g, err := decodeGrant(val)
	if err != nil {
		return g, fmt.Errorf("redis store: %w: %w", err, tokenstore.ErrUnavailable)
	}
	if !s.live(g.ExpiresAt) {
		return tokenstore.Grant{}, tokenstore.ErrNotFound
	}
	return g, nil
}

func (s *Store) del(ctx context.Context, op, key string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.rdb.Del(ctx, key).Err(); err != nil {
		return unavailable(op, err)
	}
	return nil
}

// PutCode implements tokenstore.Codes.
func (s *Store) PutCode(ctx context.Context, k tokenstore.Key, g tokenstore.Grant, payload []byte) error {
	return s.putOnce(ctx, "code", k, g, payload)
}

// GetCode implements tokenstore.Codes.
func (s *Store) GetCode(ctx context.Context, k tokenstore.Key) (tokenstore.Grant, []byte, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	v, err := s.rdb.HMGet(ctx, s.key("code", k), "g", "p", "u").Result()
	if err != nil {
		return tokenstore.Grant{}, nil, unavailable("get code", err)
	}
	gs, ok := v[0].(string)
	if !ok {
		return tokenstore.Grant{}, nil, tokenstore.ErrNotFound
	}
	g, err := s.decode([]byte(gs))
	if err != nil {
		return g, nil, err
	}
	if v[2] != nil {
		return g, nil, tokenstore.ErrReused
	}
	var payload []byte
	if p, _ := v[1].(string); p != "" {
		payload = []byte(p)
	}
	return g, payload, nil
}

// TakeCode implements tokenstore.Codes.
func (s *Store) TakeCode(ctx context.Context, k tokenstore.Key) (tokenstore.Grant, []byte, error) {
	return s.take(ctx, "code", k)
}

// PutRefresh implements tokenstore.RefreshTokens.
func (s *Store) PutRefresh(ctx context.Context, k tokenstore.Key, g tokenstore.Grant) error {
	return s.putOnce(ctx, "refresh", k, g, nil)
}

// TakeRefresh implements tokenstore.RefreshTokens.
func (s *Store) TakeRefresh(ctx context.Context, k tokenstore.Key) (tokenstore.Grant, error) {
	g, _, err := s.take(ctx, "refresh", k)
	return g, err
}

// GetRefresh implements tokenstore.RefreshTokens: redeemed tokens are not found.
func (s *Store) GetRefresh(ctx context.Context, k tokenstore.Key) (tokenstore.Grant, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	v, err := s.rdb.HMGet(ctx, s.key("refresh", k), "g", "u").Result()
	if err != nil {
		return tokenstore.Grant{}, unavailable("get refresh token", err)
	}
	g, ok := v[0].(string)
	if !ok || v[1] != nil {
		return tokenstore.Grant{}, tokenstore.ErrNotFound
	}
	return s.decode([]byte(g))
}

// DeleteRefresh implements tokenstore.RefreshTokens.
func (s *Store) DeleteRefresh(ctx context.Context, k tokenstore.Key) error {
	return s.del(ctx, "delete refresh token", s.key("refresh", k))
}

func (s *Store) putOnce(ctx context.Context, kind string, k tokenstore.Key, g tokenstore.Grant, payload []byte) error {
	if !s.live(g.ExpiresAt) {
		return nil
	}
	val, err := encodeGrant(g)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := putOnce.Run(ctx, s.rdb, []string{s.key(kind, k)}, val, payload, g.ExpiresAt.UnixMilli()).Int()
	if err != nil {
		return unavailable("put "+kind, err)
	}
	if n == 0 {
		return tokenstore.ErrExists
	}
	return nil
}

// take is the atomic single-use redemption; see the take script.
func (s *Store) take(ctx context.Context, kind string, k tokenstore.Key) (tokenstore.Grant, []byte, error) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	ctx, cancel := s.bound(ctx)
	defer cancel()
	r, err := take.Run(ctx, s.rdb, []string{s.key(kind, k)}, hex.EncodeToString(nonce[:])).Slice()
	if err != nil {
		return tokenstore.Grant{}, nil, unavailable("redeem "+kind, err)
	}
	if len(r) < 2 {
		return tokenstore.Grant{}, nil, tokenstore.ErrNotFound
	}
	gs, _ := r[1].(string)
	g, err := s.decode([]byte(gs))
	if err != nil {
		return g, nil, err
	}
	if len(r) == 2 {
		return g, nil, tokenstore.ErrReused
	}
	var payload []byte
	if p, _ := r[2].(string); p != "" {
		payload = []byte(p)
	}
	return g, payload, nil
}

// consentKey hashes a length-prefixed pair, so "a:b"+"c" and "a"+"b:c" differ.
func (s *Store) consentKey(subject, clientID string) string {
	return s.key("consent", tokenstore.KeyOf(strconv.Itoa(len(subject))+":"+subject+clientID))
}

// PutConsent implements tokenstore.Consents.
func (s *Store) PutConsent(ctx context.Context, subject, clientID string, scopes []string, until time.Time) error {
	key := s.consentKey(subject, clientID)
	if !s.live(until) {
		return s.del(ctx, "put consent", key) // replaced by nothing
	}
	val, err := json.Marshal(scopes)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.rdb.SetArgs(ctx, key, val, goredis.SetArgs{ExpireAt: until}).Err(); err != nil {
		return unavailable("put consent", err)
	}
	return nil
}

// GetConsent implements tokenstore.Consents.
func (s *Store) GetConsent(ctx context.Context, subject, clientID string) ([]string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	val, err := s.rdb.Get(ctx, s.consentKey(subject, clientID)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, tokenstore.ErrNotFound
	}
	if err != nil {
		return nil, unavailable("get consent", err)
	}
	var scopes []string
	if err := json.Unmarshal(val, &scopes); err != nil {
		return nil, fmt.Errorf("redis store: undecodable consent: %w", tokenstore.ErrUnavailable)
	}
	return scopes, nil
}

// DeleteConsent implements tokenstore.Consents.
func (s *Store) DeleteConsent(ctx context.Context, subject, clientID string) error {
	return s.del(ctx, "delete consent", s.consentKey(subject, clientID))
}

// Ping implements tokenstore.Store.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Interface guards
var (
	_ tokenstore.Store = (*Store)(nil)
)

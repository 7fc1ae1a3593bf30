package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

func (s *Store) revokedKey(id string) string {
	return s.key("revoked", tokenstore.KeyOf(id))
}

// Revoke implements tokenstore.Revocations. The id is also published on
// <prefix>revocations for the caches of every instance (see Subscribe).
func (s *Store) Revoke(ctx context.Context, id string, until time.Time) error {
	if !s.live(until) {
		return nil // what it denies has expired already
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := revoke.Run(ctx, s.rdb, []string{s.revokedKey(id)}, until.UnixMilli(), s.channel, id).Err(); err != nil {
		return unavailable("revoke", err)
	}
	return nil
}

// IsRevoked implements tokenstore.Revocations. It always asks Redis, the
// source of truth; only caches in front of it rely on Subscribe.
func (s *Store) IsRevoked(ctx context.Context, id string) (bool, error) {
	return s.revokedKeyExists(ctx, s.revokedKey(id))
}

func (s *Store) revokedKeyExists(ctx context.Context, key string) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := s.rdb.Exists(ctx, key).Result()
	if err != nil {
		return false, unavailable("check revocation", err)
	}
	return n == 1, nil
}

// IsRevokedAny implements tokenstore.RevokedAny: one EXISTS per id in one
// pipeline, so one round trip on a standalone server or Sentinel's master,
// and on a Cluster one to each node concerned, at once. A multi-key EXISTS
// would be a single command, but a Cluster refuses keys of several slots.
func (s *Store) IsRevokedAny(ctx context.Context, ids ...string) (bool, error) {
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" {
			keys = append(keys, s.revokedKey(id))
		}
	}
	switch len(keys) {
	case 0:
		return false, nil
	case 1:
		return s.revokedKeyExists(ctx, keys[0])
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	cmds := make([]*goredis.IntCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Exists(ctx, k)
		}
		return nil
	})
	if err != nil {
		return false, unavailable("check revocation", err)
	}
	for _, c := range cmds {
		if c.Val() > 0 {
			return true, nil
		}
	}
	return false, nil
}

// Subscribe calls onRevoked with every id revoked through any Store on the
// same Redis and prefix, until ctx is done. See SubscribeWithResync.
func (s *Store) Subscribe(ctx context.Context, onRevoked func(id string)) error {
	return s.SubscribeWithResync(ctx, onRevoked, nil)
}

// SubscribeWithResync keeps a subscription to <prefix>revocations alive in
// the background until ctx is done: after a dropped connection or a Redis
// restart it resubscribes by itself. It returns once the first
// subscription is confirmed, or with an ErrUnavailable error when that
// takes longer than the call timeout (it keeps trying regardless).
//
// Pub/Sub does not replay what was published while a subscriber was away,
// so onResync, when not nil, is called after every resubscription: a cache
// should then drop what it may have missed. onRevoked and onResync run on
// one goroutine, in order.
func (s *Store) SubscribeWithResync(ctx context.Context, onRevoked func(id string), onResync func()) error {
	ps := s.rdb.Subscribe(ctx, s.channel)
	// Subscription messages mark each (re)subscription; the health check
	// pings an idle connection so a silent drop is noticed within seconds.
	ch := ps.ChannelWithSubscriptions(goredis.WithChannelHealthCheckInterval(time.Second),
		goredis.WithChannelPingTimeout(s.timeout), goredis.WithChannelReconnectTimeout(s.timeout))
	ready := make(chan struct{})
	go func() {
		defer ps.Close()
		subscribed := false
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-ch:
				if !ok {
					return // the client was closed
				}
				switch m := m.(type) {
				case *goredis.Message:
					onRevoked(m.Payload)
				case *goredis.Subscription:
					if m.Kind != "subscribe" {
						continue
					}
					if !subscribed {
						subscribed = true
						close(ready)
					} else if onResync != nil {
						onResync()
					}
				}
			}
		}
	}()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.timeout):
		return fmt.Errorf("redis store: subscribe to %s: %w (still trying)", s.channel, tokenstore.ErrUnavailable)
	}
}

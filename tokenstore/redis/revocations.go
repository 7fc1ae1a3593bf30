package redis

import (
	"context"
	"errors"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

func (s *Store) revokedKey(id string) string {
	return s.key("revoked", tokenstore.KeyOf(id))
}

// Revoke implements tokenstore.Revocations. The id is also published on
// <prefix>revocations for the caches of every instance (see FollowRevocations).
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
// source of truth; only caches in front of it rely on FollowRevocations.
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

// feedHeartbeat is how long the revocation subscription may stay silent
// before it is pinged; a ping unanswered for as long again means the
// subscription is lost.
const feedHeartbeat = time.Second

// FollowRevocations implements tokenstore.RevocationFeed: it keeps a
// subscription to <prefix>revocations in the background until ctx is done,
// reading it itself rather than through go-redis's Channel, which hides a
// lost connection and may drop messages when its buffer is full. f.FeedUp
// follows each confirmed (re)subscription; f.FeedDown follows an error on
// the connection or a ping left unanswered, and the subscription then
// starts again on a new connection (after a Sentinel failover, to the new
// master).
func (s *Store) FollowRevocations(ctx context.Context, f tokenstore.RevocationFollower) {
	go func() {
		up := false
		down := func() {
			if up {
				up = false
				f.FeedDown()
			}
		}
		defer down()
		for ctx.Err() == nil {
			if closed := s.followOnce(ctx, f, &up, down); closed {
				return
			}
			if ctx.Err() == nil {
				select { // a short pause before a new connection
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}()
}

// followOnce runs one subscription until it fails; closed reports that the
// store was closed, which ends the feed.
func (s *Store) followOnce(ctx context.Context, f tokenstore.RevocationFollower, up *bool, down func()) (closed bool) {
	ps := s.rdb.Subscribe(ctx, s.channel)
	defer ps.Close()
	defer down()
	pinged := false
	for ctx.Err() == nil {
		m, err := ps.ReceiveTimeout(ctx, feedHeartbeat)
		if errors.Is(err, goredis.ErrClosed) {
			return true
		}
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || pinged || !*up {
				// A broken connection, a ping left unanswered, or a
				// subscription not confirmed in time.
				return false
			}
			if ps.Ping(ctx) != nil {
				return false
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := m.(type) {
		case *goredis.Message:
			f.NoteRevoked(m.Payload)
		case *goredis.Subscription:
			if m.Kind == "subscribe" && m.Channel == s.channel && !*up {
				*up = true
				f.FeedUp()
			}
		}
	}
	return false
}

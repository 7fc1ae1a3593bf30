// Revocations in Redis: the deny-list, and the revocation feed on pub/sub with heartbeats.

package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"strings"
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

// The feed proves itself end to end: every feedHeartbeat a following
// store publishes a heartbeat of its own on the channel, through the
// connection that publishes revocations, and when none of its heartbeats
// has come back through the subscription for feedLost, the subscription is
// taken as lost — whatever the cause: a dropped or hung connection, or a
// subscription left on a server that no longer receives what the master
// publishes (a Sentinel or Cluster failover).
const (
	feedHeartbeat = 250 * time.Millisecond
	feedLost      = time.Second
)

// heartbeatPrefix starts the channel's heartbeats; no revoked id does (ids
// are base64url, or "client:" and a client id).
const heartbeatPrefix = "heartbeat "

// FollowRevocations implements tokenstore.RevocationFeed: it keeps a
// subscription to <prefix>revocations in the background until ctx is done
// or the store is closed, reading it itself rather than through
// go-redis's Channel, which hides a lost connection and may drop messages
// when its buffer is full. f.FeedUp follows each confirmed subscription
// once its first heartbeat is back; f.FeedDown follows an error on the
// connection or heartbeats that stop coming back, and the subscription
// then starts again on a new connection (after a failover, to the new
// master).
func (s *Store) FollowRevocations(ctx context.Context, f tokenstore.RevocationFollower) {
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	beat := heartbeatPrefix + hex.EncodeToString(nonce[:])
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
			if closed := s.followOnce(ctx, f, beat, &up, down); closed {
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
func (s *Store) followOnce(ctx context.Context, f tokenstore.RevocationFollower, beat string, up *bool, down func()) (closed bool) {
	ps := s.rdb.Subscribe(ctx, s.channel)
	defer ps.Close()
	defer down()
	start := time.Now()
	var subscribed bool
	var heard, sent time.Time // our last heartbeat back; the last one sent
	for ctx.Err() == nil {
		now := time.Now()
		switch {
		case !subscribed && now.Sub(start) > feedLost:
			return false // the subscription was never confirmed
		case subscribed && now.Sub(heard) > feedLost:
			return false // our heartbeats stopped coming back
		case subscribed && now.Sub(sent) >= feedHeartbeat:
			pctx, cancel := context.WithTimeout(ctx, feedHeartbeat)
			_ = s.rdb.Publish(pctx, s.channel, beat).Err() // a failure shows as heartbeats not heard
			cancel()
			sent = now
		}
		m, err := ps.ReceiveTimeout(ctx, feedHeartbeat)
		if errors.Is(err, goredis.ErrClosed) {
			return true
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return false // a broken connection
		}
		switch m := m.(type) {
		case *goredis.Message:
			if strings.HasPrefix(m.Payload, heartbeatPrefix) {
				if m.Payload == beat {
					heard = time.Now()
					if !*up {
						*up = true
						f.FeedUp()
					}
				}
				continue
			}
			if *up {
				f.NoteRevoked(m.Payload)
			}
		case *goredis.Subscription:
			if m.Kind == "subscribe" && m.Channel == s.channel && !subscribed {
				subscribed, heard = true, time.Now()
			}
		}
	}
	return false
}

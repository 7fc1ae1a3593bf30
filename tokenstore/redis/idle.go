// CloseWhenIdle: closing a retired Redis client only once nobody has used it for a while.

package redis

import (
	"context"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// activity counts the commands a client sends, so that CloseWhenIdle can
// tell when nobody uses it any more.
type activity struct{ n *atomic.Uint64 }

func (a activity) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (a activity) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		a.n.Add(1)
		return next(ctx, cmd)
	}
}

func (a activity) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		a.n.Add(1)
		return next(ctx, cmds)
	}
}

// CloseWhenIdle closes the store once no command has been sent for quiet
// (or after at most max), without waiting for it. A config reload that
// opens a new client retires the old one this way: requests the old config
// is still serving finish on it instead of meeting a closed client.
func (s *Store) CloseWhenIdle(quiet, max time.Duration) {
	s.stopMarker()
	go func() {
		deadline := time.Now().Add(max)
		last, since := s.ops.Load(), time.Now()
		tick := time.NewTicker(quiet / 4)
		defer tick.Stop()
		for now := range tick.C {
			if n := s.ops.Load(); n != last {
				last, since = n, now
			}
			if now.Sub(since) >= quiet || now.After(deadline) {
				_ = s.rdb.Close()
				return
			}
		}
	}()
}

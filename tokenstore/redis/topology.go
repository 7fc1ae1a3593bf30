// Reloading a Redis Cluster's slot map on network errors, so a master failover costs seconds.

package redis

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	goredis "github.com/redis/go-redis/v9"
)

// reloadOnNetworkError makes a Cluster client re-read the topology as soon
// as a node stops answering. go-redis reloads it on MOVED and ASK, and
// otherwise only every 60 s — and a master that died sends no MOVED: its
// slots kept going to a dead address for up to a minute after the replica
// had taken over. The reload is lazy (one at a time, 200 ms apart), so an
// outage costs a few CLUSTER SLOTS a second, and service returns as soon as
// the failover is done.
type reloadOnNetworkError struct{ c *goredis.ClusterClient }

func (h reloadOnNetworkError) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h reloadOnNetworkError) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		if networkError(err) {
			h.c.ReloadState(ctx)
		}
		return err
	}
}

func (h reloadOnNetworkError) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		err := next(ctx, cmds)
		if networkError(err) {
			h.c.ReloadState(ctx)
		}
		return err
	}
}

// networkError: the node is unreachable or the connection broke — not an
// answer from Redis, and not a caller giving up.
func networkError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, context.DeadlineExceeded)
}

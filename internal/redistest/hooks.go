// Reads: a go-redis hook that counts the GET and EXISTS a client sends, alone and in pipelines.

package redistest

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Reads is a go-redis hook that counts the store's reads a client sends:
// GET and EXISTS alone (Single), and pipelines holding them (Pipelines). A
// new connection's handshake (HELLO, CLIENT SETINFO) and a Cluster
// client's own CLUSTER SLOTS are the client's business and are left out.
// When Delay is set, every pipeline waits that long first.
type Reads struct {
	Single, Pipelines atomic.Int32
	Delay             *atomic.Int64 // time.Duration
}

func isRead(cmd goredis.Cmder) bool { return cmd.Name() == "get" || cmd.Name() == "exists" }

// Reset sets both counts to zero.
func (h *Reads) Reset() {
	h.Single.Store(0)
	h.Pipelines.Store(0)
}

func (h *Reads) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *Reads) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if isRead(cmd) {
			h.Single.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *Reads) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if slices.ContainsFunc(cmds, isRead) {
			h.Pipelines.Add(1)
		}
		if h.Delay != nil {
			time.Sleep(time.Duration(h.Delay.Load()))
		}
		return next(ctx, cmds)
	}
}

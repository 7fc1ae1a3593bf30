// Dump: every key and value of test Redis nodes, as an attacker with a copy of the data would see.

package redistest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Entry is one key as a dump shows it.
type Entry struct {
	Key   string
	Type  string
	TTL   time.Duration // -1: none (as PTTL reports it)
	Value string        // strings as is; hashes as "field=value" lines
}

// Dump reads every key and value of the given nodes (one standalone server,
// or every master of a cluster), ordered by key: what an attacker with a
// copy of the data would see.
func Dump(t testing.TB, nodes ...*Server) []Entry {
	t.Helper()
	ctx := context.Background()
	var out []Entry
	for _, n := range nodes {
		c := goredis.NewClient(&goredis.Options{Addr: n.Addr, Password: n.Password})
		keys, err := c.Keys(ctx, "*").Result()
		if err != nil {
			c.Close()
			t.Fatalf("dump %s: %v", n.Addr, err)
		}
		for _, k := range keys {
			e := Entry{Key: k, Type: c.Type(ctx, k).Val(), TTL: c.PTTL(ctx, k).Val()}
			switch e.Type {
			case "string":
				e.Value = c.Get(ctx, k).Val()
			case "hash":
				var lines []string
				for f, v := range c.HGetAll(ctx, k).Val() {
					lines = append(lines, f+"="+v)
				}
				sort.Strings(lines)
				e.Value = strings.Join(lines, "\n")
			default:
				e.Value = fmt.Sprintf("(%s)", e.Type)
			}
			out = append(out, e)
		}
		c.Close()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

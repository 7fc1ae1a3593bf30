// The memory store's Caddyfile parsing: `store memory { … }`.

package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile sets up the memory store:
//
//	store memory {
//		max_entries <n>
//	}
func (m *MemoryStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // module name
	for d.NextBlock(0) {
		switch d.Val() {
		case "max_entries":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				return d.Errf("max_entries must be a positive integer, not %q", s)
			}
			m.MaxEntries = n
		default:
			return d.Errf("unrecognized memory store option %q", d.Val())
		}
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*MemoryStore)(nil)

// The memory store module: one in-process store, shared across config reloads through a usage pool.

package caddymodule

import (
	"github.com/caddyserver/caddy/v2"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	"github.com/oauthgate/caddy-oauthgate/tokenstore/memory"
)

func init() {
	caddy.RegisterModule(MemoryStore{})
}

// memoryPool keeps the memory store across config reloads (CONFORMANCE S5):
// a reload provisions the new config before cleaning up the old one, so the
// reference count never drops to zero and nothing issued is lost.
var memoryPool = caddy.NewUsagePool()

const memoryPoolKey = "oauthgate.stores.memory"

// MemoryStore is the in-process token store, the default. It serves one
// instance; use the redis store for several.
type MemoryStore struct {
	// MaxEntries bounds live codes, tokens and revocations together
	// (default 1,000,000). At the bound, issuance answers 503 rather than
	// evicting live tokens.
	MaxEntries int `json:"max_entries,omitempty"`

	store *memory.Store
}

type pooledMemory struct{ *memory.Store }

func (p pooledMemory) Destruct() error { return p.Close() }

// CaddyModule returns the Caddy module information.
func (MemoryStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "oauthgate.stores.memory",
		New: func() caddy.Module { return new(MemoryStore) },
	}
}

// Provision takes the shared store from the pool, creating it once.
func (m *MemoryStore) Provision(caddy.Context) error {
	v, _, err := memoryPool.LoadOrNew(memoryPoolKey, func() (caddy.Destructor, error) {
		return pooledMemory{memory.New(memory.Options{MaxEntries: m.MaxEntries})}, nil
	})
	if err != nil {
		return err
	}
	m.store = v.(pooledMemory).Store
	m.store.SetMaxEntries(m.MaxEntries)
	return nil
}

// Cleanup releases this config's reference.
func (m *MemoryStore) Cleanup() error {
	if m.store == nil {
		return nil
	}
	_, err := memoryPool.Delete(memoryPoolKey)
	return err
}

// TokenStore implements StoreModule.
func (m *MemoryStore) TokenStore() tokenstore.Store { return m.store }

// Interface guards
var (
	_ caddy.Provisioner  = (*MemoryStore)(nil)
	_ caddy.CleanerUpper = (*MemoryStore)(nil)
	_ StoreModule        = (*MemoryStore)(nil)
)

// Dynamic client records in Redis: one hash without a TTL.

package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// Dynamic clients live in one hash, <prefix>clients, without a TTL: they
// are configuration an operator creates and deletes, not per-request data,
// so they do not grow with traffic.

func (s *Store) clientsKey() string { return s.prefix + "clients" }

// CreateClient implements tokenstore.ClientRecords.
func (s *Store) CreateClient(ctx context.Context, c tokenstore.Client) error {
	val, err := json.Marshal(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ok, err := s.rdb.HSetNX(ctx, s.clientsKey(), c.ID, val).Result()
	if err != nil {
		return unavailable("create client", err)
	}
	if !ok {
		return tokenstore.ErrExists
	}
	return nil
}

// UpdateClient implements tokenstore.ClientRecords.
func (s *Store) UpdateClient(ctx context.Context, c tokenstore.Client) error {
	val, err := json.Marshal(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := updateClient.Run(ctx, s.rdb, []string{s.clientsKey()}, c.ID, val).Int()
	if err != nil {
		return unavailable("update client", err)
	}
	if n == 0 {
		return tokenstore.ErrNotFound
	}
	return nil
}

// GetClient implements tokenstore.ClientRecords.
func (s *Store) GetClient(ctx context.Context, id string) (tokenstore.Client, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	val, err := s.rdb.HGet(ctx, s.clientsKey(), id).Bytes()
	if errors.Is(err, goredis.Nil) {
		return tokenstore.Client{}, tokenstore.ErrNotFound
	}
	if err != nil {
		return tokenstore.Client{}, unavailable("get client", err)
	}
	return decodeClient(val)
}

// ListClients implements tokenstore.ClientRecords.
func (s *Store) ListClients(ctx context.Context) ([]tokenstore.Client, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	all, err := s.rdb.HGetAll(ctx, s.clientsKey()).Result()
	if err != nil {
		return nil, unavailable("list clients", err)
	}
	out := make([]tokenstore.Client, 0, len(all))
	for _, val := range all {
		c, err := decodeClient([]byte(val))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b tokenstore.Client) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteClient implements tokenstore.ClientRecords.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := s.rdb.HDel(ctx, s.clientsKey(), id).Result()
	if err != nil {
		return unavailable("delete client", err)
	}
	if n == 0 {
		return tokenstore.ErrNotFound
	}
	return nil
}

func decodeClient(val []byte) (tokenstore.Client, error) {
	var c tokenstore.Client
	if err := json.Unmarshal(val, &c); err != nil {
		return c, fmt.Errorf("redis store: undecodable client record: %w", tokenstore.ErrUnavailable)
	}
	return c, nil
}

// A store wrapper that times every store operation and counts its failures for the metrics.

package caddymodule

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// measuredStore times every store operation and counts its failures
// (CONFORMANCE O1). Not-found, reused and exists are answers, not failures.
type measuredStore struct {
	s    tokenstore.Store
	m    *metrics
	log  *zap.Logger // for the revocation feed's changes; nil: not logged
	full *fullNotice // nil: not told
}

func (ms measuredStore) observe(op string, start time.Time, err error) {
	ms.m.storeOps.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, tokenstore.ErrNotFound) && !errors.Is(err, tokenstore.ErrReused) && !errors.Is(err, tokenstore.ErrExists) {
		ms.m.storeErrors.WithLabelValues(op).Inc()
		if errors.Is(err, tokenstore.ErrFull) {
			ms.m.storeFull.Inc()
			ms.full.note()
		}
	}
}

// fullNotice logs that the store is full, at most once a minute: a full
// memory store refuses new codes and tokens like an outage would, and the
// operator needs to know it is the limit, not Redis or the network.
type fullNotice struct {
	logger *zap.Logger
	now    func() time.Time
	last   atomic.Int64 // unix nanoseconds of the last line
}

func (f *fullNotice) note() {
	if f == nil {
		return
	}
	now := f.now().UnixNano()
	last := f.last.Load()
	if now-last < int64(time.Minute) || !f.last.CompareAndSwap(last, now) {
		return
	}
	f.logger.Error("the token store is full: its max_entries is reached, so new codes and tokens are refused with 503 " +
		"until entries expire; raise max_entries in the store block (store memory { max_entries N }) or shorten token lifetimes")
}

func (ms measuredStore) PutAccess(ctx context.Context, k tokenstore.Key, g tokenstore.Grant) (err error) {
	defer func(t time.Time) { ms.observe("put_access", t, err) }(time.Now())
	return ms.s.PutAccess(ctx, k, g)
}

func (ms measuredStore) GetAccess(ctx context.Context, k tokenstore.Key) (g tokenstore.Grant, err error) {
	defer func(t time.Time) { ms.observe("get_access", t, err) }(time.Now())
	return ms.s.GetAccess(ctx, k)
}

func (ms measuredStore) DeleteAccess(ctx context.Context, k tokenstore.Key) (err error) {
	defer func(t time.Time) { ms.observe("delete_access", t, err) }(time.Now())
	return ms.s.DeleteAccess(ctx, k)
}

func (ms measuredStore) PutCode(ctx context.Context, k tokenstore.Key, g tokenstore.Grant, p []byte) (err error) {
	defer func(t time.Time) { ms.observe("put_code", t, err) }(time.Now())
	return ms.s.PutCode(ctx, k, g, p)
}

func (ms measuredStore) GetCode(ctx context.Context, k tokenstore.Key) (g tokenstore.Grant, p []byte, err error) {
	defer func(t time.Time) { ms.observe("get_code", t, err) }(time.Now())
	return ms.s.GetCode(ctx, k)
}

func (ms measuredStore) TakeCode(ctx context.Context, k tokenstore.Key) (g tokenstore.Grant, p []byte, err error) {
	defer func(t time.Time) { ms.observe("take_code", t, err) }(time.Now())
	return ms.s.TakeCode(ctx, k)
}

func (ms measuredStore) PutRefresh(ctx context.Context, k tokenstore.Key, g tokenstore.Grant) (err error) {
	defer func(t time.Time) { ms.observe("put_refresh", t, err) }(time.Now())
	return ms.s.PutRefresh(ctx, k, g)
}

func (ms measuredStore) TakeRefresh(ctx context.Context, k tokenstore.Key) (g tokenstore.Grant, err error) {
	defer func(t time.Time) { ms.observe("take_refresh", t, err) }(time.Now())
	return ms.s.TakeRefresh(ctx, k)
}

func (ms measuredStore) GetRefresh(ctx context.Context, k tokenstore.Key) (g tokenstore.Grant, err error) {
	defer func(t time.Time) { ms.observe("get_refresh", t, err) }(time.Now())
	return ms.s.GetRefresh(ctx, k)
}

func (ms measuredStore) DeleteRefresh(ctx context.Context, k tokenstore.Key) (err error) {
	defer func(t time.Time) { ms.observe("delete_refresh", t, err) }(time.Now())
	return ms.s.DeleteRefresh(ctx, k)
}

func (ms measuredStore) PutConsent(ctx context.Context, sub, cid string, scopes []string, until time.Time) (err error) {
	defer func(t time.Time) { ms.observe("put_consent", t, err) }(time.Now())
	return ms.s.PutConsent(ctx, sub, cid, scopes, until)
}

func (ms measuredStore) GetConsent(ctx context.Context, sub, cid string) (s []string, err error) {
	defer func(t time.Time) { ms.observe("get_consent", t, err) }(time.Now())
	return ms.s.GetConsent(ctx, sub, cid)
}

func (ms measuredStore) DeleteConsent(ctx context.Context, sub, cid string) (err error) {
	defer func(t time.Time) { ms.observe("delete_consent", t, err) }(time.Now())
	return ms.s.DeleteConsent(ctx, sub, cid)
}

func (ms measuredStore) Revoke(ctx context.Context, id string, until time.Time) (err error) {
	defer func(t time.Time) { ms.observe("revoke", t, err) }(time.Now())
	return ms.s.Revoke(ctx, id, until)
}

func (ms measuredStore) IsRevoked(ctx context.Context, id string) (ok bool, err error) {
	defer func(t time.Time) { ms.observe("is_revoked", t, err) }(time.Now())
	return ms.s.IsRevoked(ctx, id)
}

func (ms measuredStore) IsRevokedAny(ctx context.Context, ids ...string) (ok bool, err error) {
	defer func(t time.Time) { ms.observe("is_revoked_any", t, err) }(time.Now())
	return ms.s.IsRevokedAny(ctx, ids...)
}

func (ms measuredStore) GetAccessChecked(ctx context.Context, k tokenstore.Key, ids ...string) (g tokenstore.Grant, revoked bool, err error) {
	defer func(t time.Time) { ms.observe("get_access_checked", t, err) }(time.Now())
	return ms.s.GetAccessChecked(ctx, k, ids...)
}

func (ms measuredStore) CreateClient(ctx context.Context, c tokenstore.Client) (err error) {
	defer func(t time.Time) { ms.observe("create_client", t, err) }(time.Now())
	return ms.s.CreateClient(ctx, c)
}

func (ms measuredStore) UpdateClient(ctx context.Context, c tokenstore.Client) (err error) {
	defer func(t time.Time) { ms.observe("update_client", t, err) }(time.Now())
	return ms.s.UpdateClient(ctx, c)
}

func (ms measuredStore) GetClient(ctx context.Context, id string) (c tokenstore.Client, err error) {
	defer func(t time.Time) { ms.observe("get_client", t, err) }(time.Now())
	return ms.s.GetClient(ctx, id)
}

func (ms measuredStore) ListClients(ctx context.Context) (cs []tokenstore.Client, err error) {
	defer func(t time.Time) { ms.observe("list_clients", t, err) }(time.Now())
	return ms.s.ListClients(ctx)
}

func (ms measuredStore) DeleteClient(ctx context.Context, id string) (err error) {
	defer func(t time.Time) { ms.observe("delete_client", t, err) }(time.Now())
	return ms.s.DeleteClient(ctx, id)
}

// FollowRevocations counts and logs the feed's losses, so an operator sees
// when the verified-token cache stopped answering, and why requests then
// cost a store round trip (or 503 while the store is down).
func (ms measuredStore) FollowRevocations(ctx context.Context, f tokenstore.RevocationFollower) {
	ms.s.FollowRevocations(ctx, measuredFollower{f, ms.m, ms.log})
}

type measuredFollower struct {
	tokenstore.RevocationFollower
	m   *metrics
	log *zap.Logger
}

func (f measuredFollower) FeedDown() {
	f.m.storeErrors.WithLabelValues("revocation_feed").Inc()
	if f.log != nil {
		f.log.Warn("lost the store's revocation feed: the verified-token cache is off, every token is checked against the store until the feed is back")
	}
	f.RevocationFollower.FeedDown()
}

func (f measuredFollower) FeedUp() {
	if f.log != nil {
		f.log.Info("following the store's revocation feed: the verified-token cache is on")
	}
	f.RevocationFollower.FeedUp()
}

func (ms measuredStore) Ping(ctx context.Context) (err error) {
	defer func(t time.Time) { ms.observe("ping", t, err) }(time.Now())
	return ms.s.Ping(ctx)
}

// Interface guards
var (
	_ tokenstore.Store = measuredStore{}
)

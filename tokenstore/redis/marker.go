// Detecting Redis data loss with a marker key checked after reconnects and on a timer.

package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// A Redis that loses its data — restarted without persistence, failed over
// to a replica that was empty, flushed — silently forgets revocations
// (revoked JWTs validate again until they expire) and dynamic clients. It
// answers as if nothing happened, so the store writes a marker key when it
// opens and checks it after every new connection and every markerEvery: a
// missing marker, or one another instance wrote again, is a data loss.

// DefaultMarkerEvery is how often the marker is checked besides reconnects.
const DefaultMarkerEvery = 10 * time.Second

// kickSpacing is the least time between two checks asked for by new
// connections.
const kickSpacing = 2 * time.Second

// markerTTL keeps the one marker key bounded like every other key; each
// check renews it.
const markerTTL = 30 * 24 * time.Hour

type marker struct {
	onLoss func(reason string)
	every  time.Duration
	kick   chan struct{}
	stop   context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	value  string // the marker as this store last saw it
	losses atomic.Uint64
}

func (s *Store) markerKey() string { return s.prefix + "marker" }

// DataLosses is how many times this store found Redis had lost its data.
func (s *Store) DataLosses() uint64 {
	if s.marker == nil {
		return 0
	}
	return s.marker.losses.Load()
}

// connected is go-redis's OnConnect: a new connection (after a restart or
// a failover, too) asks for a check, without waiting for it.
func (m *marker) connected(context.Context, *goredis.Conn) error {
	select {
	case m.kick <- struct{}{}:
	default:
	}
	return nil
}

// startMarker writes the marker (or adopts the one other instances wrote)
// and watches it until Close.
func (s *Store) startMarker(ctx context.Context, m *marker) error {
	v, err := s.adoptMarker(ctx)
	if err != nil {
		return err
	}
	m.value = v
	wctx, stop := context.WithCancel(context.Background())
	m.stop, m.done = stop, make(chan struct{})
	s.marker = m
	go func() {
		defer close(m.done)
		t := time.NewTicker(m.every)
		defer t.Stop()
		last := time.Now() // adoptMarker was a check
		var deferred <-chan time.Time
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			case <-deferred:
				deferred = nil
			case <-m.kick:
				// A pool opening many connections asks once: the check
				// waits until kickSpacing after the last one.
				if d := time.Until(last.Add(kickSpacing)); d > 0 {
					if deferred == nil {
						deferred = time.After(d)
					}
					continue
				}
			}
			last = time.Now()
			s.checkMarker(wctx)
		}
	}()
	return nil
}

// adoptMarker sets the marker when there is none and returns its value.
func (s *Store) adoptMarker(ctx context.Context) (string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.rdb.SetNX(ctx, s.markerKey(), hex.EncodeToString(b[:]), markerTTL).Result(); err != nil {
		return "", unavailable("write the marker", err)
	}
	v, err := s.rdb.Get(ctx, s.markerKey()).Result()
	if err != nil {
		return "", unavailable("read the marker", err)
	}
	return v, nil
}

// checkMarker compares the marker with what this store saw last. Errors
// (Redis unreachable) wait for the next connection or tick.
func (s *Store) checkMarker(ctx context.Context) {
	m := s.marker
	cctx, cancel := s.bound(ctx)
	v, err := s.rdb.GetEx(cctx, s.markerKey(), markerTTL).Result()
	cancel()
	var reason string
	switch {
	case errors.Is(err, goredis.Nil):
		reason = "the marker key written at start is gone"
		if v, err = s.adoptMarker(ctx); err != nil {
			return // reported once the marker can be written again
		}
	case err != nil:
		return
	default:
		m.mu.Lock()
		seen := m.value
		m.mu.Unlock()
		if v == seen {
			return
		}
		reason = "the marker key was written anew (another instance found it gone)"
	}
	m.mu.Lock()
	m.value = v
	m.mu.Unlock()
	m.losses.Add(1)
	if m.onLoss != nil {
		m.onLoss(reason)
	}
}

// stopMarker ends the watch (Close).
func (s *Store) stopMarker() {
	if s.marker != nil && s.marker.stop != nil {
		s.marker.stop()
		<-s.marker.done
	}
}

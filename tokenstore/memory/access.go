// The memory store's access token table: entries without pointers, shared reference-counted principals.

package memory

import (
	"encoding/binary"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// accessTable holds the live opaque access tokens — the entries a busy
// gateway has by the million — in a form the garbage collector need not
// look into. A tokenstore.Grant is a dozen pointers (strings, slices,
// time zones); a million of them made every collection cycle walk the whole
// table, which cost a loaded gateway more than its store lookups did. Here
// the map from token hash to entry holds no pointers at all: what tokens
// share (client, subject, scopes, audience) is kept once per distinct
// combination and reference-counted, ids live inline, times as Unix
// nanoseconds. Grants whose ids do not fit inline (never ours: 22
// characters) are kept as they are, in spill.
//
// Callers hold the store's lock: reads under RLock, the rest under Lock.
type accessTable struct {
	entries    map[tokenstore.Key]accessEntry
	principals []principal
	index      map[string]uint32 // principal key → position in principals
	free       []uint32          // unused positions in principals
	spill      map[tokenstore.Key]tokenstore.Grant
}

type accessEntry struct {
	issued, expires, authTime int64 // Unix ns; authTime 0: none
	refreshCount              int32
	principal                 uint32
	id, family                inlineID
}

// inlineID is a string of up to 23 bytes, its length first.
type inlineID [24]byte

func (b *inlineID) set(s string) bool {
	if len(s) >= len(b) {
		return false
	}
	b[0] = byte(len(s))
	copy(b[1:], s)
	return true
}

func (b *inlineID) String() string { return string(b[1 : 1+b[0]]) }

// principal is what many tokens share.
type principal struct {
	clientID, subject string
	scopes, audience  []string
	key               string
	refs              int
}

func newAccessTable() *accessTable {
	return &accessTable{entries: map[tokenstore.Key]accessEntry{}, index: map[string]uint32{}, spill: map[tokenstore.Key]tokenstore.Grant{}}
}

func (t *accessTable) len() int { return len(t.entries) + len(t.spill) }

// principalKey spells the shared part of g unambiguously (length-prefixed).
func principalKey(g *tokenstore.Grant) string {
	var b []byte
	field := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	field(g.ClientID)
	field(g.Subject)
	for _, list := range [][]string{g.Scopes, g.Audience} {
		b = binary.AppendUvarint(b, uint64(len(list)))
		for _, s := range list {
			field(s)
		}
	}
	return string(b)
}

func (t *accessTable) acquire(g *tokenstore.Grant) uint32 {
	key := principalKey(g)
	if i, ok := t.index[key]; ok {
		t.principals[i].refs++
		return i
	}
	p := principal{clientID: g.ClientID, subject: g.Subject, scopes: clip(g.Scopes), audience: clip(g.Audience), key: key, refs: 1}
	var i uint32
	if n := len(t.free); n > 0 {
		i, t.free = t.free[n-1], t.free[:n-1]
		t.principals[i] = p
	} else {
		i = uint32(len(t.principals))
		t.principals = append(t.principals, p)
	}
	t.index[key] = i
	return i
}

func (t *accessTable) release(i uint32) {
	p := &t.principals[i]
	if p.refs--; p.refs == 0 {
		delete(t.index, p.key)
		*p = principal{}
		t.free = append(t.free, i)
	}
}

// clip copies a list so the caller's later changes cannot reach the store,
// with no spare capacity, so an append by a reader copies instead of
// writing into what other grants share.
func clip(s []string) []string {
	if s == nil {
		return nil
	}
	return append(make([]string, 0, len(s)), s...)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// put stores g under k, replacing what k held.
func (t *accessTable) put(k tokenstore.Key, g tokenstore.Grant) {
	t.del(k)
	e := accessEntry{issued: unixNano(g.IssuedAt), expires: unixNano(g.ExpiresAt), authTime: unixNano(g.AuthTime),
		refreshCount: int32(g.RefreshCount)}
	if !e.id.set(g.ID) || !e.family.set(g.FamilyID) || int(e.refreshCount) != g.RefreshCount {
		g.Scopes, g.Audience = clip(g.Scopes), clip(g.Audience)
		t.spill[k] = g
		return
	}
	e.principal = t.acquire(&g)
	t.entries[k] = e
}

// get returns the grant under k, expired or not.
func (t *accessTable) get(k tokenstore.Key) (tokenstore.Grant, bool) {
	e, ok := t.entries[k]
	if !ok {
		g, ok := t.spill[k]
		return g, ok
	}
	p := &t.principals[e.principal]
	return tokenstore.Grant{ClientID: p.clientID, Subject: p.subject, Scopes: p.scopes, Audience: p.audience,
		IssuedAt: fromUnixNano(e.issued), ExpiresAt: fromUnixNano(e.expires), AuthTime: fromUnixNano(e.authTime),
		RefreshCount: int(e.refreshCount), ID: e.id.String(), FamilyID: e.family.String()}, true
}

// expiresAt returns when the grant under k expires.
func (t *accessTable) expiresAt(k tokenstore.Key) (time.Time, bool) {
	if e, ok := t.entries[k]; ok {
		return fromUnixNano(e.expires), true
	}
	g, ok := t.spill[k]
	return g.ExpiresAt, ok
}

func (t *accessTable) del(k tokenstore.Key) {
	if e, ok := t.entries[k]; ok {
		delete(t.entries, k)
		t.release(e.principal)
		return
	}
	delete(t.spill, k)
}

// sweep drops every grant expired at now.
func (t *accessTable) sweep(now time.Time) {
	n := now.UnixNano()
	for k, e := range t.entries {
		if e.expires <= n {
			delete(t.entries, k)
			t.release(e.principal)
		}
	}
	for k, g := range t.spill {
		if !now.Before(g.ExpiresAt) {
			delete(t.spill, k)
		}
	}
}

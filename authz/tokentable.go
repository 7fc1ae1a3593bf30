package authz

import (
	"sync"
)

// tokenTable stores the verified-token cache. The garbage collector walks
// every live object and every pointer on each cycle, so a cache of many
// tokens must not be many objects: the index (a map of fixed-size keys to
// slot numbers) and the slots (numbers only) hold no pointers at all, and
// the one pointer per token, to its shared Principal, lives in an array the
// collector reads straight through. A cache of 200,000 tokens is a few
// allocations, not 200,000.
//
// It is split into shards, each under its own lock, with a fixed share of
// the capacity; a full shard evicts with the CLOCK algorithm (a token used
// since the hand last passed gets a second chance), expired tokens first.
type tokenTable struct {
	shards [tokenShards]tokenShard
}

const tokenShards = 64

type tokenShard struct {
	mu    sync.Mutex
	index map[cacheKey]int32
	slots []tokenSlot
	// principals[i] is slots[i]'s principal.
	principals []*Principal
	capacity   int
	hand       int
	_          [48]byte // 128 bytes a shard: neighbouring locks share no cache line
}

type tokenSlot struct {
	key  cacheKey
	f    tokenFacts
	used bool
}

func newTokenTable(size int) *tokenTable {
	t := new(tokenTable)
	per := max((size+tokenShards-1)/tokenShards, 1)
	for i := range t.shards {
		t.shards[i].capacity = per
		t.shards[i].index = make(map[cacheKey]int32)
	}
	return t
}

// The keys are hashes or signatures: their first byte spreads them evenly.
func (t *tokenTable) shard(k *cacheKey) *tokenShard { return &t.shards[int(k[0])%tokenShards] }

// get returns the entry stored under k.
func (t *tokenTable) get(k cacheKey) (cacheEntry, bool) {
	s := t.shard(&k)
	s.mu.Lock()
	i, ok := s.index[k]
	if !ok {
		s.mu.Unlock()
		return cacheEntry{}, false
	}
	slot := &s.slots[i]
	slot.used = true
	e := cacheEntry{p: s.principals[i], tokenFacts: slot.f}
	s.mu.Unlock()
	return e, true
}

// put stores e under k. When the shard is full, an expired entry (at now,
// Unix nanoseconds) or one not used since the hand last passed makes room.
func (t *tokenTable) put(k cacheKey, e cacheEntry, now int64) {
	s := t.shard(&k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.index[k]; ok {
		s.slots[i].f, s.principals[i] = e.tokenFacts, e.p
		return
	}
	if len(s.slots) < s.capacity {
		s.index[k] = int32(len(s.slots))
		s.slots = append(s.slots, tokenSlot{key: k, f: e.tokenFacts})
		s.principals = append(s.principals, e.p)
		return
	}
	for {
		v := &s.slots[s.hand]
		if !v.used || v.f.exp <= now {
			break
		}
		v.used = false
		s.hand = (s.hand + 1) % len(s.slots)
	}
	i := s.hand
	delete(s.index, s.slots[i].key)
	s.index[k] = int32(i)
	s.slots[i], s.principals[i] = tokenSlot{key: k, f: e.tokenFacts}, e.p
	s.hand = (i + 1) % len(s.slots)
}

// clear drops every entry.
func (t *tokenTable) clear() {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		clear(s.index)
		clear(s.principals)
		s.slots, s.principals, s.hand = s.slots[:0], s.principals[:0], 0
		s.mu.Unlock()
	}
}

// len counts the entries.
func (t *tokenTable) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.index)
		s.mu.Unlock()
	}
	return n
}

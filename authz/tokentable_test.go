package authz

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// tkey returns a key of shard 0 (all of them, so one shard's capacity is
// exercised) numbered n.
func tkey(n int) cacheKey {
	var k cacheKey
	k[0] = 0
	k[1], k[2] = byte(n), byte(n>>8)
	return k
}

func entryOf(n int, exp int64) cacheEntry {
	return cacheEntry{p: &Principal{Subject: fmt.Sprint(n)}, tokenFacts: tokenFacts{input: uint64(n), exp: exp}}
}

// A full shard makes room with CLOCK: an entry used since the hand passed
// gets a second chance, an expired one none; the size bound always holds.
func TestTokenTableEviction(t *testing.T) {
	const now, later = 1000, 5000
	tab := newTokenTable(4 * tokenShards) // 4 per shard
	for n := range 4 {
		tab.put(tkey(n), entryOf(n, later), now)
	}
	if _, ok := tab.get(tkey(1)); !ok { // 1 is used
		t.Fatal("entry 1 missing")
	}
	tab.put(tkey(4), entryOf(4, later), now) // evicts 0, the first unused
	tab.put(tkey(5), entryOf(5, later), now) // 1 had its second chance: 2 goes
	for n, want := range []bool{false, true, false, true, true, true} {
		if _, ok := tab.get(tkey(n)); ok != want {
			t.Fatalf("entry %d present = %v, want %v", n, ok, want)
		}
	}
	if n := tab.len(); n != 4 {
		t.Fatalf("%d entries in a table of 4 per shard", n)
	}
	// Everything is used now; an expired entry goes before any of them.
	tab.put(tkey(6), entryOf(6, now), now) // replaces one, expiring at now
	for _, n := range []int{1, 4, 5, 6} {
		tab.get(tkey(n)) // all in use
	}
	tab.put(tkey(7), entryOf(7, later), now) // must evict 6, expired
	if _, ok := tab.get(tkey(6)); ok {
		t.Fatal("an expired entry outlived used ones")
	}
	// Overwriting keeps one entry with the new value.
	tab.put(tkey(7), entryOf(70, later), now)
	if e, ok := tab.get(tkey(7)); !ok || e.p.Subject != "70" || e.input != 70 || tab.len() != 4 {
		t.Fatalf("overwrite: %+v %v, %d entries", e, ok, tab.len())
	}
	tab.clear()
	if _, ok := tab.get(tkey(7)); ok || tab.len() != 0 {
		t.Fatal("clear left entries")
	}
}

// Under concurrent use each key always answers with its own principal and
// facts, whatever was evicted meanwhile (run with -race by test.sh).
func TestTokenTableConcurrent(t *testing.T) {
	tab := newTokenTable(512)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 20_000 {
				n := r.IntN(2000)
				var k cacheKey
				k[0], k[1], k[2] = byte(n*7), byte(n), byte(n>>8)
				if e, ok := tab.get(k); ok {
					if e.p.Subject != fmt.Sprint(n) || e.input != uint64(n) {
						panic(fmt.Sprintf("key %d answered with %q/%d", n, e.p.Subject, e.input))
					}
					continue
				}
				tab.put(k, entryOf(n, 1<<62), 0)
			}
		}()
	}
	wg.Wait()
	if n := tab.len(); n > 512+tokenShards {
		t.Fatalf("%d entries in a table of 512", n)
	}
}

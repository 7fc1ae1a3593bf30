// Tests of the memory store's access token table: no pointers, sharing and release, sweeps when full.

package memory

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// The table of access tokens must stay free of pointers: that is what
// keeps a million live tokens out of the garbage collector's way.
func TestAccessEntryHasNoPointers(t *testing.T) {
	var walk func(reflect.Type, string)
	walk = func(ty reflect.Type, path string) {
		switch ty.Kind() {
		case reflect.Struct:
			for i := range ty.NumField() {
				walk(ty.Field(i).Type, path+"."+ty.Field(i).Name)
			}
		case reflect.Array:
			walk(ty.Elem(), path+"[]")
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		default:
			t.Errorf("%s is a %s: the access table would hold pointers again", path, ty.Kind())
		}
	}
	walk(reflect.TypeFor[accessEntry](), "accessEntry")
	walk(reflect.TypeFor[tokenstore.Key](), "Key")
}

// Shared parts are kept once and released with the last token using them;
// ids too long to keep inline still round-trip.
func TestAccessTableSharesAndReleases(t *testing.T) {
	s, clock := newHarness(t, Options{})
	ctx := context.Background()
	now := clock.Now()
	scopes := []string{"api", "read"}
	put := func(tok string, g tokenstore.Grant) {
		t.Helper()
		if err := s.PutAccess(ctx, tokenstore.KeyOf(tok), g); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		put(fmt.Sprint("shared-", i), tokenstore.Grant{ClientID: "c1", Subject: "alice", Scopes: scopes, Audience: []string{"api.example"},
			IssuedAt: now, ExpiresAt: now.Add(time.Duration(i+1) * time.Minute), ID: fmt.Sprintf("id-%019d", i), FamilyID: "fam"})
	}
	put("other", tokenstore.Grant{ClientID: "c2", Subject: "bob", IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: "x",
		AuthTime: now.Add(-time.Minute), RefreshCount: 3})
	long := strings.Repeat("L", 40)
	put("long", tokenstore.Grant{ClientID: "c1", Subject: "alice", Scopes: scopes, IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: long, FamilyID: long})
	scopes[0] = "changed by the caller" // after the put: must not reach the store

	if n := len(s.access.index); n != 2 {
		t.Fatalf("%d distinct principals kept, want 2", n)
	}
	g, err := s.GetAccess(ctx, tokenstore.KeyOf("shared-7"))
	if err != nil || g.ID != "id-0000000000000000007" || g.FamilyID != "fam" || fmt.Sprint(g.Scopes) != "[api read]" ||
		g.Subject != "alice" || !g.ExpiresAt.Equal(now.Add(8*time.Minute)) || !g.IssuedAt.Equal(now) || !g.AuthTime.IsZero() {
		t.Fatalf("shared-7: %+v, %v", g, err)
	}
	if g, _ := s.GetAccess(ctx, tokenstore.KeyOf("other")); !g.AuthTime.Equal(now.Add(-time.Minute)) || g.RefreshCount != 3 || g.Scopes != nil {
		t.Fatalf("other: %+v", g)
	}
	if g, _ := s.GetAccess(ctx, tokenstore.KeyOf("long")); g.ID != long || g.FamilyID != long || fmt.Sprint(g.Scopes) != "[api read]" {
		t.Fatalf("long ids: %+v", g)
	}
	// Half the shared tokens expire and are swept, the rest deleted: the
	// shared part goes with the last of them.
	clock.Advance(25*time.Minute + time.Second)
	s.Sweep()
	if _, err := s.GetAccess(ctx, tokenstore.KeyOf("shared-3")); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("expired token after sweep: %v", err)
	}
	if len(s.access.index) != 2 {
		t.Fatal("the shared part went while tokens still use it")
	}
	for i := 25; i < 50; i++ {
		_ = s.DeleteAccess(ctx, tokenstore.KeyOf(fmt.Sprint("shared-", i)))
	}
	if len(s.access.index) != 1 || len(s.access.free) != 1 {
		t.Fatalf("after the last shared token: %d principals, %d free", len(s.access.index), len(s.access.free))
	}
	// The freed slot is reused.
	put("again", tokenstore.Grant{ClientID: "c3", IssuedAt: clock.Now(), ExpiresAt: clock.Now().Add(time.Hour), ID: "y"})
	if len(s.access.principals) != 2 || len(s.access.free) != 0 {
		t.Fatalf("slot not reused: %d principals, %d free", len(s.access.principals), len(s.access.free))
	}
	if s.Len() != 3 {
		t.Fatalf("Len = %d, want 3 (other, long, again)", s.Len())
	}
}

// A store full of live tokens refuses puts without walking every entry
// each time, and takes them again as soon as room is made.
func TestFullStoreDoesNotSweepOnEveryPut(t *testing.T) {
	s, clock := newHarness(t, Options{MaxEntries: 2})
	ctx := context.Background()
	g := tokenstore.Grant{ClientID: "c", ExpiresAt: clock.Now().Add(time.Hour)}
	_ = s.PutAccess(ctx, tokenstore.KeyOf("a"), g)
	_ = s.PutAccess(ctx, tokenstore.KeyOf("b"), g)
	if err := s.PutAccess(ctx, tokenstore.KeyOf("c"), g); !errors.Is(err, tokenstore.ErrFull) {
		t.Fatalf("put into a full store: %v", err)
	}
	if s.fullUntil.IsZero() {
		t.Fatal("a sweep that freed nothing did not hold off the next ones")
	}
	_ = s.DeleteAccess(ctx, tokenstore.KeyOf("a"))
	if err := s.PutAccess(ctx, tokenstore.KeyOf("c"), g); err != nil {
		t.Fatalf("put after a delete made room: %v", err)
	}
}

func BenchmarkGetAccess(b *testing.B) {
	s := New(Options{})
	defer s.Close()
	now := time.Now()
	keys := make([]tokenstore.Key, 10_000)
	for i := range keys {
		keys[i] = tokenstore.KeyOf(fmt.Sprint("tok-", i))
		_ = s.PutAccess(context.Background(), keys[i], tokenstore.Grant{ClientID: "bench", Subject: "svc", Scopes: []string{"api"},
			IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: "0123456789abcdefghijkl", FamilyID: "0123456789abcdefghijkl"})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.GetAccess(context.Background(), keys[i%len(keys)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

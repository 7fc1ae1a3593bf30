// RunClients: the contract every tokenstore.ClientRecords must pass.

package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// RunClients runs the contract of tokenstore.ClientRecords.
func RunClients(t *testing.T, newStore func(t *testing.T) tokenstore.ClientRecords) {
	ctx := context.Background()
	s := newStore(t)
	now := time.Now().UTC().Truncate(time.Second)
	rec := tokenstore.Client{ID: "app-1", Name: "App", SecretHash: "ab", RedirectURIs: []string{"https://a/cb"},
		Grants: []string{"authorization_code"}, Scopes: []string{"api_v3"}, AccessTokenTTL: tokenstore.Duration(time.Hour), CreatedAt: now, UpdatedAt: now}
	if err := s.CreateClient(ctx, rec); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	if err := s.CreateClient(ctx, rec); !errors.Is(err, tokenstore.ErrExists) {
		t.Fatalf("CreateClient of a taken id: %v, want ErrExists", err)
	}
	got, err := s.GetClient(ctx, "app-1")
	if err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", rec) {
		t.Fatalf("GetClient = %+v, %v\nwant %+v", got, err, rec)
	}
	got.Scopes[0] = "changed" // must not reach the store
	rec.Disabled, rec.Name = true, "Renamed"
	if err := s.UpdateClient(ctx, rec); err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	if got, _ := s.GetClient(ctx, "app-1"); !got.Disabled || got.Name != "Renamed" || got.Scopes[0] != "api_v3" {
		t.Fatalf("after update: %+v", got)
	}
	if err := s.UpdateClient(ctx, tokenstore.Client{ID: "ghost"}); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("UpdateClient of a missing id: %v", err)
	}
	_ = s.CreateClient(ctx, tokenstore.Client{ID: "a-0", CreatedAt: now})
	list, err := s.ListClients(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "a-0" || list[1].ID != "app-1" {
		t.Fatalf("ListClients = %+v, %v", list, err)
	}
	if err := s.DeleteClient(ctx, "app-1"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if _, err := s.GetClient(ctx, "app-1"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("GetClient after delete: %v", err)
	}
	if err := s.DeleteClient(ctx, "app-1"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("DeleteClient twice: %v", err)
	}
}

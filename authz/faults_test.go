// Tests of a store failing mid-redemption: a 503, then the client's retry succeeds and revokes nothing.

package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

// faultStore is a real store that fails chosen operations once each, as a
// Redis failing over or hanging would: the write is not made.
type faultStore struct {
	tokenstore.Store
	mu   sync.Mutex
	fail map[string]int
}

func (f *faultStore) failOnce(op string) {
	f.mu.Lock()
	f.fail[op]++
	f.mu.Unlock()
}

func (f *faultStore) faulty(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[op] > 0 {
		f.fail[op]--
		return fmt.Errorf("%s: %w", op, tokenstore.ErrUnavailable)
	}
	return nil
}

func (f *faultStore) PutAccess(ctx context.Context, k tokenstore.Key, g tokenstore.Grant) error {
	if err := f.faulty("PutAccess"); err != nil {
		return err
	}
	return f.Store.PutAccess(ctx, k, g)
}

func (f *faultStore) PutRefresh(ctx context.Context, k tokenstore.Key, g tokenstore.Grant) error {
	if err := f.faulty("PutRefresh"); err != nil {
		return err
	}
	return f.Store.PutRefresh(ctx, k, g)
}

func (f *faultStore) TakeCode(ctx context.Context, k tokenstore.Key) (tokenstore.Grant, []byte, error) {
	if err := f.faulty("TakeCode"); err != nil {
		return tokenstore.Grant{}, nil, err
	}
	return f.Store.TakeCode(ctx, k)
}

func (f *faultStore) TakeRefresh(ctx context.Context, k tokenstore.Key) (tokenstore.Grant, error) {
	if err := f.faulty("TakeRefresh"); err != nil {
		return tokenstore.Grant{}, err
	}
	return f.Store.TakeRefresh(ctx, k)
}

func (f *faultStore) GetClient(ctx context.Context, id string) (tokenstore.Client, error) {
	if err := f.faulty("GetClient"); err != nil {
		return tokenstore.Client{}, err
	}
	return f.Store.GetClient(ctx, id)
}

// CONFORMANCE S4: a dynamic client that cannot be looked up because the
// store is down gets a 503 page at the authorization endpoint — never an
// "unknown application" (which would send its users away for good), never a
// redirect — and the same request works once the store answers.
func TestAuthorizeWhileRegistryDown(t *testing.T) {
	var faults *faultStore
	_, srv := flowFixture(t, func(c *Config) {
		faults = &faultStore{Store: c.Store, fail: map[string]int{}}
		c.Store = faults
	})
	if err := faults.CreateClient(t.Context(), tokenstore.Client{ID: "dyn", Grants: []string{GrantAuthorizationCode},
		Scopes: []string{"api_v3"}, RedirectURIs: []string{"https://dyn.example/cb"}, Public: true}); err != nil {
		t.Fatal(err)
	}
	u := srv.URL + PathAuthorize + "?response_type=code&client_id=dyn&state=s&code_challenge=" + pkcePair(testVerifier) + "&code_challenge_method=S256"
	faults.failOnce("GetClient")
	p := testutil.NewBrowser(t).Get(u)
	if p.Status != http.StatusServiceUnavailable || p.Header.Get("Location") != "" || !strings.Contains(p.Body, "cannot be reached") {
		t.Fatalf("registry down: %d %q %s", p.Status, p.Header.Get("Location"), p.Body)
	}
	if p := testutil.NewBrowser(t).Get(u); p.Status != http.StatusOK || !p.Form.Has("oauthgate_password") {
		t.Fatalf("registry back: %d %s", p.Status, p.Body)
	}
}

// Issue 17 item 11: a 503 from the token endpoint never leaves the code or
// refresh token used up. The store fails between the two writes of a
// redemption (the new tokens stored, the old artifact not yet used up — or
// the other way round on today's main) and the client retries as the 503
// advises: the retry gets tokens, and nothing was revoked.
// CONFORMANCE T3
// CONFORMANCE T4
// CONFORMANCE S4
func TestRetryAfterAStoreFailureMidRedemption(t *testing.T) {
	redisSrv := redistest.Start(t)
	cluster := redistest.StartCluster(t)
	stores := map[string]func(t *testing.T) tokenstore.Store{
		"memory": nil,
		"redis": func(t *testing.T) tokenstore.Store {
			return openRedisConfig(t, redisstore.Config{URL: redisSrv.URL(), Prefix: "faults-" + t.Name() + ":"})
		},
		"cluster": func(t *testing.T) tokenstore.Store {
			return openRedisConfig(t, redisstore.Config{Addrs: cluster.Addrs(), Prefix: "faults-" + t.Name() + ":"})
		},
	}
	for storeName, open := range stores {
		for _, format := range []TokenFormat{FormatJWT, FormatOpaque} {
			for _, op := range []string{"PutAccess", "PutRefresh", "TakeCode", "TakeRefresh"} {
				if op == "PutAccess" && format == FormatJWT {
					continue // JWT access tokens are not stored
				}
				t.Run(storeName+"/"+string(format)+"/"+op, func(t *testing.T) {
					var faults *faultStore
					f, srv := flowFixture(t, func(c *Config) {
						c.Format = format
						if open != nil {
							// Redis expires keys by its own clock.
							c.Store, c.Now = open(t), time.Now
						}
						faults = &faultStore{Store: c.Store, fail: map[string]int{}}
						c.Store = faults
					})
					tokens := func(status int, body string) (string, string) {
						t.Helper()
						if status != 200 {
							t.Fatalf("retry: %d %s", status, body)
						}
						var m struct{ AccessToken, RefreshToken string }
						var raw map[string]string
						_ = json.Unmarshal([]byte(body), &raw)
						m.AccessToken, m.RefreshToken = raw["access_token"], raw["refresh_token"]
						if _, err := f.srv.Verifier().Verify(t.Context(), m.AccessToken); err != nil {
							t.Fatalf("the retry's access token: %v", err)
						}
						return m.AccessToken, m.RefreshToken
					}
					refresh := func(rt string) (int, string) {
						rec := f.post(PathToken, "app", "app-secret-0123456789", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
						return rec.Code, rec.Body.String()
					}
					unavailable := func(status int, body string) {
						t.Helper()
						var m map[string]string
						_ = json.Unmarshal([]byte(body), &m)
						if status != 503 || m["error"] != "temporarily_unavailable" {
							t.Fatalf("with the store failing at %s: %d %s", op, status, body)
						}
					}

					code := codeVia(t, srv, testutil.NewBrowser(t))
					if op != "TakeRefresh" {
						faults.failOnce(op)
						unavailable(redeem(t, srv, code))
					}
					_, rt := tokens(redeem(t, srv, code))

					if op != "TakeCode" {
						faults.failOnce(op)
						unavailable(refresh(rt))
					}
					access, next := tokens(refresh(rt))
					// The family was not revoked by the retry, and the old
					// refresh token is used up now.
					if _, err := f.srv.Verifier().Verify(t.Context(), access); err != nil {
						t.Fatal(err)
					}
					if status, _ := refresh(next); status != 200 {
						t.Fatalf("the next rotation: %d", status)
					}
				})
			}
		}
	}
}

func openRedisConfig(t *testing.T, cfg redisstore.Config) tokenstore.Store {
	st, err := redisstore.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// Tests of the Redis store's Config: errors that never quote secrets, identities, TLS with a password.

package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/redistest"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	redisstore "github.com/oauthgate/caddy-oauthgate/tokenstore/redis"
)

func TestConfigErrorsNeverQuoteSecrets(t *testing.T) {
	const pw = "hunter2-secret"
	tests := map[string]struct {
		cfg  redisstore.Config
		want string
	}{
		"nothing":        {redisstore.Config{}, "set url or addresses"},
		"both":           {redisstore.Config{URL: "redis://a:1", Addrs: []string{"b:1"}}, "either url"},
		"bad url":        {redisstore.Config{URL: "redis://:" + pw + "@host:notaport"}, "not a valid redis://"},
		"bad scheme":     {redisstore.Config{URL: "http://:" + pw + "@host:6379"}, "not a valid redis://"},
		"cluster db":     {redisstore.Config{Addrs: []string{"a:1", "b:1"}, DB: 2}, "only database 0"},
		"missing ca":     {redisstore.Config{URL: "rediss://host:1", TLSCAFile: "/nonexistent/ca.pem"}, "tls ca"},
		"url and master": {redisstore.Config{URL: "redis://a:1", MasterName: "m"}, "either url"},
	}
	for name, tt := range tests {
		_, err := tt.cfg.Options()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tt.want)
		} else if strings.Contains(err.Error(), pw) {
			t.Errorf("%s: the error quotes the password: %v", name, err)
		}
	}
	o, err := redisstore.Config{URL: "redis://user:" + pw + "@h:6380/3"}.Options()
	if err != nil || o.Addrs[0] != "h:6380" || o.DB != 3 || o.Password != pw || o.Username != "user" ||
		o.ReadTimeout != redisstore.DefaultTimeout || o.MaxRetries != 1 {
		t.Fatalf("Options from a URL: %+v, %v", o, err)
	}
}

// CONFORMANCE S5
// The identity that keys shared clients changes with every setting and
// never holds a password.
func TestIdentity(t *testing.T) {
	const pw = "hunter2-secret"
	base := redisstore.Config{URL: "redis://:" + pw + "@h:6379", Prefix: "p:"}
	id := base.Identity()
	if strings.Contains(id, pw) || !strings.Contains(id, "h:6379") {
		t.Fatalf("identity %q", id)
	}
	if base.Identity() != id {
		t.Fatal("identity is not stable")
	}
	for name, c := range map[string]redisstore.Config{
		"password": {URL: "redis://:other@h:6379", Prefix: "p:"},
		"prefix":   {URL: base.URL, Prefix: "q:"},
		"db":       {URL: base.URL + "/1", Prefix: "p:"},
		"tls":      {URL: base.URL, Prefix: "p:", TLS: true},
		"timeout":  {URL: base.URL, Prefix: "p:", Timeout: 5 * time.Second},
	} {
		if c.Identity() == id {
			t.Errorf("changing the %s keeps the identity", name)
		}
	}
	if strings.Contains((redisstore.Config{Addrs: []string{"a:1"}, Password: pw}).Identity(), pw) {
		t.Fatal("identity holds the password")
	}
}

// CONFORMANCE S1
// TLS (rediss://, CA from a file) with a password.
func TestTLSWithPassword(t *testing.T) {
	t.Parallel()
	ca, cert, key := redistest.Certs(t)
	srv := redistest.StartTLS(t, cert, key, "--requirepass", "tls-pass-91c2")
	s := open(t, redisstore.Config{URL: "rediss://" + srv.Addr, Password: srv.Password, TLSCAFile: ca})
	ctx := context.Background()
	k := tokenstore.KeyOf("over-tls")
	if err := s.PutAccess(ctx, k, grantFor(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccess(ctx, k); err != nil {
		t.Fatal(err)
	}
	// Without the CA the server certificate is refused.
	_, err := redisstore.Open(ctx, redisstore.Config{URL: "rediss://" + srv.Addr, Password: srv.Password})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("TLS without trusting the CA: %v", err)
	}
}

// The Redis store's Config: go-redis options, TLS, timeouts, key prefix and a secret-free identity.

package redis

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// DefaultTimeout bounds each dial, read and write, so an outage answers
// within seconds instead of hanging requests.
const DefaultTimeout = time.Second

// DefaultPrefix starts every key and the revocation channel.
const DefaultPrefix = "oauthgate:"

// Config says how to reach Redis: a URL (standalone), or addresses
// (standalone, Cluster, or Sentinels with MasterName).
type Config struct {
	// URL is redis://[user:password@]host:port[/db] or rediss:// for TLS.
	URL string
	// Addrs: one address is a standalone server, several (or Cluster) a
	// Redis Cluster's seed nodes, and with MasterName the Sentinels.
	Addrs []string
	// Cluster treats a single address as a cluster seed.
	Cluster bool
	// MasterName selects Sentinel mode.
	MasterName string

	Username, Password                 string
	SentinelUsername, SentinelPassword string
	DB                                 int

	// TLS enables TLS (implied by a rediss:// URL). TLSCAFile is a PEM
	// bundle of trusted CAs (default: the system roots); TLSServerName
	// overrides the name checked in the server certificate.
	TLS                      bool
	TLSCAFile, TLSServerName string

	// PoolSize is the connection pool per node (default: go-redis's, 10 per CPU).
	PoolSize int
	// Timeout bounds each dial, read and write (default DefaultTimeout).
	Timeout time.Duration
	// Prefix starts every key (default DefaultPrefix).
	Prefix string

	// OnDataLoss is told when Redis turns out to have lost its data (the
	// marker written at Open is gone): revocations and dynamic clients with
	// it. MarkerEvery is how often the marker is checked besides after
	// every new connection (default DefaultMarkerEvery).
	OnDataLoss  func(reason string)
	MarkerEvery time.Duration
}

func (c Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c Config) prefix() string {
	if c.Prefix != "" {
		return c.Prefix
	}
	return DefaultPrefix
}

// Options turns the configuration into go-redis options. Errors never quote
// the URL or a password.
func (c Config) Options() (*goredis.UniversalOptions, error) {
	o := &goredis.UniversalOptions{
		Addrs: c.Addrs, IsClusterMode: c.Cluster, MasterName: c.MasterName,
		Username: c.Username, Password: c.Password, DB: c.DB,
		SentinelUsername: c.SentinelUsername, SentinelPassword: c.SentinelPassword,
		PoolSize: c.PoolSize,
	}
	tlsOn := c.TLS
	switch {
	case c.URL != "" && (len(c.Addrs) > 0 || c.Cluster || c.MasterName != ""):
		return nil, errors.New("set either url (one server) or addresses (cluster, sentinel), not both")
	case c.URL != "":
		u, err := goredis.ParseURL(c.URL)
		if err != nil {
			// The parser's message may quote the URL, password included.
			return nil, errors.New("url is not a valid redis:// or rediss:// URL (redis://[user:password@]host:port[/db])")
		}
		o.Addrs = []string{u.Addr}
		o.DB = u.DB
		o.Username, o.Password = firstOf(c.Username, u.Username), firstOf(c.Password, u.Password)
		tlsOn = tlsOn || u.TLSConfig != nil
	case len(c.Addrs) == 0:
		return nil, errors.New("set url or addresses")
	}
	if (len(o.Addrs) > 1 || c.Cluster) && c.MasterName == "" && o.DB != 0 {
		return nil, errors.New("a Redis Cluster has only database 0: remove db")
	}
	if tlsOn {
		tc, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		o.TLSConfig = tc
	}
	t := c.timeout()
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = t, t, t, t
	// One dial per attempt and one retry: an outage fails fast. Retrying is
	// safe: single-use redemptions are idempotent per call (see take).
	o.DialerRetries, o.MaxRetries = 1, 1
	o.ContextTimeoutEnabled = true
	// No CLIENT SETINFO on connect: one command fewer for ACLs to allow.
	o.DisableIdentity = true
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return o, nil
}

func (c Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName}
	if c.TLSCAFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(c.TLSCAFile)
	if err != nil {
		return nil, fmt.Errorf("tls ca: %v", err)
	}
	tc.RootCAs = x509.NewCertPool()
	if !tc.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls ca: %s holds no PEM certificate", c.TLSCAFile)
	}
	return tc, nil
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// identityKey keys the password digests in Identity: random per process, so
// an identity string reveals nothing even to a dictionary attack.
var identityKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}()

func digest(secret string) string {
	if secret == "" {
		return ""
	}
	m := hmac.New(sha256.New, identityKey)
	m.Write([]byte(secret))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// Identity names the connection the configuration describes, for sharing
// one client between configs (caddy reload): every setting that changes the
// client or the keys is in it, passwords only as keyed digests.
func (c Config) Identity() string {
	where := strings.Join(c.Addrs, ",")
	pass := c.Password
	if c.URL != "" {
		where = "url:" + digest(c.URL) // the URL may hold a password
		if u, err := url.Parse(c.URL); err == nil {
			where = u.Redacted()
			if p, ok := u.User.Password(); ok && pass == "" {
				pass = p
			}
		}
	}
	return fmt.Sprintf("%s cluster=%t master=%s db=%d user=%s pass=%s suser=%s spass=%s tls=%t,%s,%s pool=%d timeout=%s prefix=%q",
		where, c.Cluster, c.MasterName, c.DB, c.Username, digest(pass), c.SentinelUsername, digest(c.SentinelPassword),
		c.TLS, c.TLSCAFile, c.TLSServerName, c.PoolSize, c.timeout(), c.prefix())
}

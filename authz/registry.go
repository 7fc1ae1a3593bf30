package authz

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

// Registry errors, for the admin API to map to statuses.
var (
	ErrClientNotFound = errors.New("no such client")
	ErrStaticClient   = errors.New("the client is defined in the configuration and is read-only there; change the Caddyfile or JSON config instead")
	ErrClientExists   = errors.New("a client with this id exists already")
	ErrNoClientStore  = errors.New("the configured store does not keep dynamic clients")
)

// Registry resolves clients — static ones from configuration first, then
// the dynamic ones kept in the store — and manages the dynamic ones
// (CONFORMANCE M1, M2, M3).
type Registry struct {
	Static  StaticClients
	Records tokenstore.ClientRecords // nil: no dynamic clients
	Catalog *Catalog
	Rand    io.Reader
	Now     func() time.Time
	// Sleep waits (time.Sleep when nil; tests advance their clock instead).
	Sleep func(time.Duration)

	// OnChange is called after a dynamic client was created, changed or
	// deleted through this registry (the Server uses it to drop the client
	// from verifier caches here and on other instances).
	OnChange func(ctx context.Context, id string)

	decoyOnce sync.Once
	decoy     SecretHash
}

func (r *Registry) changed(ctx context.Context, id string) {
	if r.OnChange != nil {
		r.OnChange(ctx, id)
	}
}

// decoySecret is what an unknown client id's secret is compared against:
// the hash kind most clients use, so an unknown id costs what a wrong secret
// of a typical client costs. Dynamic clients always have generated SHA-256
// secrets, so with a client store, or when SHA-256 static clients are at
// least as many as bcrypt ones, it is SHA-256; otherwise bcrypt at the
// highest cost configured, made on first need. The minority kind stays
// telling by time (SECURITY.md says so): closing that gap would make every
// failed authentication cost a bcrypt.
func (r *Registry) decoySecret() SecretHash {
	r.decoyOnce.Do(func() {
		r.decoy = decoy
		cost, nBcrypt, nSHA := 0, 0, 0
		for _, c := range r.Static {
			switch {
			case c.secret.bcrypt != nil:
				if n, err := bcrypt.Cost(c.secret.bcrypt); err == nil {
					cost, nBcrypt = max(cost, n), nBcrypt+1
				}
			case c.secret.sha != nil:
				nSHA++
			}
		}
		if cost > 0 && nBcrypt > nSHA && r.Records == nil {
			if h, err := bcrypt.GenerateFromPassword([]byte("oauthgate decoy secret"), cost); err == nil {
				r.decoy = SecretHash{bcrypt: h}
			}
		}
	})
	return r.decoy
}

// Client implements Clients.
func (r *Registry) Client(ctx context.Context, id string) (*Client, error) {
	if c, ok := r.Static[id]; ok {
		return c, nil
	}
	if r.Records == nil {
		return nil, ErrUnknownClient
	}
	rec, err := r.Records.GetClient(ctx, id)
	if errors.Is(err, tokenstore.ErrNotFound) {
		return nil, ErrUnknownClient
	}
	if err != nil {
		return nil, err
	}
	return fromRecord(rec)
}

func fromRecord(rec tokenstore.ClientRecord) (*Client, error) {
	c := &Client{ID: rec.ID, Name: rec.Name, Public: rec.Public, RedirectURIs: rec.RedirectURIs, Grants: rec.Grants,
		Scopes: rec.Scopes, DefaultScopes: rec.DefaultScopes, User: rec.User, Audience: rec.Audience,
		AccessTokenTTL: rec.AccessTokenTTL, RefreshTokenTTL: rec.RefreshTokenTTL, Disabled: rec.Disabled,
		NotBefore: rec.CreatedAt.Truncate(time.Second), created: rec.CreatedAt}
	if rec.SecretSHA256 != "" {
		h, err := ParseSecretHash(rec.SecretSHA256)
		if err != nil {
			return nil, fmt.Errorf("client %s: stored secret hash: %v", rec.ID, err)
		}
		c.SetSecret(h)
	}
	return c, nil
}

// Duration is a lifetime written as "1h30m" (or nanoseconds) in the client object.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "1h30m" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New(`a duration is a string such as "1h" or a number of nanoseconds`)
	}
	*d = Duration(n)
	return nil
}

// ClientView is the client object of the admin API and CLI: never a secret.
type ClientView struct {
	ID              string    `json:"id"`
	Name            string    `json:"name,omitempty"`
	RedirectURIs    []string  `json:"redirect_uris,omitempty"`
	Grants          []string  `json:"grants,omitempty"`
	Scopes          []string  `json:"scopes,omitempty"`
	DefaultScopes   []string  `json:"default_scopes,omitempty"`
	Public          bool      `json:"public,omitempty"`
	User            string    `json:"user,omitempty"`
	Audience        []string  `json:"audience,omitempty"`
	AccessTokenTTL  Duration  `json:"access_token_ttl,omitempty"`
	RefreshTokenTTL Duration  `json:"refresh_token_ttl,omitempty"`
	Disabled        bool      `json:"disabled"`
	Static          bool      `json:"static,omitempty"`
	CreatedAt       time.Time `json:"created_at,omitzero"`
}

func viewOf(c *Client, static bool) ClientView {
	return ClientView{ID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs, Grants: c.Grants, Scopes: c.Scopes,
		DefaultScopes: c.DefaultScopes, Public: c.Public, User: c.User, Audience: c.Audience,
		AccessTokenTTL: Duration(c.AccessTokenTTL), RefreshTokenTTL: Duration(c.RefreshTokenTTL),
		Disabled: c.Disabled, Static: static, CreatedAt: c.created}
}

// ClientPatch changes a dynamic client; nil fields stay as they are.
type ClientPatch struct {
	Name            *string   `json:"name,omitempty"`
	RedirectURIs    *[]string `json:"redirect_uris,omitempty"`
	Grants          *[]string `json:"grants,omitempty"`
	Scopes          *[]string `json:"scopes,omitempty"`
	DefaultScopes   *[]string `json:"default_scopes,omitempty"`
	User            *string   `json:"user,omitempty"`
	Audience        *[]string `json:"audience,omitempty"`
	AccessTokenTTL  *Duration `json:"access_token_ttl,omitempty"`
	RefreshTokenTTL *Duration `json:"refresh_token_ttl,omitempty"`
	Disabled        *bool     `json:"disabled,omitempty"`
}

// List returns static clients (read-only) then dynamic ones, each by id.
func (r *Registry) List(ctx context.Context) ([]ClientView, error) {
	var out []ClientView
	for _, c := range r.Static {
		out = append(out, viewOf(c, true))
	}
	slices.SortFunc(out, func(a, b ClientView) int { return strings.Compare(a.ID, b.ID) })
	if r.Records != nil {
		recs, err := r.Records.ListClients(ctx)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			c, err := fromRecord(rec)
			if err != nil {
				return nil, err
			}
			out = append(out, viewOf(c, false))
		}
	}
	return out, nil
}

// Get returns one client's view.
func (r *Registry) Get(ctx context.Context, id string) (ClientView, error) {
	if c, ok := r.Static[id]; ok {
		return viewOf(c, true), nil
	}
	c, err := r.Client(ctx, id)
	if errors.Is(err, ErrUnknownClient) {
		return ClientView{}, ErrClientNotFound
	}
	if err != nil {
		return ClientView{}, err
	}
	return viewOf(c, false), nil
}

// validID keeps generated and chosen ids to URL- and header-safe characters.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}

// newSecret returns a generated client secret: 256 random bits (K4).
func (r *Registry) newSecret() (string, string, error) {
	var b [32]byte
	if _, err := io.ReadFull(r.Rand, b[:]); err != nil {
		return "", "", err
	}
	secret := "ogs_" + b64.EncodeToString(b[:])
	h := HashSecret(secret)
	return secret, hex.EncodeToString(h.sha), nil
}

// Create registers a dynamic client from v (Static, CreatedAt ignored) and
// returns it with its secret, shown this once (confidential clients only).
func (r *Registry) Create(ctx context.Context, v ClientView) (ClientView, string, error) {
	if r.Records == nil {
		return ClientView{}, "", ErrNoClientStore
	}
	if v.ID == "" {
		id, err := newClientID(r.Rand)
		if err != nil {
			return ClientView{}, "", err
		}
		v.ID = id
	}
	if !validID(v.ID) {
		return ClientView{}, "", fmt.Errorf("client id %q: use 1–64 of A–Z a–z 0–9 - _ . ~", v.ID)
	}
	if _, ok := r.Static[v.ID]; ok {
		return ClientView{}, "", ErrClientExists
	}
	now := r.Now().UTC() // full precision: see fromRecord
	rec := tokenstore.ClientRecord{ID: v.ID, Name: v.Name, RedirectURIs: v.RedirectURIs, Grants: v.Grants, Scopes: v.Scopes,
		DefaultScopes: v.DefaultScopes, Public: v.Public, User: v.User, Audience: v.Audience,
		AccessTokenTTL: time.Duration(v.AccessTokenTTL), RefreshTokenTTL: time.Duration(v.RefreshTokenTTL),
		Disabled: v.Disabled, CreatedAt: now, UpdatedAt: now}
	if rec.Name == "" {
		rec.Name = rec.ID
	}
	var secret string
	if !rec.Public {
		var err error
		if secret, rec.SecretSHA256, err = r.newSecret(); err != nil {
			return ClientView{}, "", err
		}
	}
	c, err := r.check(rec)
	if err != nil {
		return ClientView{}, "", err
	}
	if err := r.Records.CreateClient(ctx, rec); err != nil {
		if errors.Is(err, tokenstore.ErrExists) {
			return ClientView{}, "", ErrClientExists
		}
		return ClientView{}, "", err
	}
	r.changed(ctx, v.ID)
	return viewOf(c, false), secret, nil
}

// check validates a record as a client against the catalog.
func (r *Registry) check(rec tokenstore.ClientRecord) (*Client, error) {
	c, err := fromRecord(rec)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(r.Catalog); err != nil {
		return nil, err
	}
	return c, nil
}

// newClientID is a random client id that does not start with '-', which
// command lines (the oauthgate CLI included) would take for a flag.
func newClientID(rand io.Reader) (string, error) {
	for {
		id, err := newID(rand)
		if err != nil || !strings.HasPrefix(id, "-") {
			return id, err
		}
	}
}

// Shadowed lists the static client ids that also name a dynamic client in
// the store: the static one would hide it (its secret would stop working,
// and its record could not be deleted any more).
func (r *Registry) Shadowed(ctx context.Context) ([]string, error) {
	if r.Records == nil {
		return nil, nil
	}
	var ids []string
	for id := range r.Static {
		_, err := r.Records.GetClient(ctx, id)
		switch {
		case err == nil:
			ids = append(ids, id)
		case !errors.Is(err, tokenstore.ErrNotFound):
			return ids, err
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// dynamic loads a dynamic client's record, refusing static ones.
func (r *Registry) dynamic(ctx context.Context, id string) (tokenstore.ClientRecord, error) {
	if _, ok := r.Static[id]; ok {
		return tokenstore.ClientRecord{}, ErrStaticClient
	}
	if r.Records == nil {
		return tokenstore.ClientRecord{}, ErrClientNotFound
	}
	rec, err := r.Records.GetClient(ctx, id)
	if errors.Is(err, tokenstore.ErrNotFound) {
		return rec, ErrClientNotFound
	}
	return rec, err
}

// Update applies a patch to a dynamic client.
func (r *Registry) Update(ctx context.Context, id string, p ClientPatch) (ClientView, error) {
	rec, err := r.dynamic(ctx, id)
	if err != nil {
		return ClientView{}, err
	}
	set := func(dst *[]string, src *[]string) {
		if src != nil {
			*dst = *src
		}
	}
	if p.Name != nil {
		rec.Name = *p.Name
	}
	if p.User != nil {
		rec.User = *p.User
	}
	if p.Disabled != nil {
		rec.Disabled = *p.Disabled
	}
	if p.AccessTokenTTL != nil {
		rec.AccessTokenTTL = time.Duration(*p.AccessTokenTTL)
	}
	if p.RefreshTokenTTL != nil {
		rec.RefreshTokenTTL = time.Duration(*p.RefreshTokenTTL)
	}
	set(&rec.RedirectURIs, p.RedirectURIs)
	set(&rec.Grants, p.Grants)
	set(&rec.Scopes, p.Scopes)
	set(&rec.DefaultScopes, p.DefaultScopes)
	set(&rec.Audience, p.Audience)
	rec.UpdatedAt = r.Now().UTC()
	c, err := r.check(rec)
	if err != nil {
		return ClientView{}, err
	}
	if err := r.Records.UpdateClient(ctx, rec); err != nil {
		return ClientView{}, err
	}
	r.changed(ctx, id)
	return viewOf(c, false), nil
}

// RotateSecret replaces a confidential dynamic client's secret and returns
// the new one, shown this once. Tokens issued before stay valid.
func (r *Registry) RotateSecret(ctx context.Context, id string) (string, error) {
	rec, err := r.dynamic(ctx, id)
	if err != nil {
		return "", err
	}
	if rec.Public {
		return "", errors.New("a public client has no secret")
	}
	secret, sum, err := r.newSecret()
	if err != nil {
		return "", err
	}
	rec.SecretSHA256, rec.UpdatedAt = sum, r.Now().UTC()
	if err := r.Records.UpdateClient(ctx, rec); err != nil {
		return "", err
	}
	r.changed(ctx, id)
	return secret, nil
}

// Delete removes a dynamic client. Its tokens stop validating at once: the
// verifier needs the client, and a client re-created under the same id
// refuses tokens issued before the second of its creation. Tokens carry
// whole seconds (iat), so Delete returns only once the second of the
// deletion is over: a client re-created after it starts in a later second
// than every token of its predecessor.
func (r *Registry) Delete(ctx context.Context, id string) error {
	if _, err := r.dynamic(ctx, id); err != nil {
		return err
	}
	if err := r.Records.DeleteClient(ctx, id); err != nil {
		return err
	}
	r.changed(ctx, id)
	now := r.Now()
	wait := now.Truncate(time.Second).Add(time.Second).Sub(now)
	sleep := r.Sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	sleep(wait)
	return nil
}

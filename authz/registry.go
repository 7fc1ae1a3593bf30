// The client registry: static clients from configuration and dynamic ones in the store, and managing them.

package authz

import (
	"context"
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
	// Documents resolves client_id URLs (Client ID Metadata Documents,
	// cimd.go); nil: off.
	Documents *MetadataDocuments
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
	if r.Documents != nil && IsDocumentID(id) {
		return r.Documents.Client(ctx, id)
	}
	if r.Records == nil {
		return nil, ErrUnknownClient
	}
	rec, err := r.Records.GetClient(ctx, id)
	if errors.Is(err, tokenstore.ErrNotFound) || err == nil && unusedExpired(rec, r.Now()) {
		return nil, ErrUnknownClient
	}
	if err != nil {
		return nil, err
	}
	return NewClient(rec)
}

// List returns the client objects of the static clients (read-only) then
// of the dynamic ones, each by id, as they may be shown.
func (r *Registry) List(ctx context.Context) ([]tokenstore.Client, error) {
	var out []tokenstore.Client
	for _, c := range r.Static {
		out = append(out, shown(c.Settings(), true))
	}
	slices.SortFunc(out, func(a, b tokenstore.Client) int { return strings.Compare(a.ID, b.ID) })
	if r.Records != nil {
		recs, err := r.Records.ListClients(ctx)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			out = append(out, shown(rec, false))
		}
	}
	return out, nil
}

// shown is a client object as the admin API and CLI show it.
func shown(c tokenstore.Client, static bool) tokenstore.Client {
	c = c.Shown()
	c.Static = static
	return c
}

// Get returns one client's object, as it may be shown.
func (r *Registry) Get(ctx context.Context, id string) (tokenstore.Client, error) {
	if c, ok := r.Static[id]; ok {
		return shown(c.Settings(), true), nil
	}
	rec, err := r.dynamic(ctx, id)
	if err != nil {
		return tokenstore.Client{}, err
	}
	return shown(rec, false), nil
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
	return secret, HashSecret(secret).String(), nil
}

// Create registers a dynamic client from its client object (Static and
// the times are ignored) and returns it as shown, with the secret when one
// was generated — shown this once. A confidential client's secret is
// generated unless the object gives one (secret, kept as its SHA-256) or a
// secret_hash.
func (r *Registry) Create(ctx context.Context, in tokenstore.Client) (tokenstore.Client, string, error) {
	if r.Records == nil {
		return tokenstore.Client{}, "", ErrNoClientStore
	}
	if in.ID == "" {
		id, err := newClientID(r.Rand)
		if err != nil {
			return tokenstore.Client{}, "", err
		}
		in.ID = id
	}
	if !validID(in.ID) {
		return tokenstore.Client{}, "", fmt.Errorf("client id %q: use 1–64 of A–Z a–z 0–9 - _ . ~", in.ID)
	}
	if _, ok := r.Static[in.ID]; ok {
		return tokenstore.Client{}, "", ErrClientExists
	}
	rec := in
	now := r.Now().UTC() // full precision: see NewClient
	rec.Static, rec.CreatedAt, rec.UpdatedAt = false, now, now
	if rec.Name == "" {
		rec.Name = rec.ID
	}
	var generated string
	if !rec.Public && rec.Secret == "" && rec.SecretHash == "" {
		var err error
		if generated, rec.SecretHash, err = r.newSecret(); err != nil {
			return tokenstore.Client{}, "", err
		}
	}
	c, err := r.check(rec)
	if err != nil {
		return tokenstore.Client{}, "", err
	}
	if rec.Secret != "" { // only its hash is kept
		rec.Secret, rec.SecretHash = "", c.secret.String()
	}
	if err := r.Records.CreateClient(ctx, rec); err != nil {
		if errors.Is(err, tokenstore.ErrExists) {
			return tokenstore.Client{}, "", ErrClientExists
		}
		return tokenstore.Client{}, "", err
	}
	r.changed(ctx, rec.ID)
	return shown(rec, false), generated, nil
}

// check validates a client object as a client against the catalog.
func (r *Registry) check(rec tokenstore.Client) (*Client, error) {
	c, err := NewClient(rec)
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
func (r *Registry) dynamic(ctx context.Context, id string) (tokenstore.Client, error) {
	if _, ok := r.Static[id]; ok {
		return tokenstore.Client{}, ErrStaticClient
	}
	if r.Records == nil {
		return tokenstore.Client{}, ErrClientNotFound
	}
	rec, err := r.Records.GetClient(ctx, id)
	if errors.Is(err, tokenstore.ErrNotFound) {
		return rec, ErrClientNotFound
	}
	return rec, err
}

// Update changes a dynamic client: change edits its client object (the
// admin API decodes a PATCH body onto it, so what the body names is
// replaced and the rest stays). The id, the secret and the creation time
// cannot change here; a new secret comes from RotateSecret.
func (r *Registry) Update(ctx context.Context, id string, change func(*tokenstore.Client) error) (tokenstore.Client, error) {
	before, err := r.dynamic(ctx, id)
	if err != nil {
		return tokenstore.Client{}, err
	}
	rec := before
	rec.RedirectURIs, rec.Grants, rec.Scopes = slices.Clone(rec.RedirectURIs), slices.Clone(rec.Grants), slices.Clone(rec.Scopes)
	rec.DefaultScopes, rec.Audience = slices.Clone(rec.DefaultScopes), slices.Clone(rec.Audience)
	if err := change(&rec); err != nil {
		return tokenstore.Client{}, err
	}
	switch {
	case rec.ID != id:
		return tokenstore.Client{}, errors.New("a client's id cannot change")
	case rec.Secret != "" || rec.SecretHash != before.SecretHash:
		return tokenstore.Client{}, errors.New("a client's secret cannot be patched: rotate it (POST /oauthgate/clients/{id}/secret)")
	case rec.Public != before.Public:
		return tokenstore.Client{}, errors.New("a client cannot become public or confidential: create a new one")
	}
	rec.Static, rec.CreatedAt, rec.UpdatedAt = false, before.CreatedAt, r.Now().UTC()
	if _, err := r.check(rec); err != nil {
		return tokenstore.Client{}, err
	}
	if err := r.Records.UpdateClient(ctx, rec); err != nil {
		return tokenstore.Client{}, err
	}
	r.changed(ctx, id)
	return shown(rec, false), nil
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
	rec.SecretHash, rec.UpdatedAt = sum, r.Now().UTC()
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

// RFC 8707 resource indicators: the resources the gateway protects, the resource parameter, the audience it binds.

package authz

import (
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// ParamResource is the RFC 8707 parameter, the one parameter that may be
// given more than once (at /oauth/authorize and /oauth/token).
const ParamResource = "resource"

// MaxResources bounds the resource values of one request.
const MaxResources = 16

// ErrInvalidTarget is RFC 8707 §2's error: a resource that is malformed or
// that this server does not issue tokens for.
var ErrInvalidTarget = &Error{Code: "invalid_target", Status: 400}

// Resources is the set of resource identifiers the gateway protects (the
// `resource` of every oauthgate_protect, and the app's `resources`), which
// an RFC 8707 request may name (CONFORMANCE G2). It grows while the
// configuration is provisioned and is read on every check: reads take no
// lock. A nil *Resources is empty.
type Resources struct {
	mu  sync.Mutex
	set atomic.Pointer[map[string]struct{}]
}

// NewResources returns a set holding uris.
func NewResources(uris ...string) *Resources {
	r := &Resources{}
	for _, u := range uris {
		r.Add(u)
	}
	return r
}

// Add puts uri in the set.
func (r *Resources) Add(uri string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := map[string]struct{}{uri: {}}
	if cur := r.set.Load(); cur != nil {
		for k := range *cur {
			next[k] = struct{}{}
		}
	}
	r.set.Store(&next)
}

// Has reports whether uri is a protected resource, compared byte for byte.
func (r *Resources) Has(uri string) bool {
	if r == nil {
		return false
	}
	cur := r.set.Load()
	if cur == nil {
		return false
	}
	_, ok := (*cur)[uri]
	return ok
}

// Binds reports whether an aud names a protected resource: such a token
// was issued for those resources only (RFC 8707 §2) and is refused by
// every route that protects another.
func (r *Resources) Binds(aud []string) bool {
	return slices.ContainsFunc(aud, r.Has)
}

// CheckResourceURI checks a resource identifier's form (RFC 8707 §2: an
// absolute URI without a fragment); "" when it is well-formed.
func CheckResourceURI(v string) string {
	u, err := url.Parse(v)
	switch {
	case v == "":
		return "resource is empty"
	case strings.ContainsAny(v, "#\x00\r\n\t "):
		return "resource " + quoteShort(v) + " must be an absolute URI without a fragment"
	case err != nil || !u.IsAbs() || (u.Host == "" && u.Opaque == ""):
		return "resource " + quoteShort(v) + " is not an absolute URI"
	}
	return ""
}

// requestedResources checks the resource values of a request: each well
// formed and protected here; duplicates are dropped. None gives nil.
func (s *Server) requestedResources(vals []string) ([]string, *Error) {
	if len(vals) > MaxResources {
		return nil, ErrInvalidTarget.WithDescription("too many resource parameters")
	}
	var out []string
	for _, v := range vals {
		if msg := CheckResourceURI(v); msg != "" {
			return nil, ErrInvalidTarget.WithDescription(msg)
		}
		if !s.cfg.Resources.Has(v) {
			return nil, ErrInvalidTarget.WithDescription("resource " + quoteShort(v) + " is not a resource this server issues tokens for")
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// narrowResources is the resources of a token request against those of
// its grant (the code's authorization, the refresh token's): the request
// may name fewer, never others (RFC 8707 §2.2). A grant bound to no
// resource may be narrowed to any protected one.
func (s *Server) narrowResources(granted []string, p Params) ([]string, *Error) {
	asked, e := s.requestedResources(p.Values(ParamResource))
	if e != nil {
		return nil, e
	}
	if len(asked) == 0 {
		return granted, nil
	}
	if len(granted) > 0 {
		for _, r := range asked {
			if !slices.Contains(granted, r) {
				return nil, ErrInvalidTarget.WithDescription("resource " + quoteShort(r) + " was not granted: a token request may narrow its resources, never widen them")
			}
		}
	}
	return asked, nil
}

func quoteShort(v string) string {
	return `"` + truncate(strings.ToValidUTF8(v, "?"), 200) + `"`
}

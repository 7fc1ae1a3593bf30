// The scope catalog: scope names, defaults, and parsing and joining the space-delimited scope parameter.

package authz

import (
	"fmt"
	"slices"
	"strings"
)

// Scope is one entry of the server's scope catalog.
type Scope struct {
	Name        string
	Description string
	// Default scopes are granted when a request names none and the client
	// has no default scopes of its own.
	Default bool
}

// Catalog is the set of scopes the server knows, in configuration order.
type Catalog struct {
	scopes []Scope
	index  map[string]int
}

// NewCatalog validates scope names and builds a catalog.
func NewCatalog(scopes []Scope) (*Catalog, error) {
	c := &Catalog{index: make(map[string]int, len(scopes))}
	for _, s := range scopes {
		if err := ValidScopeName(s.Name); err != nil {
			return nil, err
		}
		if _, dup := c.index[s.Name]; dup {
			return nil, fmt.Errorf("scope %q is defined twice", s.Name)
		}
		c.index[s.Name] = len(c.scopes)
		c.scopes = append(c.scopes, s)
	}
	for _, s := range oidcScopes { // OpenID Connect's, unless defined above
		if _, defined := c.index[s.Name]; !defined {
			c.index[s.Name] = len(c.scopes)
			c.scopes = append(c.scopes, s)
		}
	}
	return c, nil
}

// ValidScopeName checks RFC 6749 §3.3 scope-token syntax, minus the comma,
// which oauthgate accepts as a separator.
func ValidScopeName(name string) error {
	if name == "" {
		return fmt.Errorf("empty scope name")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= 0x20 || c == '"' || c == '\\' || c == ',' || c >= 0x7f {
			return fmt.Errorf("scope name %q: character %q is not allowed (RFC 6749 §3.3; no commas)", name, c)
		}
	}
	return nil
}

// Lookup returns the named scope.
func (c *Catalog) Lookup(name string) (Scope, bool) {
	i, ok := c.index[name]
	if !ok {
		return Scope{}, false
	}
	return c.scopes[i], true
}

// All returns the scopes in configuration order.
func (c *Catalog) All() []Scope { return slices.Clone(c.scopes) }

// Names returns every scope name in configuration order.
func (c *Catalog) Names() []string {
	out := make([]string, len(c.scopes))
	for i, s := range c.scopes {
		out[i] = s.Name
	}
	return out
}

// Defaults returns the names of the default scopes.
func (c *Catalog) Defaults() []string {
	var out []string
	for _, s := range c.scopes {
		if s.Default {
			out = append(out, s.Name)
		}
	}
	return out
}

// maxScopes bounds how many scopes one request may name.
const maxScopes = 100

// ParseScope splits a scope parameter on spaces and commas (CONFORMANCE A5),
// dropping empty items and duplicates while keeping the first order.
func ParseScope(s string) ([]string, *Error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		if err := ValidScopeName(f); err != nil {
			return nil, ErrInvalidScope.WithDescription("malformed scope value")
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
		if len(out) > maxScopes {
			return nil, ErrInvalidScope.WithDescription(fmt.Sprintf("more than %d scopes requested", maxScopes))
		}
	}
	return out, nil
}

// JoinScopes renders scopes as the space-delimited wire form.
func JoinScopes(s []string) string { return strings.Join(s, " ") }

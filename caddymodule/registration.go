// The app's registration block: RFC 7591 registration and Client ID Metadata Documents, as authz takes them.

package caddymodule

import (
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

// RegistrationConfig lets clients register themselves: RFC 7591 at
// /oauth/register (Mode) and https client_id URLs resolved as Client ID
// Metadata Documents (MetadataDocuments). Off by default.
type RegistrationConfig struct {
	// Mode of /oauth/register: "off" (default), "open" (anyone may
	// register) or "token" (the request needs InitialAccessToken as a
	// Bearer token).
	Mode string `json:"mode,omitempty"`

	// MetadataDocuments resolves a client_id that is an https URL with a
	// path by fetching the document there (bounded, no redirects, public
	// addresses only; plain http only on a loopback host).
	MetadataDocuments bool `json:"metadata_documents,omitempty"`
	// MetadataDocumentsLoopback also accepts client_id URLs on a loopback
	// host (`metadata_documents loopback`): tests and local development.
	MetadataDocumentsLoopback bool `json:"metadata_documents_loopback,omitempty"`

	// InitialAccessToken, for mode token: a placeholder such as
	// {env.REG_TOKEN}, expanded at provisioning; never logged.
	InitialAccessToken string `json:"initial_access_token,omitempty"`

	// Grants registered clients may have (default authorization_code
	// refresh_token); client_credentials only in mode token.
	Grants []string `json:"grants,omitempty"`

	// Scopes registered clients may have (default: the default scopes).
	Scopes []string `json:"scopes,omitempty"`

	// UnusedAfter: a registered client never issued a token is removed
	// after this long (default 7 days in mode open, kept until deleted in
	// mode token; negative — `unused_after off` — kept until deleted).
	UnusedAfter caddy.Duration `json:"unused_after,omitempty"`

	// MaxClients bounds the registered clients (default 100000).
	MaxClients int `json:"max_clients,omitempty"`

	// Rate is how many registrations one address may make per RateWindow
	// (default 20 per 10m).
	Rate int `json:"rate,omitempty"`

	// RateWindow is the window of Rate (default 10m).
	RateWindow caddy.Duration `json:"rate_window,omitempty"`
}

// config is the block as authz takes it, its token expanded.
func (rc *RegistrationConfig) config(repl *caddy.Replacer) (authz.RegistrationConfig, error) {
	if rc == nil {
		return authz.RegistrationConfig{}, nil
	}
	out := authz.RegistrationConfig{Mode: rc.Mode, MetadataDocuments: rc.MetadataDocuments, Grants: rc.Grants,
		Scopes: rc.Scopes, UnusedAfter: time.Duration(rc.UnusedAfter), MaxClients: rc.MaxClients,
		Rate: rc.Rate, Window: time.Duration(rc.RateWindow), Fetch: authz.FetchOptions{Loopback: rc.MetadataDocumentsLoopback}}
	if rc.InitialAccessToken != "" {
		if rc.Mode != authz.RegistrationToken {
			return out, fmt.Errorf("registration: initial_access_token is only for `mode token`")
		}
		tok, err := repl.ReplaceOrErr(rc.InitialAccessToken, true, true)
		if err != nil {
			return out, fmt.Errorf("registration: initial_access_token: %v", err)
		}
		if len(tok) < 16 || strings.TrimSpace(tok) != tok {
			return out, fmt.Errorf("registration: initial_access_token must be at least 16 characters, without surrounding spaces; use a long random token")
		}
		out.InitialAccessToken = tok
	}
	return out, nil
}

package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "oauthgate",
		Usage: "client|token|keys …",
		Short: "Manages oauthgate clients, tokens and keys of a running Caddy",
		Long: `Talks to the admin API of a running Caddy (admin.api.oauthgate):

  caddy oauthgate client create --name "Reporting" --grant client_credentials --scope api_v3
  caddy oauthgate client list
  caddy oauthgate client show|disable|enable|rotate-secret|delete <id>
  caddy oauthgate token revoke <token|->
  caddy oauthgate keys rotate
  caddy oauthgate explain GET https://api.example.com/api/x [--token T] [--origin O] --config Caddyfile

Output is a readable table by default, JSON with --json. A secret is printed
once, when it is created or rotated. The admin address is found like
'caddy reload' finds it: --address, else --config/--adapter, else the default.`,
		CobraFunc: buildCommand,
	})
}

// cli carries the flags every subcommand shares.
type cli struct {
	address, config, adapter string
	json                     bool
	out                      io.Writer
}

func buildCommand(cmd *cobra.Command) {
	c := &cli{out: os.Stdout}
	cmd.PersistentFlags().StringVar(&c.address, "address", "", "admin API address (default: from --config, else localhost:2019)")
	cmd.PersistentFlags().StringVarP(&c.config, "config", "c", "", "config file to read the admin address from")
	cmd.PersistentFlags().StringVarP(&c.adapter, "adapter", "a", "", "adapter of the config file")
	cmd.PersistentFlags().BoolVar(&c.json, "json", false, "print JSON")

	client := &cobra.Command{Use: "client", Short: "Manage OAuth clients"}
	var v tokenstore.Client
	var ttl, rttl string
	create := &cobra.Command{Use: "create", Short: "Register a client; prints its secret once", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := parseTTL(ttl, &v.AccessTokenTTL); err != nil {
				return err
			}
			if err := parseTTL(rttl, &v.RefreshTokenTTL); err != nil {
				return err
			}
			return c.show(c.call(http.MethodPost, "/oauthgate/clients", v))
		}}
	f := create.Flags()
	f.StringVar(&v.ID, "id", "", "client id (default: generated)")
	f.StringVar(&v.Name, "name", "", "name shown on the consent page")
	f.StringSliceVar(&v.Grants, "grant", nil, "grant type, repeatable: authorization_code, refresh_token, client_credentials")
	f.StringSliceVar(&v.Scopes, "scope", nil, "allowed scope, repeatable")
	f.StringSliceVar(&v.DefaultScopes, "default-scope", nil, "default scope, repeatable")
	f.StringSliceVar(&v.RedirectURIs, "redirect-uri", nil, "redirect URI, repeatable")
	f.StringSliceVar(&v.Audience, "audience", nil, "token audience, repeatable")
	f.StringVar(&v.User, "user", "", "subject of client_credentials tokens")
	f.BoolVar(&v.Public, "public", false, "a public client (no secret; PKCE)")
	f.StringVar(&ttl, "access-token-ttl", "", "access-token lifetime, e.g. 1h")
	f.StringVar(&rttl, "refresh-token-ttl", "", "refresh-token lifetime, e.g. 720h")

	byID := func(use, short, method, suffix string, body any) *cobra.Command {
		return &cobra.Command{Use: use + " <id>", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error {
				return c.show(c.call(method, "/oauthgate/clients/"+url.PathEscape(args[0])+suffix, body))
			}}
	}
	client.AddCommand(create,
		&cobra.Command{Use: "list", Short: "List clients (never secrets)", Args: cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error { return c.show(c.call(http.MethodGet, "/oauthgate/clients", nil)) }},
		byID("show", "Show a client", http.MethodGet, "", nil),
		byID("disable", "Disable a client: invalid_client, and its tokens stop validating", http.MethodPatch, "", map[string]bool{"disabled": true}),
		byID("enable", "Enable a client again", http.MethodPatch, "", map[string]bool{"disabled": false}),
		byID("rotate-secret", "Give a client a new secret; prints it once", http.MethodPost, "/secret", nil),
		byID("delete", "Delete a client; its tokens stop validating", http.MethodDelete, "", nil),
	)

	token := &cobra.Command{Use: "token", Short: "Manage tokens"}
	token.AddCommand(&cobra.Command{Use: "revoke <token|->", Short: "Revoke any access or refresh token (- reads it from stdin)",
		Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			tok := args[0]
			if tok == "-" {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
				if err != nil {
					return err
				}
				tok = strings.TrimSpace(string(b))
			}
			return c.show(c.call(http.MethodPost, "/oauthgate/tokens/revoke", map[string]string{"token": tok}))
		}})

	keys := &cobra.Command{Use: "keys", Short: "Manage signing keys"}
	keys.AddCommand(&cobra.Command{Use: "rotate", Short: "Generate a new signing key; older keys verify until their tokens expire",
		Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error {
			return c.show(c.call(http.MethodPost, "/oauthgate/keys/rotate", nil))
		}})
	var tok, origin string
	explain := &cobra.Command{Use: "explain <METHOD> <URL>", Short: "Tell which oauthgate_protect applies to a request and what it would decide",
		Args: cobra.ExactArgs(2), RunE: func(cmd *cobra.Command, args []string) error {
			if c.config == "" {
				return errors.New("explain needs --config <Caddyfile or JSON>")
			}
			cfg, _, _, err := caddycmd.LoadConfig(c.config, c.adapter)
			if err != nil {
				return err
			}
			if tok == "-" {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
				if err != nil {
					return err
				}
				tok = strings.TrimSpace(string(b))
			}
			return Explain(c.out, cfg, strings.ToUpper(args[0]), args[1], tok, origin)
		}}
	explain.Flags().StringVar(&tok, "token", "", "bearer token to check (- reads it from stdin)")
	explain.Flags().StringVar(&origin, "origin", "", "Origin of a browser request, for the CORS outcome")
	cmd.AddCommand(client, token, keys, explain)
}

func parseTTL(s string, d *tokenstore.Duration) error {
	if s == "" {
		return nil
	}
	return d.UnmarshalJSON([]byte(`"` + s + `"`))
}

// call sends one admin API request and returns the response body.
func (c *cli) call(method, path string, body any) ([]byte, error) {
	addr, err := caddycmd.DetermineAdminAPIAddress(c.address, nil, c.config, c.adapter)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	resp, err := caddycmd.AdminAPIRequest(addr, method, path, nil, rd)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// show prints an admin API answer as JSON or as a table.
func (c *cli) show(body []byte, err error) error {
	if err != nil {
		return err
	}
	if c.json || len(bytes.TrimSpace(body)) == 0 {
		_, err := c.out.Write(body)
		return err
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	var list []tokenstore.Client
	if json.Unmarshal(body, &list) == nil && bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
		fmt.Fprintln(tw, "ID\tNAME\tGRANTS\tSCOPES\tSTATUS\tSOURCE")
		for _, r := range list {
			clientRow(tw, r)
		}
		return nil
	}
	var one map[string]any
	if err := json.Unmarshal(body, &one); err != nil {
		return errors.New("unexpected answer from the admin API")
	}
	for _, k := range []string{"client_id", "client_secret", "id", "name", "public", "grants", "scopes", "default_scopes",
		"redirect_uris", "user", "audience", "access_token_ttl", "refresh_token_ttl", "disabled", "static", "created_at", "kid", "revoked"} {
		if v, ok := one[k]; ok {
			if k == "id" && one["client_id"] != nil {
				continue
			}
			fmt.Fprintf(tw, "%s\t%v\n", k, v)
		}
	}
	if _, ok := one["client_secret"]; ok {
		fmt.Fprintln(tw, "\nThe secret is shown only this once: store it now.")
	}
	return nil
}

// clientRow prints one client of a list as a table row.
func clientRow(w io.Writer, r tokenstore.Client) {
	status, source := "enabled", "admin API"
	if r.Disabled {
		status = "disabled"
	}
	if r.Static {
		source = "config"
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, strings.Join(r.Grants, ","), strings.Join(r.Scopes, ","), status, source)
}

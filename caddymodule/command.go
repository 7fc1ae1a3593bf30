// The `caddy oauthgate` command: its client, token, keys and explain subcommands, exit statuses and output.

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
	"regexp"
	"slices"
	"strconv"
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

Output is a readable table by default, JSON with --json (errors too:
{"error": …, "status": …, "exit_code": …} on stdout). A secret is printed
once, when it is created or rotated. The admin address is found like
'caddy reload' finds it: --address, else --config/--adapter, else the default.

Exit status: 0 done; 1 failed otherwise; 2 bad request or wrong command line;
3 not found; 4 conflict (the id exists, or the client is in the config file);
5 the admin API could not be reached.`,
		CobraFunc: buildCommand,
	})
}

// cli carries the flags every subcommand shares.
type cli struct {
	address, config, adapter string
	json                     bool
	out, errOut              io.Writer
	exit                     func(int)
	args                     []string // the raw command line, for --json when flags fail to parse
}

// Exit statuses of `caddy oauthgate`, for scripts.
const (
	exitFailed      = 1
	exitBadRequest  = 2 // the admin API answered 400, or the command line is wrong
	exitNotFound    = 3 // 404
	exitConflict    = 4 // 409: the id exists, or the client is in the config file
	exitUnreachable = 5 // the admin API could not be reached
)

// cliError is a failure with its exit status (and the admin API's HTTP status).
type cliError struct {
	exit, status int
	msg          string
}

func (e *cliError) Error() string { return e.msg }

// adminAnswer is how caddycmd.AdminAPIRequest reports an error status.
var adminAnswer = regexp.MustCompile(`(?s)^caddy responded with error: HTTP (\d{3}): (.*)$`)

// classify gives an error its exit status and a message without Caddy's
// wrapping.
func classify(err error) *cliError {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce
	}
	msg := err.Error()
	if m := adminAnswer.FindStringSubmatch(msg); m != nil {
		status, _ := strconv.Atoi(m[1])
		text := strings.TrimSpace(m[2])
		var body struct {
			Error string `json:"error"`
		}
		if json.Unmarshal([]byte(text), &body) == nil && body.Error != "" {
			text = body.Error
		}
		exit := map[int]int{http.StatusBadRequest: exitBadRequest, http.StatusNotFound: exitNotFound, http.StatusConflict: exitConflict}[status]
		if exit == 0 {
			exit = exitFailed
		}
		return &cliError{exit: exit, status: status, msg: text}
	}
	if rest, ok := strings.CutPrefix(msg, "performing request: "); ok {
		return &cliError{exit: exitUnreachable, msg: "the admin API cannot be reached (" + rest + "); is Caddy running, and is --address (or the config's admin address) right?"}
	}
	return &cliError{exit: exitFailed, msg: msg}
}

// fail reports err — as JSON with --json — and exits with its status.
func (c *cli) fail(err error) {
	e := classify(err)
	if c.json {
		out := map[string]any{"error": e.msg, "exit_code": e.exit}
		if e.status != 0 {
			out["status"] = e.status
		}
		_ = json.NewEncoder(c.out).Encode(out)
	} else {
		fmt.Fprintln(c.errOut, "Error:", e.msg)
	}
	c.exit(e.exit)
}

func usageError(format string, args ...any) error {
	return &cliError{exit: exitBadRequest, msg: fmt.Sprintf(format, args...)}
}

// routeErrors makes every command below cmd report its failures through
// fail, wrong arguments and unknown subcommands included (cobra would print
// a group's help and exit 0).
func (c *cli) routeErrors(cmd *cobra.Command) {
	if cmd.HasSubCommands() {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(cc *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cc.Help()
			}
			var names []string
			for _, sub := range cc.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name())
				}
			}
			return usageError("unknown subcommand %q of %q: use one of %s", args[0], cc.CommandPath(), strings.Join(names, ", "))
		}
	}
	if args := cmd.Args; args != nil {
		cmd.Args = func(cc *cobra.Command, a []string) error {
			if err := args(cc, a); err != nil {
				c.fail(usageError("%s: %v", cc.CommandPath(), err))
			}
			return nil
		}
	}
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(cc *cobra.Command, a []string) error {
			if err := run(cc, a); err != nil {
				c.fail(err)
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		c.routeErrors(sub)
	}
}

func buildCommand(cmd *cobra.Command) {
	buildCLI(cmd, &cli{out: os.Stdout, errOut: os.Stderr, exit: os.Exit, args: os.Args})
}

// buildCLI adds the subcommands and flags to cmd, with c's output and exit.
func buildCLI(cmd *cobra.Command, c *cli) {
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
	f.StringSliceVar(&v.PostLogoutRedirectURIs, "post-logout-redirect-uri", nil, "OpenID Connect post-logout redirect URI, repeatable")
	f.StringVar(&v.IDTokenSignedResponseAlg, "id-token-alg", "", "ID token algorithm: RS256 (default), ES256, PS256, EdDSA")
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
			// A memory store provisioned here is empty: the running gateway
			// is asked through its admin API what it says of the token.
			live := func(token string) (map[string]any, error) {
				body, err := c.call(http.MethodPost, "/oauthgate/tokens/verify", map[string]string{"token": token})
				if err != nil {
					return nil, errors.New(classify(err).msg)
				}
				var m map[string]any
				if err := json.Unmarshal(body, &m); err != nil {
					return nil, errors.New("unexpected answer from the admin API")
				}
				return m, nil
			}
			return explain(c.out, cfg, strings.ToUpper(args[0]), args[1], tok, origin, live)
		}}
	explain.Flags().StringVar(&tok, "token", "", "bearer token to check (- reads it from stdin)")
	explain.Flags().StringVar(&origin, "origin", "", "Origin of a browser request, for the CORS outcome")
	cmd.AddCommand(client, token, keys, explain)
	cmd.SetFlagErrorFunc(func(cc *cobra.Command, err error) error {
		c.json = c.json || slices.Contains(c.args, "--json") || slices.Contains(c.args, "--json=true")
		c.fail(usageError("%s: %v", cc.CommandPath(), err))
		return err
	})
	c.routeErrors(cmd)
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
		"redirect_uris", "post_logout_redirect_uris", "id_token_signed_response_alg", "user", "audience", "access_token_ttl", "refresh_token_ttl",
		"disabled", "static", "registered", "token_endpoint_auth_method", "client_uri", "logo_uri", "software_id", "software_version",
		"unused_until", "created_at", "kid", "revoked"} {
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
	switch {
	case r.Static:
		source = "config"
	case r.Registered:
		source = "registered" // RFC 7591: it registered itself
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, strings.Join(r.Grants, ","), strings.Join(r.Scopes, ","), status, source)
}

// The admin.api.oauthgate module: client management, token revocation and key rotation on Caddy's admin API.

package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/oauthgate/caddy-oauthgate/authz"
	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the `admin.api.oauthgate` module: client management, token
// revocation and key rotation on Caddy's admin endpoint (CONFORMANCE M2).
//
//	POST   /oauthgate/clients               create; the secret is returned once
//	GET    /oauthgate/clients               list (static clients marked, never secrets)
//	GET    /oauthgate/clients/{id}          show
//	PATCH  /oauthgate/clients/{id}          change name, redirect URIs, scopes, disabled, …
//	POST   /oauthgate/clients/{id}/secret   rotate; the new secret is returned once
//	DELETE /oauthgate/clients/{id}          delete; its tokens stop validating
//	POST   /oauthgate/tokens/revoke         {"token": "…"}: revoke any token
//	POST   /oauthgate/tokens/verify         {"token": "…"}: what this instance's verifier says of it
//	POST   /oauthgate/keys/rotate           generate a new signing key in Caddy's storage
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.oauthgate",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes implements caddy.AdminRouter.
func (a AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/oauthgate/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

func apiError(status int, err error) error {
	return caddy.APIError{HTTPStatus: status, Err: err, Message: err.Error()}
}

// activeApp is the running config's oauthgate app.
func activeApp() (*App, error) {
	v, err := caddy.ActiveContext().AppIfConfigured("oauthgate")
	if err != nil {
		return nil, apiError(http.StatusNotFound, errors.New("oauthgate is not configured in the running config"))
	}
	if v.(*App).server == nil {
		return nil, apiError(http.StatusNotImplemented, errors.New("this oauthgate is a pure gateway (no issuer): it has no clients, tokens or keys of its own"))
	}
	return v.(*App), nil
}

func (a AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	app, err := activeApp()
	if err != nil {
		return err
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/oauthgate/"), "/"), "/")
	switch {
	case parts[0] == "clients":
		return a.clients(w, r, app, parts[1:])
	case len(parts) == 2 && parts[0] == "tokens" && parts[1] == "revoke":
		return a.revoke(w, r, app)
	case len(parts) == 2 && parts[0] == "tokens" && parts[1] == "verify":
		return a.verify(w, r, app)
	case len(parts) == 2 && parts[0] == "keys" && parts[1] == "rotate":
		return a.rotateKey(w, r, app)
	}
	return apiError(http.StatusNotFound, fmt.Errorf("no such oauthgate admin endpoint: %s", r.URL.Path))
}

func method(r *http.Request, allowed ...string) error {
	for _, m := range allowed {
		if r.Method == m {
			return nil
		}
	}
	return apiError(http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed; use %s", r.Method, strings.Join(allowed, " or ")))
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiError(http.StatusBadRequest, fmt.Errorf("request body: %v", err))
	}
	return nil
}

func writeAPI(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// registryError maps registry errors to statuses.
func registryError(err error) error {
	switch {
	case errors.Is(err, authz.ErrClientNotFound):
		return apiError(http.StatusNotFound, err)
	case errors.Is(err, authz.ErrStaticClient), errors.Is(err, authz.ErrClientExists):
		return apiError(http.StatusConflict, err)
	case errors.Is(err, authz.ErrNoClientStore):
		return apiError(http.StatusNotImplemented, err)
	}
	return apiError(http.StatusBadRequest, err)
}

// created is the answer to a create or rotate: the client object and, once,
// its generated secret.
type created struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	tokenstore.Client
}

func (a AdminAPI) clients(w http.ResponseWriter, r *http.Request, app *App, rest []string) error {
	reg := app.Server().Registry()
	ctx := r.Context()
	switch {
	case len(rest) == 0:
		if err := method(r, http.MethodGet, http.MethodPost); err != nil {
			return err
		}
		if r.Method == http.MethodGet {
			list, err := reg.List(ctx)
			if err != nil {
				return apiError(http.StatusServiceUnavailable, err)
			}
			return writeAPI(w, http.StatusOK, list)
		}
		var v tokenstore.Client
		if err := decodeBody(r, &v); err != nil {
			return err
		}
		view, secret, err := reg.Create(ctx, v)
		if err != nil {
			return registryError(err)
		}
		app.logger.Info("client created", zapClient(view.ID))
		app.needOIDCKey(ctx, view.Scopes)
		return writeAPI(w, http.StatusCreated, created{ClientID: view.ID, ClientSecret: secret, Client: view})
	case len(rest) == 1:
		id := rest[0]
		if err := method(r, http.MethodGet, http.MethodPatch, http.MethodDelete); err != nil {
			return err
		}
		switch r.Method {
		case http.MethodGet:
			view, err := reg.Get(ctx, id)
			if err != nil {
				return registryError(err)
			}
			return writeAPI(w, http.StatusOK, view)
		case http.MethodPatch:
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				return apiError(http.StatusBadRequest, err)
			}
			// The body is the client object's fields to replace: decoded
			// onto the current object, what it names changes.
			view, err := reg.Update(ctx, id, func(c *tokenstore.Client) error {
				dec := json.NewDecoder(bytes.NewReader(body))
				dec.DisallowUnknownFields()
				if err := dec.Decode(c); err != nil {
					return fmt.Errorf("request body: %v", err)
				}
				return nil
			})
			if err != nil {
				return registryError(err)
			}
			app.logger.Info("client changed", zapClient(id))
			app.needOIDCKey(ctx, view.Scopes)
			return writeAPI(w, http.StatusOK, view)
		default:
			if err := reg.Delete(ctx, id); err != nil {
				return registryError(err)
			}
			app.logger.Info("client deleted", zapClient(id))
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	case len(rest) == 2 && rest[1] == "secret":
		if err := method(r, http.MethodPost); err != nil {
			return err
		}
		secret, err := reg.RotateSecret(ctx, rest[0])
		if err != nil {
			return registryError(err)
		}
		view, err := reg.Get(ctx, rest[0])
		if err != nil {
			return registryError(err)
		}
		app.logger.Info("client secret rotated", zapClient(rest[0]))
		return writeAPI(w, http.StatusOK, created{ClientID: view.ID, ClientSecret: secret, Client: view})
	}
	return apiError(http.StatusNotFound, fmt.Errorf("no such oauthgate admin endpoint: %s", r.URL.Path))
}

func (a AdminAPI) revoke(w http.ResponseWriter, r *http.Request, app *App) error {
	if err := method(r, http.MethodPost); err != nil {
		return err
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.Token == "" {
		return apiError(http.StatusBadRequest, errors.New(`request body: {"token": "…"} is required`))
	}
	found, err := app.Server().RevokeAny(r.Context(), body.Token)
	if err != nil {
		return apiError(http.StatusServiceUnavailable, errors.New("the token store is unavailable"))
	}
	return writeAPI(w, http.StatusOK, map[string]bool{"revoked": found})
}

// verify answers what the running instance's verifier — with its live
// store, revocations and dynamic clients — says of a token; `caddy oauthgate
// explain` asks it when its own provisioned copy cannot know.
func (a AdminAPI) verify(w http.ResponseWriter, r *http.Request, app *App) error {
	if err := method(r, http.MethodPost); err != nil {
		return err
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.Token == "" {
		return apiError(http.StatusBadRequest, errors.New(`request body: {"token": "…"} is required`))
	}
	id, verr := app.Server().Verifier().Verify(r.Context(), body.Token)
	if verr != nil {
		return writeAPI(w, http.StatusOK, map[string]any{"active": false, "error": verr.Code, "reason": verr.Reason, "description": verr.Description})
	}
	return writeAPI(w, http.StatusOK, map[string]any{"active": true, "subject": id.Subject, "client_id": id.ClientID, "scope": id.Scope})
}

// Interface guards
var _ caddy.AdminRouter = (*AdminAPI)(nil)

func (a AdminAPI) rotateKey(w http.ResponseWriter, r *http.Request, app *App) error {
	if err := method(r, http.MethodPost); err != nil {
		return err
	}
	kid, err := app.RotateKey(r.Context())
	if err != nil {
		return apiError(http.StatusConflict, err)
	}
	return writeAPI(w, http.StatusOK, map[string]string{"kid": kid})
}

func zapClient(id string) zap.Field { return zap.String("client_id", id) }

// Tests of revocation (RFC 7009) and introspection (RFC 7662): tokens, families, deny-list expiry.

package authz

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

func (f *fixture) post(path, id, secret string, form url.Values) *httptest.ResponseRecorder {
	req := formReq(path, form)
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	return f.do(req)
}

func newTestBrowser(t *testing.T) *testutil.Browser { return testutil.NewBrowser(t) }

// exchangeVia redeems a code of the flow fixture's client "app".
func exchangeVia(t *testing.T, srv *httptest.Server, code string) map[string]any {
	t.Helper()
	status, body := redeem(t, srv, code)
	if status != 200 {
		t.Fatalf("redeem: %d %s", status, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// CONFORMANCE V1: revocation per RFC 7009, for both formats.
// CONFORMANCE R6: revoked JWTs fail through the jti deny-list, revoked
// opaque tokens at once.
func TestRevocation_V1(t *testing.T) {
	for _, format := range []TokenFormat{FormatJWT, FormatOpaque} {
		t.Run(string(format), func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.Format = format })
			tok := f.issue(t, "api_v3")
			v := f.srv.Verifier()
			if _, err := v.Verify(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
			// Another client cannot revoke it.
			rec := f.post(PathRevoke, "oro", "oro-secret-0123456789", url.Values{"token": {tok}})
			wantError(t, rec, 400, "unauthorized_client")
			if _, err := v.Verify(t.Context(), tok); err != nil {
				t.Fatalf("another client's revocation took effect: %v", err)
			}
			// Unauthenticated: 401.
			wantError(t, f.post(PathRevoke, "", "", url.Values{"token": {tok}}), 401, "invalid_client")
			// The owner can, with or without a (possibly wrong) hint.
			rec = f.post(PathRevoke, "reporting", testSecret, url.Values{"token": {tok}, "token_type_hint": {"refresh_token"}})
			if rec.Code != 200 || rec.Body.Len() != 0 {
				t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
			}
			if _, err := v.Verify(t.Context(), tok); err == nil || err.Code != "invalid_token" {
				t.Fatalf("revoked token still valid: %v", err)
			}
			// Unknown and garbage tokens: 200 as well; revoking twice too.
			for _, other := range []string{tok, "nonsense", "oga_" + strings.Repeat("x", 49), "a.b.c"} {
				if rec := f.post(PathRevoke, "reporting", testSecret, url.Values{"token": {other}}); rec.Code != 200 {
					t.Fatalf("revoke %q: %d %s", other, rec.Code, rec.Body)
				}
			}
			wantError(t, f.post(PathRevoke, "reporting", testSecret, url.Values{}), 400, "invalid_request")
			if rec := f.do(httptest.NewRequest("GET", PathRevoke, nil)); rec.Code != 405 {
				t.Fatalf("GET revoke: %d", rec.Code)
			}
		})
	}
}

// The deny-list entry of a revoked JWT lives until the token's expiry and
// no longer (CONFORMANCE R6: nothing grows without bound).
func TestRevokedJWTDenyListExpires_R6(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.AccessTokenTTL = time.Hour })
	tok := f.issue(t, "")
	id, _ := f.srv.Verifier().Verify(t.Context(), tok)
	f.post(PathRevoke, "reporting", testSecret, url.Values{"token": {tok}})
	if revoked, _ := f.store.IsRevoked(t.Context(), id.ID); !revoked {
		t.Fatal("jti not on the deny-list")
	}
	f.clock.Advance(time.Hour + DefaultSkew + time.Second)
	if revoked, _ := f.store.IsRevoked(t.Context(), id.ID); revoked {
		t.Fatal("deny-list entry outlived the token")
	}
	if _, err := f.srv.Verifier().Verify(t.Context(), tok); err == nil {
		t.Fatal("expired token valid once its deny-list entry is gone")
	}
}

// CONFORMANCE V1: revoking a refresh token ends its family's access tokens.
func TestRevokeRefreshTokenEndsFamily_V1(t *testing.T) {
	f, srv := flowFixture(t, opaque)
	tok := exchangeVia(t, srv, codeVia(t, srv, newTestBrowser(t)))
	access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
	rec := f.post(PathRevoke, "app", "app-secret-0123456789", url.Values{"token": {refresh}, "token_type_hint": {"refresh_token"}})
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if _, err := f.srv.Verifier().Verify(t.Context(), access); err == nil {
		t.Fatal("access token of a revoked refresh token's family still valid")
	}
	rec = f.post(PathToken, "app", "app-secret-0123456789", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	wantError(t, rec, 400, "invalid_grant")
}

// CONFORMANCE V2: introspection per RFC 7662.
func TestIntrospection_V2(t *testing.T) {
	for _, format := range []TokenFormat{FormatJWT, FormatOpaque} {
		t.Run(string(format), func(t *testing.T) {
			f, srv := flowFixture(t, func(c *Config) { c.Format = format })
			tok := f.issue(t, "api_v3 bcf_v2_1")
			introspect := func(token string) map[string]any {
				rec := f.post(PathIntrospect, "oro", "oro-secret-0123456789", url.Values{"token": {token}})
				if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" {
					t.Fatalf("introspect: %d %s", rec.Code, rec.Body)
				}
				return decode(t, rec)
			}
			m := introspect(tok)
			want := map[string]any{"active": true, "scope": "api_v3 bcf_v2_1", "client_id": "reporting", "sub": "svc-reporting",
				"iss": testIssuer, "aud": "backend", "token_type": "Bearer",
				"exp": float64(f.clock.Now().Add(2 * time.Hour).Unix()), "iat": float64(f.clock.Now().Unix())}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
			pair := exchangeVia(t, srv, codeVia(t, srv, newTestBrowser(t)))
			if r := introspect(pair["refresh_token"].(string)); r["active"] != true || r["token_type"] != "refresh_token" || r["sub"] != "alice" {
				t.Fatalf("refresh token introspection: %v", r)
			}
			f.post(PathRevoke, "reporting", testSecret, url.Values{"token": {tok}})
			for _, inactive := range []string{tok, "garbage", "", "oga_" + strings.Repeat("A", 49)} {
				if inactive == "" {
					continue
				}
				r := introspect(inactive)
				if len(r) != 1 || r["active"] != false {
					t.Fatalf("introspection of %q: %v, want only active:false", inactive, r)
				}
			}
			// Expired tokens are inactive.
			other := f.issue(t, "")
			f.clock.Advance(3 * time.Hour)
			if r := introspect(other); r["active"] != false {
				t.Fatalf("expired token: %v", r)
			}
			wantError(t, f.post(PathIntrospect, "", "", url.Values{"token": {tok}}), 401, "invalid_client")
			wantError(t, f.post(PathIntrospect, "oro", "wrong", url.Values{"token": {tok}}), 401, "invalid_client")
		})
	}
}

// CONFORMANCE T7 (extended fields, seed 003): status, refresh_token_expires_in,
// refresh_token_issued_at, refresh_count.
func TestExtendedResponseFields_T7(t *testing.T) {
	f, srv := flowFixture(t, func(c *Config) { c.ExtendedFields = true })
	cc := decode(t, f.post(PathToken, "reporting", testSecret, url.Values{"grant_type": {"client_credentials"}}))
	if cc["status"] != "approved" || cc["refresh_count"] != "0" || cc["created_at"] == nil {
		t.Fatalf("client_credentials: %v", cc)
	}
	pair := exchangeVia(t, srv, codeVia(t, srv, newTestBrowser(t)))
	if pair["refresh_token_expires_in"] != "2592000" || pair["refresh_count"] != "0" ||
		pair["refresh_token_issued_at"] != strconv.FormatInt(f.clock.Now().Truncate(time.Second).UnixMilli(), 10) {
		t.Fatalf("authorization_code: %v", pair)
	}
	rec := f.post(PathToken, "app", "app-secret-0123456789", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pair["refresh_token"].(string)}})
	if r := decode(t, rec); r["refresh_count"] != "1" || r["status"] != "approved" {
		t.Fatalf("refresh: %v", r)
	}
	// Standard responses have none of them.
	g := newFixture(t)
	raw := g.post(PathToken, "reporting", testSecret, url.Values{"grant_type": {"client_credentials"}}).Body.String()
	for _, k := range []string{"status", "refresh_count", "refresh_token_issued_at"} {
		if strings.Contains(raw, k) {
			t.Fatalf("standard response has %s: %s", k, raw)
		}
	}
}

// Issue 17 item 4: when another client replays a client's code, the
// family's revocation lasts as long as the family's own tokens can — by
// the owner's lifetimes, not the shorter ones of the client presenting it.
// CONFORMANCE T3
func TestFamilyRevokedByAnotherClientsReplayStaysRevoked(t *testing.T) {
	f, srv := flowFixture(t)
	f.clients["app"].RefreshTokenTTL = 2000 * time.Hour // longer than the server's 720 h
	other := &Client{ID: "other", Grants: []string{GrantAuthorizationCode}, Scopes: []string{"api_v3"},
		RedirectURIs: []string{"https://other.example/cb"}, AccessTokenTTL: 10 * time.Minute, RefreshTokenTTL: time.Hour}
	other.SetSecret(HashSecret("other-secret-0123456789"))
	f.clients["other"] = other

	code := codeVia(t, srv, testutil.NewBrowser(t))
	status, body := redeem(t, srv, code)
	if status != 200 {
		t.Fatalf("redeem: %d %s", status, body)
	}
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.RefreshToken == "" {
		t.Fatalf("no refresh token: %s", body)
	}
	// The other client replays the code: the family is revoked.
	wantError(t, f.post(PathToken, "other", "other-secret-0123456789", url.Values{"grant_type": {"authorization_code"}, "code": {code}}), 400, "invalid_grant")
	refresh := func() *httptest.ResponseRecorder {
		return f.post(PathToken, "app", "app-secret-0123456789", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	}
	wantError(t, refresh(), 400, "invalid_grant")
	// Past the presenting client's lifetimes and the server's, within the owner's.
	f.clock.Advance(721 * time.Hour)
	wantError(t, refresh(), 400, "invalid_grant")
}

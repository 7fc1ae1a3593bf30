// Tests of metrics and Caddy events for issuance, refusal and revocation, and of report_only.

package caddymodule

import (
	"context"
	"encoding/base64"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// recorder is a test-only events handler that keeps what it receives.
type recorder struct{}

var (
	recordedMu sync.Mutex
	recorded   []caddy.Event
)

func init() { caddy.RegisterModule(recorder{}) }

func (recorder) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "events.handlers.oauthgate_test_recorder", New: func() caddy.Module { return recorder{} }}
}

func (recorder) Handle(_ context.Context, e caddy.Event) error {
	recordedMu.Lock()
	recorded = append(recorded, e)
	recordedMu.Unlock()
	return nil
}

func (recorder) UnmarshalCaddyfile(d *caddyfile.Dispenser) error { d.Next(); return nil }

func eventsNamed(name string) []caddy.Event {
	recordedMu.Lock()
	defer recordedMu.Unlock()
	var out []caddy.Event
	for _, e := range recorded {
		if e.Name() == name {
			out = append(out, e)
		}
	}
	return out
}

// metricValue reads one series from a Prometheus text exposition.
func metricValue(t *testing.T, exposition, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`)
	m := re.FindStringSubmatch(exposition)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// CONFORMANCE O1: after a scripted sequence the metrics endpoint shows the
// counters: tokens issued, requests refused, protect decisions by reason,
// revocations, store latency.
// CONFORMANCE O2 (events): Caddy events for issuance, refusal, revocation.
func TestMetricsAndEvents_O1(t *testing.T) {
	setSecrets(t)
	recordedMu.Lock()
	recorded = nil
	recordedMu.Unlock()
	g := newGateway(t)
	app := baseApp(g.base, "token_format opaque") + `
	events {
		on oauthgate.token_issued oauthgate_test_recorder
		on oauthgate.token_refused oauthgate_test_recorder
		on oauthgate.token_revoked oauthgate_test_recorder
		on oauthgate.access_refused oauthgate_test_recorder
	}`
	g.load(app, `
	metrics /metrics
	oauthgate_server
	route /api/* {
		oauthgate_protect api_v3
		respond "ok"
	}`)
	t1 := getToken(t, g, "reporting", reportingSecret, "api_v3")
	getToken(t, g, "reporting", reportingSecret, "bcf_v2_1")
	status, _ := tokenPost(t, g, "reporting", "wrong-secret", url.Values{"grant_type": {"client_credentials"}})
	if status != 401 {
		t.Fatal(status)
	}
	tokenPost(t, g, "reporting", reportingSecret, url.Values{"grant_type": {"password"}})
	apiCall(t, g, t1)                                   // allowed
	call(t, "GET", g.base+"/api/x", nil, "")            // no token
	apiCall(t, g, getToken(t, g, "oro", oroSecret, "")) // allowed (default api_v3)
	apiCall(t, g, "oga_"+strings.Repeat("A", 49))       // malformed opaque
	tokenPost(t, g, "reporting", reportingSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"bcf_v2_1"}})
	form := url.Values{"token": {t1}}
	if s, body := tokenPostPath(t, g, "/oauth/revoke", "reporting", reportingSecret, form); s != 200 {
		t.Fatalf("revoke: %d %s", s, body)
	}
	apiCall(t, g, t1) // revoked

	_, exp := call(t, "GET", g.base+"/metrics", nil, "")
	checks := map[string]float64{
		`oauthgate_tokens_issued_total{format="opaque",grant="client_credentials"}`: 4,
		`oauthgate_token_requests_refused_total{error="invalid_client"}`:            1,
		`oauthgate_token_requests_refused_total{error="unsupported_grant_type"}`:    1,
		`oauthgate_protect_decisions_total{outcome="allowed",reason="ok"}`:          2,
		`oauthgate_protect_decisions_total{outcome="refused",reason="no_token"}`:    1,
		`oauthgate_protect_decisions_total{outcome="refused",reason="malformed"}`:   1,
		`oauthgate_protect_decisions_total{outcome="refused",reason="unknown"}`:     1,
		`oauthgate_revocations_total{kind="access_token"}`:                          1,
	}
	for series, want := range checks {
		if got := metricValue(t, exp, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if metricValue(t, exp, `oauthgate_store_operation_duration_seconds_count{op="put_access"}`) != 4 {
		t.Errorf("store latency histogram missing put_access observations")
	}
	if metricValue(t, exp, `oauthgate_protect_check_duration_seconds_count`) != 5 {
		t.Errorf("protect check histogram count = %v, want 5", metricValue(t, exp, `oauthgate_protect_check_duration_seconds_count`))
	}
	for _, sec := range []string{reportingSecret, t1} {
		if strings.Contains(exp, sec) {
			t.Fatal("a secret or token appears in the metrics")
		}
	}

	for name, want := range map[string]int{"oauthgate.token_issued": 4, "oauthgate.token_refused": 2, "oauthgate.token_revoked": 1, "oauthgate.access_refused": 3} {
		if got := len(eventsNamed(name)); got != want {
			t.Errorf("%d %s events, want %d", got, name, want)
		}
	}
	if ev := eventsNamed("oauthgate.token_issued"); len(ev) > 0 && (ev[0].Data["client_id"] != "reporting" || ev[0].Data["subject"] != "svc-reporting") {
		t.Errorf("token_issued data %v", ev[0].Data)
	}
}

func tokenPostPath(t *testing.T, g *gateway, path, id, secret string, form url.Values) (int, string) {
	t.Helper()
	resp, body := call(t, "POST", g.base+path, map[string]string{"Content-Type": "application/x-www-form-urlencoded",
		"Authorization": basicAuth(id, secret)}, form.Encode())
	return resp.StatusCode, body
}

func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// report_only decides as usual, lets everything through with
// X-OAuth-Decision, and never lets forged identity headers pass.
func TestReportOnly(t *testing.T) {
	g, up := protectedGateway(t, "", `
	metrics /metrics
	oauthgate_server
	route /api/* {
		oauthgate_protect bcf_v2_1 {
			report_only
		}
		reverse_proxy {upstream}
	}`)
	resp, _ := call(t, "GET", g.base+"/api/x", map[string]string{"X-OAuth-Subject": "admin", "X-OAuth-Decision": "allow"}, "")
	got := up.last(t)
	if resp.StatusCode != 200 || got.Header.Get("X-OAuth-Subject") != "" ||
		got.Header.Get("X-OAuth-Decision") != `refuse; status=401; error="invalid_request"; reason="no_token"` {
		t.Fatalf("no token in report_only: %d, upstream saw %v", resp.StatusCode, got.Header)
	}
	tok := getToken(t, g, "reporting", reportingSecret, "api_v3")
	call(t, "GET", g.base+"/api/x", map[string]string{"Authorization": "Bearer " + tok}, "")
	if d := up.last(t).Header.Get("X-OAuth-Decision"); !strings.Contains(d, "status=403") || !strings.Contains(d, "insufficient_scope") {
		t.Fatalf("insufficient scope in report_only: %q", d)
	}
	tok = getToken(t, g, "reporting", reportingSecret, "bcf_v2_1")
	call(t, "GET", g.base+"/api/x", map[string]string{"Authorization": "Bearer " + tok}, "")
	if h := up.last(t).Header; h.Get("X-OAuth-Decision") != "allow" || h.Get("X-OAuth-Subject") != "svc-reporting" {
		t.Fatalf("valid token in report_only: %v", h)
	}
	_, exp := call(t, "GET", g.base+"/metrics", nil, "")
	if metricValue(t, exp, `oauthgate_protect_decisions_total{outcome="report_only",reason="insufficient_scope"}`) != 1 {
		t.Fatal("report_only refusals are not counted")
	}
}

// oauthgate's Prometheus metrics on Caddy's metrics endpoint.

package caddymodule

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are oauthgate's Prometheus series on Caddy's metrics endpoint
// (CONFORMANCE O1). Label values are fixed words or configured client ids,
// never anything a client can choose freely.
type metrics struct {
	issued      *prometheus.CounterVec   // grant, format
	refused     *prometheus.CounterVec   // error
	decisions   *prometheus.CounterVec   // outcome, reason
	revocations *prometheus.CounterVec   // kind
	storeOps    *prometheus.HistogramVec // op
	storeErrors *prometheus.CounterVec   // op
	storeFull   prometheus.Counter
	checks      prometheus.Histogram
}

const ns = "oauthgate"

// registerDataLosses exposes how often the store found Redis had lost its
// data (the marker it wrote at start gone).
func registerDataLosses(reg prometheus.Registerer, losses func() uint64) error {
	c := prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "store_data_losses_total",
		Help: "Times the Redis store found its data lost (the marker written at start gone): revocations and dynamic clients with it."},
		func() float64 { return float64(losses()) })
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return err
		}
	}
	return nil
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "tokens_issued_total",
			Help: "Access tokens issued, by grant type and token format."}, []string{"grant", "format"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "token_requests_refused_total",
			Help: "Token and authorization requests refused, by OAuth error code."}, []string{"error"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "protect_decisions_total",
			Help: "Bearer checks of oauthgate_protect, by outcome (allowed, refused, report_only) and reason."}, []string{"outcome", "reason"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "revocations_total",
			Help: "Revocations, by kind (access_token, refresh_token, family)."}, []string{"kind"}),
		storeOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "store_operation_duration_seconds",
			Help: "Token store operation latency.", Buckets: []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1, 2.5}},
			[]string{"op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "store_errors_total",
			Help: "Token store operations that failed (not counting not-found)."}, []string{"op"}),
		storeFull: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "store_full_total",
			Help: "Writes a bounded token store refused because its max_entries was reached."}),
		checks: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "protect_check_duration_seconds",
			Help: "Time oauthgate_protect spends deciding.", Buckets: []float64{.00001, .00005, .0001, .00025, .0005, .001, .005, .01, .05, .1}}),
	}
	for _, c := range []prometheus.Collector{m.issued, m.refused, m.decisions, m.revocations, m.storeOps, m.storeErrors, m.storeFull, m.checks} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}

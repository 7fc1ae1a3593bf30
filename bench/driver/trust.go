// The trusted-issuer scenarios: a pure gateway trusting another oauthgate, and the introspections per token.

package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"time"
)

// Trusted-issuer scenarios (issue 18): a second oauthgate issues the
// tokens, and the gateway under test is a pure gateway with only a
// `trust` block — a JWT checked with the issuer's JWKS, or an opaque token
// checked by introspection at the issuer, both with the verify cache on.

// introspectCache is the scenario's `cache`: at most one introspection
// per distinct token per interval.
const introspectCache = 5 * time.Minute

const benchSecretEnv = "OAUTHGATE_BENCH_SECRET"

// startTrusted starts the issuing oauthgate, takes the token pool from it,
// then starts the pure gateway v trusting it.
func startTrusted(i int, v *variant, plain, redisAddr string) error {
	iss := &variant{name: v.name + " issuer", format: v.trust, alg: "ES256", cache: true, port: freePort(), maxEntries: 5_000_000}
	start(fmt.Sprintf("gw%d-issuer", i), gatewayConfig(iss, plain, redisAddr), iss.port)
	fmt.Printf("issuing %d tokens at the trusted issuer for %s…\n", poolSize, v.name)
	if err := issuePool(iss, poolSize); err != nil {
		return err
	}
	v.tokens, v.issuer, v.started = iss.tokens, iss.base(), time.Now()
	_ = os.Setenv(benchSecretEnv, benchSecret)
	start(fmt.Sprintf("gw%d", i), trustedGatewayConfig(v), v.port)
	return nil
}

// trustedGatewayConfig has the route shape of gatewayConfig; the metrics
// handler answers only its own path.
func trustedGatewayConfig(v *variant) string {
	return fmt.Sprintf(`{
	%[1]s
	auto_https off
	oauthgate {
		trust %[2]s {
			audience %[2]s
			introspect {
				endpoint %[2]s/oauth/introspect
				client_id bench
				client_secret {env.%[3]s}
				cache %[4]s
			}
		}
	}
}
http://127.0.0.1:%[5]d {
	metrics /oauthgate-metrics
	oauthgate_protect /api/* api
	reverse_proxy /api/* 127.0.0.1:%[6]d %[7]s
}
`, adminLine(v), v.issuer, benchSecretEnv, introspectCache, v.port, upstreamPort, upstreamTransport)
}

var introspectRE = regexp.MustCompile(`oauthgate_trust_requests_total\{[^}]*kind="introspect"[^}]*outcome="ok"[^}]*\} ([0-9.e+]+)`)

// checkIntrospections reads how many introspections the gateway made and
// fails when a distinct token was introspected more than once per cache
// interval.
func checkIntrospections(v *variant) error {
	if v.trust != "opaque" {
		return nil
	}
	resp, err := http.Get(v.base() + "/oauthgate-metrics")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := introspectRE.FindSubmatch(b)
	if m == nil {
		return fmt.Errorf("%s: no introspection counter in the gateway's metrics", v.name)
	}
	n, _ := strconv.ParseFloat(string(m[1]), 64)
	intervals := math.Ceil(time.Since(v.started).Seconds() / introspectCache.Seconds())
	v.introspections = n / poolSize
	fmt.Printf("%s: %.0f introspections for %d distinct tokens over %s (%.2f per token; at most %.0f allowed)\n",
		v.name, n, poolSize, time.Since(v.started).Round(time.Second), v.introspections, intervals)
	if n > intervals*poolSize {
		return fmt.Errorf("%s: %.2f introspections per token, more than one per %s", v.name, v.introspections, introspectCache)
	}
	return nil
}

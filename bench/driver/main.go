// Command driver runs oauthgate's benchmarks (see bench/run): the same load
// against the plugin and against plain Caddy in one run, interleaved rounds,
// medians and ratios, written to docs/benchmarks.md and docs/benchmarks.png.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oauthgate/caddy-oauthgate/authz"
)

const (
	benchSecret = "bench-secret-0123456789abcdef"
	poolSize    = 10_000
)

var (
	seconds = envInt("BENCH_SECONDS", 8, 1, 15)
	rounds  = envInt("BENCH_ROUNDS", 3, 1, 9)
	// BENCH_ONLY (a regexp over scenario names) runs a subset and writes
	// bench/out/partial.md instead of docs/benchmarks.md.
	only *regexp.Regexp
	// BENCH_PROFILE=1 takes a CPU profile of each gateway during its first
	// measured load: bench/out/<scenario>.pprof, for go tool pprof.
	profiling = os.Getenv("BENCH_PROFILE") != ""
	work      string
	procs     []*exec.Cmd
)

func envInt(name string, def, lo, hi int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return min(max(v, lo), hi)
	}
	return def
}

func main() {
	var err error
	if o := os.Getenv("BENCH_ONLY"); o != "" {
		if only, err = regexp.Compile(o); err != nil {
			fail(fmt.Errorf("BENCH_ONLY: %v", err))
		}
	}
	if work, err = os.MkdirTemp("", "oauthgate-bench-"); err != nil {
		fail(err)
	}
	defer cleanup()
	if err := run(); err != nil {
		cleanup()
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// cleanup stops every process started, by pid.
func cleanup() {
	for _, p := range procs {
		if p.Process != nil {
			_ = p.Process.Kill()
			_, _ = p.Process.Wait()
		}
	}
	procs = nil
	_ = os.RemoveAll(work)
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs a Caddy with cfg and waits until port answers.
func start(name, cfg string, port int) {
	path := filepath.Join(work, name+".Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		fail(err)
	}
	cmd := exec.Command("bench/out/caddy", "run", "--config", path)
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+work, "XDG_CONFIG_HOME="+work)
	logf, _ := os.Create(filepath.Join(work, name+".log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	procs = append(procs, cmd)
	pids[port] = cmd.Process.Pid
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(work, name+".log"))
			fail(fmt.Errorf("%s did not start:\n%s", name, b))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// variant is one gateway configuration under test.
type variant struct {
	name   string
	format string // jwt | opaque
	alg    string
	cache  bool
	redis  bool
	port   int
	admin  int // admin port when profiling (BENCH_PROFILE), else 0
	// maxEntries raises the memory store's bound (the 1M-token scenario).
	maxEntries int
	tokens     string // file with the token pool
	target     float64
	// Paired measurements: each round runs the variant right next to its
	// reference (plain reverse_proxy, or `respond` for issuance), in
	// alternating order, and the ratio is taken within the pair.
	rps, ref           []float64
	rpsIssue, refIssue []float64
	// trust: a pure gateway trusting another oauthgate ("jwt" or "opaque"
	// tokens of that issuer; trust.go).
	trust, issuer string
	// mcp: the load is an MCP tool call to /mcp, an MCP server behind the
	// route (mcp.go), with tokens requested for that resource (RFC 8707).
	mcp bool
	// headersOnly: no oauthgate at all, but plain Caddy making the change
	// to the request that the gateway makes (the token removed, the five
	// identity headers set with header_up): what those headers alone cost
	// Caddy, the ceiling of every cache-on scenario.
	headersOnly    bool
	started        time.Time
	introspections float64
}

// pair runs a and b back to back, a first in odd rounds and b first in even
// ones, so a drift in the machine's speed does not favour either side.
func pair(round int, a, b func() (float64, error)) (float64, float64, error) {
	first, second := a, b
	if round%2 == 0 {
		first, second = b, a
	}
	x, err := first()
	if err != nil {
		return 0, 0, err
	}
	y, err := second()
	if err != nil {
		return 0, 0, err
	}
	if round%2 == 0 {
		x, y = y, x
	}
	return x, y, nil
}

func ratios(xs, refs []float64) []float64 {
	out := make([]float64, len(xs))
	for i := range xs {
		out[i] = xs[i] / refs[i]
	}
	return out
}

// issuance reports whether the variant's issuance is measured: once per
// gateway configuration (it does not depend on the verify cache), and not
// for the reference without oauthgate.
func (v *variant) issuance() bool { return !v.cache && !v.headersOnly }

func (v *variant) base() string { return fmt.Sprintf("http://127.0.0.1:%d", v.port) }

// path and script are what the variant's load requests: an API GET, or an
// MCP tool call.
func (v *variant) path() string {
	if v.mcp {
		return "/mcp"
	}
	return "/api/x"
}

func (v *variant) script() string {
	if v.mcp {
		return "bench/mcp.lua"
	}
	return "bench/tokens.lua"
}

func keyFile(alg string) string {
	path := filepath.Join(work, alg+".pem")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	k, err := authz.GenerateKey(alg)
	if err != nil {
		fail(err)
	}
	pemBytes, _ := authz.MarshalPrivateKeyPEM(k.Private)
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		fail(err)
	}
	return path
}

const upstreamTransport = `{
			transport http {
				keepalive 2m
				keepalive_idle_conns 512
				keepalive_idle_conns_per_host 256
			}
		}`

// gatewayConfig is the gateway under test. Its routes have the shape of the
// plain Caddy it is compared with (a path matcher on each handler, no extra
// subroute), so the ratio measures oauthgate, not Caddyfile style.
func gatewayConfig(v *variant, upstream, redisAddr string) string {
	sum := sha256.Sum256([]byte(benchSecret))
	extra := ""
	if v.maxEntries > 0 {
		extra += fmt.Sprintf("\n\t\tstore memory {\n\t\t\tmax_entries %d\n\t\t}", v.maxEntries)
	}
	if !v.cache {
		extra += "\n\t\tverify_cache off"
	}
	if v.redis {
		extra += fmt.Sprintf("\n\t\tstore redis {\n\t\t\taddresses %s\n\t\t}", redisAddr)
	}
	admin := adminLine(v)
	return fmt.Sprintf(`{
	%[10]s
	auto_https off
	oauthgate {
		issuer http://127.0.0.1:%[1]d
		token_format %[2]s
		signing_key %[3]s %[4]s%[5]s
		users {
			alice %[9]s
		}
		scope api "API" default
		client bench {
			secret_hash %[6]s
			grants client_credentials
			scopes api
		}
		client flows {
			secret_hash %[6]s
			redirect_uri https://client.example/cb
			grants authorization_code refresh_token
			scopes api
		}
	}
}
http://127.0.0.1:%[1]d {
	oauthgate_server
	oauthgate_protect /api/* api
	reverse_proxy /api/* 127.0.0.1:%[7]d %[8]s
%[11]s}
`, v.port, v.format, v.alg, keyFile(v.alg), extra, hex.EncodeToString(sum[:]), upstreamPort, upstreamTransport, aliceHash(), admin, mcpRoutes(v))
}

var upstreamPort, mcpPort int

const headersOnlyName = "Caddy alone, identity headers"

// headersOnlyConfig is plain Caddy's configuration with the gateway's change
// to the request made by reverse_proxy's header_up: the values are those the
// gateway gw sends for the bench client's tokens.
func headersOnlyConfig(v, gw *variant) string {
	headers := "\n\t\t\theader_up -Authorization"
	for _, h := range [][2]string{{"Subject", "bench"}, {"Client-Id", "bench"}, {"Scope", "api"}, {"Audience", gw.base()}, {"Issuer", gw.base()}} {
		headers += fmt.Sprintf("\n\t\t\theader_up X-OAuth-%s %s", h[0], h[1])
	}
	return fmt.Sprintf(`{
	%[1]s
	auto_https off
}
http://127.0.0.1:%[2]d {
	reverse_proxy /api/* 127.0.0.1:%[3]d %[4]s
	reverse_proxy /mcp 127.0.0.1:%[5]d %[6]s
	respond /static "ok" 200
}
`, adminLine(v), v.port, upstreamPort, strings.Replace(upstreamTransport, "{", "{"+headers, 1), mcpPort, upstreamTransport)
}

func adminLine(v *variant) string {
	if v.admin != 0 {
		return fmt.Sprintf("admin 127.0.0.1:%d", v.admin)
	}
	return "admin off"
}

// mcpRoutes are the MCP scenario's routes, only in its gateway: every
// route costs each request a little (Caddy compiles a site's routes per
// request), so the other scenarios do not carry them.
func mcpRoutes(v *variant) string {
	if !v.mcp {
		return ""
	}
	return fmt.Sprintf("\toauthgate_protect /mcp api {\n\t\tresource http://127.0.0.1:%d/mcp\n\t}\n\treverse_proxy /mcp 127.0.0.1:%d %s\n", v.port, mcpPort, upstreamTransport)
}

// pids maps the ports of the Caddys started to their processes, so each load
// can report the CPU time its server spent per request.
var pids = map[int]int{}

// cpuTicks is the user+system CPU time of pid, in clock ticks (1/100 s).
func cpuTicks(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return u + s
}

// lastCPU is the CPU time per request of the server under the last load and
// of the upstream, in µs.
var lastCPU struct{ server, upstream float64 }

func run() error {
	if _, err := os.Stat("bench/out/caddy"); err != nil {
		return errors.New("run bench/run, which builds bench/out/caddy first")
	}
	upstreamPort = freePort()
	start("upstream", fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n}\nhttp://127.0.0.1:%d {\n\trespond \"ok\" 200\n}\n", upstreamPort), upstreamPort)
	mcpPort = startMCPUpstream()
	plainPort := freePort()
	plainAdmin := "admin off"
	plainV := &variant{name: "plain reverse_proxy", port: plainPort}
	if profiling {
		plainV.admin = freePort()
		plainAdmin = fmt.Sprintf("admin 127.0.0.1:%d", plainV.admin)
	}
	start("plain", fmt.Sprintf("{\n\t%s\n\tauto_https off\n}\nhttp://127.0.0.1:%d {\n\treverse_proxy /api/* 127.0.0.1:%d %s\n\treverse_proxy /mcp 127.0.0.1:%d %s\n\trespond /static \"ok\" 200\n}\n",
		plainAdmin, plainPort, upstreamPort, upstreamTransport, mcpPort, upstreamTransport), plainPort)
	plain := fmt.Sprintf("http://127.0.0.1:%d", plainPort)

	redisAddr, stopRedis := startRedis()
	defer stopRedis()

	variants := []*variant{
		{name: "JWT ES256, cache off", format: "jwt", alg: "ES256", target: 0.52},
		{name: "JWT ES256, cache on", format: "jwt", alg: "ES256", cache: true, target: 0.95},
		{name: headersOnlyName, headersOnly: true},
		{name: "JWT EdDSA, cache off", format: "jwt", alg: "EdDSA", target: 0.58},
		{name: "JWT EdDSA, cache on", format: "jwt", alg: "EdDSA", cache: true, target: 0.95},
		// Room for the issuance rounds' tokens (about 40,000 a second).
		{name: "opaque memory, cache off", format: "opaque", alg: "ES256", target: 0, maxEntries: 5_000_000},
		{name: "opaque memory, cache on", format: "opaque", alg: "ES256", cache: true, target: 0.95, maxEntries: 5_000_000},
	}
	variants = append(variants,
		&variant{name: "trusted issuer JWT, cache on", trust: "jwt", cache: true, target: 0.95},
		&variant{name: "trusted issuer opaque, cache on", trust: "opaque", cache: true, target: 0.95},
		&variant{name: "MCP tool call, JWT, cache on", format: "jwt", alg: "ES256", cache: true, mcp: true, target: 0.95})
	if redisAddr != "" {
		variants = append(variants,
			&variant{name: "opaque Redis, cache off", format: "opaque", alg: "ES256", redis: true, target: 0.70},
			&variant{name: "opaque Redis, cache on", format: "opaque", alg: "ES256", redis: true, cache: true, target: 0.95})
	}
	if only != nil {
		variants = slices.DeleteFunc(variants, func(v *variant) bool { return !only.MatchString(v.name) })
		if only.MatchString("1M live tokens") {
			sc, err := liveTokenScaling()
			if err == nil {
				fmt.Printf("1M live tokens vs 1k: ratio %.3f\n", sc.ratio())
			}
			if len(variants) == 0 || err != nil {
				return err
			}
		}
		if only.MatchString("registration") {
			regs, err := registrations()
			if err != nil {
				return err
			}
			fmt.Printf("registrations: %.0f clients/s\n", regs)
			if len(variants) == 0 {
				return nil
			}
		}
		if len(variants) == 0 {
			return fmt.Errorf("BENCH_ONLY=%s matches no scenario (nor \"1M live tokens\", nor \"registration\")", only)
		}
	}
	for i, v := range variants {
		v.port = freePort()
		if profiling {
			v.admin = freePort()
		}
		if v.headersOnly {
			continue // started below, with a JWT scenario's tokens
		}
		if v.trust != "" {
			if err := startTrusted(i, v, plain, redisAddr); err != nil {
				return fmt.Errorf("%s: %v", v.name, err)
			}
			continue
		}
		start(fmt.Sprintf("gw%d", i), gatewayConfig(v, plain, redisAddr), v.port)
		fmt.Printf("issuing %d tokens for %s…\n", poolSize, v.name)
		if err := issuePool(v, poolSize); err != nil {
			return fmt.Errorf("%s: %v", v.name, err)
		}
		if v.mcp {
			tok, _ := os.ReadFile(v.tokens)
			if err := checkMCPCall(v.base()+"/mcp", strings.SplitN(string(tok), "\n", 2)[0]); err != nil {
				return err
			}
		}
	}

	for i, v := range variants {
		if !v.headersOnly {
			continue
		}
		// A JWT scenario's tokens, which this Caddy forwards without
		// checking, as plain Caddy does.
		src := slices.IndexFunc(variants, func(x *variant) bool { return x.format == "jwt" && !x.mcp && x.tokens != "" })
		if src < 0 {
			return fmt.Errorf("%q sends a JWT scenario's tokens: let BENCH_ONLY match one too (e.g. 'ES256, cache on|Caddy alone')", v.name)
		}
		v.tokens = variants[src].tokens
		start(fmt.Sprintf("headers%d", i), headersOnlyConfig(v, variants[src]), v.port)
	}

	// Warm-up, not recorded: connection pools fill, and the verify cache
	// sees each token once, as it would in production.
	for _, v := range variants {
		if _, err := wrk(v.base()+v.path(), v.script(), v.tokens, ""); err != nil {
			return fmt.Errorf("%s warm-up: %v", v.name, err)
		}
	}
	// Interleaved rounds: every variant is measured next to its reference.
	basic := base64.StdEncoding.EncodeToString([]byte("bench:" + benchSecret))
	for r := 1; r <= rounds; r++ {
		fmt.Printf("round %d/%d\n", r, rounds)
		for _, v := range variants {
			var cpuV, cpuRef string
			rps, ref, err := pair(r,
				func() (float64, error) {
					if profiling && r == 1 {
						defer profile(v)()
					}
					defer func() { cpuV = fmt.Sprintf("%.0f+%.0f", lastCPU.server, lastCPU.upstream) }()
					return wrk(v.base()+v.path(), v.script(), v.tokens, "")
				},
				func() (float64, error) {
					if profiling && r == 1 && v == variants[0] {
						defer profile(plainV)()
					}
					defer func() { cpuRef = fmt.Sprintf("%.0f+%.0f", lastCPU.server, lastCPU.upstream) }()
					// The same requests, tokens included, to plain Caddy.
					return wrk(plain+v.path(), v.script(), v.tokens, "")
				})
			if err != nil {
				return fmt.Errorf("%s: %v", v.name, err)
			}
			v.rps, v.ref = append(v.rps, rps), append(v.ref, ref)
			fmt.Printf("  %-26s %8.0f req/s  plain %8.0f  ratio %.2f  CPU µs/req gateway+upstream %s, plain %s\n", v.name, rps, ref, rps/ref, cpuV, cpuRef)
		}
	}
	// Issuance after every protect round: opaque issuance grows the stores,
	// which must not weigh on the protect measurements.
	for r := 1; r <= rounds; r++ {
		fmt.Printf("issuance round %d/%d\n", r, rounds)
		for _, v := range variants {
			if !v.issuance() {
				continue
			}
			rps, ref, err := pair(r,
				func() (float64, error) { return wrk(v.base()+"/oauth/token", "bench/issue.lua", "", basic) },
				func() (float64, error) { return wrk(plain+"/static", "", "", "") })
			if err != nil {
				return fmt.Errorf("%s issuance: %v", v.name, err)
			}
			v.rpsIssue, v.refIssue = append(v.rpsIssue, rps), append(v.refIssue, ref)
			fmt.Printf("  %-26s %8.0f tokens/s  respond %8.0f  ratio %.2f\n", v.name+" issue", rps, ref, rps/ref)
		}
	}
	for _, v := range variants {
		if err := checkIntrospections(v); err != nil {
			return err
		}
	}
	if only != nil {
		return report(variants, nil)
	}
	flows := authCodeFlows(variants[0])
	regs, err := registrations()
	if err != nil {
		return fmt.Errorf("registration: %v", err)
	}
	mem := memoryPerToken()
	redisBytes := redisPerToken(redisAddr, variants)
	scale, err := liveTokenScaling()
	if err != nil {
		return err
	}
	return report(variants, &extras{flows: flows, registrations: regs, mem: mem, redisBytes: redisBytes, scale: scale})
}

var rpsRE = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
var non2xx = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)

// wrk runs one bounded load and returns requests per second; any non-2xx
// answer fails the scenario.
func wrk(target, script, tokens, basic string) (float64, error) {
	args := []string{"-t2", "-c64", fmt.Sprintf("-d%ds", seconds), "--timeout", "5s"}
	if script != "" {
		args = append(args, "-s", script)
	}
	cmd := exec.Command("wrk", append(args, target)...)
	cmd.Env = append(os.Environ(), "TOKENS_FILE="+tokens, "BASIC="+basic)
	port, _ := strconv.Atoi(regexp.MustCompile(`:(\d+)/`).FindStringSubmatch(target)[1])
	s0, u0 := cpuTicks(pids[port]), cpuTicks(pids[upstreamPort])
	out, err := cmd.CombinedOutput()
	s1, u1 := cpuTicks(pids[port]), cpuTicks(pids[upstreamPort])
	if err != nil {
		return 0, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	if m := non2xx.FindSubmatch(out); m != nil {
		return 0, fmt.Errorf("%s non-2xx answers under load:\n%s", m[1], out)
	}
	if os.Getenv("BENCH_VERBOSE") != "" {
		fmt.Printf("wrk %s:\n%s\n", target, out)
	}
	m := rpsRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	rps, err := strconv.ParseFloat(string(m[1]), 64)
	n := rps * float64(seconds)
	lastCPU.server, lastCPU.upstream = (s1-s0)*1e4/n, (u1-u0)*1e4/n
	return rps, err
}

// issuePool gets n distinct tokens from the variant's token endpoint and
// keeps them in v.tokens, a file wrk reads.
func issuePool(v *variant, n int) error {
	var mu sync.Mutex
	var toks []string
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				form := "grant_type=client_credentials"
				if v.mcp {
					form += "&resource=" + url.QueryEscape(v.base()+"/mcp")
				}
				req, _ := http.NewRequest("POST", v.base()+"/oauth/token", strings.NewReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("bench", benchSecret)
				resp, err := client.Do(req)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				var m map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&m)
				resp.Body.Close()
				tok, _ := m["access_token"].(string)
				if tok == "" {
					firstErr.CompareAndSwap(nil, fmt.Errorf("token endpoint: %d %v", resp.StatusCode, m))
					return
				}
				mu.Lock()
				toks = append(toks, tok)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return e.(error)
	}
	v.tokens = filepath.Join(work, strings.NewReplacer(" ", "_", ",", "").Replace(v.name)+".tokens")
	return os.WriteFile(v.tokens, []byte(strings.Join(toks, "\n")+"\n"), 0o600)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// authCodeFlows counts complete authorization-code flows per second:
// consent page, Allow, code exchange — signed-in users, interleaved.
func authCodeFlows(v *variant) float64 {
	const workers = 16
	var done atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := newFlowClient(v.base())
			if err := f.login(); err != nil {
				fmt.Fprintln(os.Stderr, "flows: login:", err)
				return
			}
			for ctx.Err() == nil {
				if err := f.flow(); err != nil {
					if ctx.Err() == nil {
						fmt.Fprintln(os.Stderr, "flows:", err)
					}
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}

func readBody(r io.Reader) string { b, _ := io.ReadAll(r); return string(b) }

// profile starts a CPU profile and an allocation profile (the delta over
// the same window) of v's gateway for most of one load and returns a
// function that waits for them and saves them: bench/out/<name>.pprof and
// <name>.allocs.pprof.
func profile(v *variant) func() {
	var wg sync.WaitGroup
	name := strings.NewReplacer(" ", "_", ",", "").Replace(v.name)
	for kind, file := range map[string]string{"profile": name + ".pprof", "allocs": name + ".allocs.pprof"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/%s?seconds=%d", v.admin, kind, max(seconds-2, 1))
			resp, err := http.Get(url)
			if err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(filepath.Join("bench/out", file))
			if err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
				return
			}
			defer f.Close()
			_, _ = io.Copy(f, resp.Body)
		}()
	}
	time.Sleep(time.Second) // past the load's connection set-up
	return wg.Wait
}

// The benchmark report: the machine and tools, the table of ratios and targets, and the chart.

package main

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func toolVersion(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "n/a"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

type row struct {
	name          string
	rps, ref      float64
	target, ratio float64
}

// extras are the measurements of a full run beyond the paired ratios.
type extras struct {
	flows, registrations, mem, redisBytes float64
	scale                                 scaling
}

func report(vs []*variant, x *extras) error {
	var rows []row
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `bench/run` on %s. Every number is the median of %d interleaved rounds of %d s "+
		"(wrk -t2 -c64, loopback); in every round each scenario runs right next to its reference (alternating which goes first), "+
		"and the ratio is the median of the per-round ratios.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), rounds, seconds)
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %s, %s, %s. The machine is shared: compare ratios, not single numbers.\n\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), toolVersion("wrk", "-v"), toolVersion("uname", "-sr"))
	b.WriteString("## oauthgate_protect + reverse_proxy vs plain reverse_proxy\n\n")
	b.WriteString("Requests cycle through 10,000 distinct valid tokens (bench/tokens.lua); the upstream is a Caddy `respond`. " +
		"The MCP scenario sends one JSON-RPC tools/call per request (bench/mcp.lua) to a stateless MCP server of the Go SDK, " +
		"with tokens requested for its resource (RFC 8707); plain Caddy proxies the same calls to the same server.\n\n")
	// The ceiling: plain Caddy setting the same identity headers itself.
	ceiling := 0.0
	for _, v := range vs {
		if v.headersOnly {
			ceiling = median(ratios(v.rps, v.ref))
		}
	}
	// Three decimals: a ratio shown as 0.95 may be just below a target of
	// 0.95, which met compares unrounded. The rounds' range shows the noise.
	fmt.Fprintf(&b, "| scenario | req/s (median) | plain reverse_proxy req/s | ratio | rounds' ratios | target | met | ratio to %s |\n|---|---:|---:|---:|---:|---:|---|---:|\n", headersOnlyName)
	for _, v := range vs {
		rs := ratios(v.rps, v.ref)
		r := row{name: v.name, rps: median(v.rps), ref: median(v.ref), target: v.target, ratio: median(rs)}
		rows = append(rows, r)
		toCeiling := ""
		if ceiling > 0 && v.cache {
			toCeiling = fmt.Sprintf("%.3f", r.ratio/ceiling)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.3f | %s | %s | %s | %s |\n", v.name, r.rps, r.ref, r.ratio, spread(rs),
			targetText(v.target), met(r.ratio, v.target), toCeiling)
	}
	if ceiling > 0 {
		fmt.Fprintf(&b, "\n*%s* is plain Caddy, not oauthgate, setting the gateway's five identity headers itself with `header_up` "+
			"(bench/NOTES.md says what they cost). Its ratio (%.3f) is the ceiling of the cache-on scenarios; the last column divides each of them by it, "+
			"which leaves the plugin's own cost.\n", headersOnlyName, ceiling)
	}
	for _, v := range vs {
		if v.trust == "opaque" {
			fmt.Fprintf(&b, "\n%s: %.2f introspections per distinct token over the whole run (target ≤ 1 per `cache` interval of %s).\n",
				v.name, v.introspections, introspectCache)
		}
	}
	b.WriteString("\n## Token issuance (client_credentials) vs static `respond`\n\n| scenario | tokens/s (median) | `respond` req/s | ratio | target | met |\n|---|---:|---:|---:|---:|---|\n")
	for _, v := range vs {
		if !v.issuance() {
			continue
		}
		ratio := median(ratios(v.rpsIssue, v.refIssue))
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.2f | ≥ 0.25 | %s |\n", strings.TrimSuffix(v.name, ", cache off"), median(v.rpsIssue), median(v.refIssue), ratio, met(ratio, 0.25))
	}
	if x == nil {
		fmt.Print(b.String())
		return os.WriteFile("bench/out/partial.md", []byte(b.String()), 0o644)
	}
	flows, mem, redisBytes, sc := x.flows, x.mem, x.redisBytes, x.scale
	fmt.Fprintf(&b, "\n## Authorization-code flows\n\nComplete flows per second (consent page, Allow, code exchange with refresh token; 16 signed-in users): **%.0f** (target ≥ 1,500: %s).\n",
		flows, met(flows, 1500))
	fmt.Fprintf(&b, "\n## Dynamic client registration\n\nRFC 7591 registrations per second on the memory store (public clients, `POST /oauth/register`, bench/register.lua; the per-address limit raised for the one-address load): **%.0f** (target ≥ 1,000: %s).\n",
		x.registrations, met(x.registrations, 1000))
	b.WriteString("\n## Memory\n\n")
	fmt.Fprintf(&b, "- Memory store: %.0f bytes of Go heap per live opaque access token (100,000 tokens).\n", mem)
	if redisBytes > 0 {
		fmt.Fprintf(&b, "- Redis: %.0f bytes of `used_memory` per live opaque access token (100,000 tokens issued through the gateway into an emptied Redis; target ≤ 300: %s).\n", redisBytes, met(300/redisBytes, 1))
	} else {
		b.WriteString("- Redis: not measured in this run (no redis-server, or no Redis store in this build).\n")
	}
	cost := 1 - sc.ratio()
	fmt.Fprintf(&b, "- 1,000,000 live tokens vs 1,000 (memory store, cache off, end to end; wrk cycles through every live token): "+
		"%.0f vs %.0f req/s (medians of %d interleaved rounds), ratio %.2f: ", median(sc.large), median(sc.small), len(sc.large), sc.ratio())
	if cost <= 0 {
		b.WriteString("no cost (target < 5 %: yes) — the gateway holding 1M tokens was faster, its larger heap making the collector run less often.\n")
	} else {
		fmt.Fprintf(&b, "a cost of %.1f %% (target < 5 %%: %s).\n", 100*cost, met(0.05, cost))
	}
	rows = append(rows, row{name: "1M vs 1k live tokens", ratio: sc.ratio(), target: 0.95})
	b.WriteString("\n![ratios](benchmarks.png)\n\n## How to run\n\n```sh\n" +
		"bench/run                     # everything; BENCH_SECONDS=8 (≤ 15), BENCH_ROUNDS=3\n" +
		"BENCH_ONLY='EdDSA' bench/run  # scenarios whose name matches (\"1M live\" for the scaling run, \"registration\" for RFC 7591), to bench/out/partial.md\n" +
		"BENCH_PROFILE=1 bench/run     # CPU profiles in bench/out/*.pprof; BENCH_VERBOSE=1 shows wrk's output\n" +
		"go test ./authz ./tokenstore/... -run '^$' -bench . -benchmem   # micro-benchmarks\n```\n")
	if notes, err := os.ReadFile("bench/NOTES.md"); err == nil {
		b.WriteString("\n" + string(notes))
	}
	if err := os.WriteFile("docs/benchmarks.md", []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(b.String())
	return chart(rows, "docs/benchmarks.png")
}

func targetText(t float64) string {
	if t == 0 {
		return "—"
	}
	return fmt.Sprintf("≥ %.2f", t)
}

// spread is the lowest and highest of the rounds' ratios.
func spread(rs []float64) string {
	if len(rs) == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f–%.2f", slices.Min(rs), slices.Max(rs))
}

func met(v, target float64) string {
	switch {
	case target == 0:
		return ""
	case v >= target:
		return "yes"
	}
	return "**no**"
}

// chart draws the ratios as horizontal bars with their targets.
func chart(rows []row, path string) error {
	const w, barH, gap, left = 900, 26, 12, 260
	h := 60 + len(rows)*(barH+gap)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill := func(r image.Rectangle, c color.Color) {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				img.Set(x, y, c)
			}
		}
	}
	text := func(x, y int, s string, c color.Color) {
		d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	fill(img.Bounds(), color.White)
	text(10, 22, "req/s as a fraction of plain reverse_proxy (bar), target (red line)", color.Black)
	scale := float64(w-left-40) / 1.1
	for i, r := range rows {
		y := 40 + i*(barH+gap)
		text(10, y+17, r.name, color.Black)
		col := color.RGBA{0x1f, 0x5f, 0xd6, 0xff}
		if r.target > 0 && r.ratio < r.target {
			col = color.RGBA{0xe0, 0x8a, 0x1e, 0xff}
		}
		fill(image.Rect(left, y, left+int(min(r.ratio, 1.1)*scale), y+barH), col)
		text(left+int(min(r.ratio, 1.1)*scale)+6, y+17, fmt.Sprintf("%.2f", r.ratio), color.Black)
		if r.target > 0 {
			x := left + int(r.target*scale)
			fill(image.Rect(x-1, y-3, x+1, y+barH+3), color.RGBA{0xc0, 0x20, 0x20, 0xff})
		}
	}
	x1 := left + int(scale)
	fill(image.Rect(x1, 36, x1+1, h-8), color.Gray{0x99})
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return png.Encode(f, img)
}

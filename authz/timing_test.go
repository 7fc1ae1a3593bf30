// Tests that secrets are compared in constant time, and that unknown clients cost what known ones cost.

package authz

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/oauthgate/caddy-oauthgate/tokenstore/memory"
)

// An unknown client id and a known one with a wrong secret must cost the
// same, or the token endpoint tells an attacker which client ids exist and
// how far a guessed secret got. Two checks: the source compares secrets
// only through constant-time functions and pays the comparison for unknown
// clients too; and a statistical test measures both kinds interleaved
// (robust enough for -race and a loaded 2-core machine: paired ratios,
// a generous bound, three attempts).

// timingFuncs are the functions that compare secrets, and the constant-time
// calls each must make. A rename fails this test on purpose: the new
// function has to be checked again.
var timingFuncs = []struct {
	recv, name string
	calls      []string
}{
	{"SecretHash", "Matches", []string{"subtle.ConstantTimeCompare", "bcrypt.CompareHashAndPassword"}},
	{"", "VerifyPKCE", []string{"subtle.ConstantTimeCompare"}},
	{"signer", "checkCSRF", []string{"subtle.ConstantTimeCompare"}},
	{"signer", "open", []string{"hmac.Equal"}},
	{"", "AuthenticateClient", []string{"clients.decoySecret", "matchesAny"}},
	{"", "matchesAny", []string{"h.Matches"}},
}

// CONFORMANCE T2
// CONFORMANCE A7
// CONFORMANCE A9
func TestSecretsComparedInConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	funcs := map[string]*ast.FuncDecl{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			recv := ""
			if fd.Recv != nil && len(fd.Recv.List) == 1 {
				typ := fd.Recv.List[0].Type
				if star, ok := typ.(*ast.StarExpr); ok {
					typ = star.X
				}
				if id, ok := typ.(*ast.Ident); ok {
					recv = id.Name
				}
			}
			funcs[recv+"."+fd.Name.Name] = fd
		}
	}
	for _, want := range timingFuncs {
		fd := funcs[want.recv+"."+want.name]
		if fd == nil {
			t.Errorf("%s.%s not found: the function comparing secrets was renamed; point this test at it", want.recv, want.name)
			continue
		}
		var calls []string
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				calls = append(calls, exprString(n.Fun))
				if f := exprString(n.Fun); f == "bytes.Equal" || f == "strings.EqualFold" || f == "reflect.DeepEqual" {
					t.Errorf("%s: %s calls %s; use crypto/subtle", fset.Position(n.Pos()), want.name, f)
				}
			case *ast.BinaryExpr:
				// A secret compared with == or != would leak its prefix
				// length; comparisons with constants and nil are fine.
				if want.name != "AuthenticateClient" && (n.Op == token.EQL || n.Op == token.NEQ) && !constantish(n.X) && !constantish(n.Y) {
					t.Errorf("%s: %s compares %s %s %s; use crypto/subtle", fset.Position(n.Pos()), want.name, exprString(n.X), n.Op, exprString(n.Y))
				}
			}
			return true
		})
		for _, c := range want.calls {
			if !slices.Contains(calls, c) {
				t.Errorf("%s does not call %s", want.name, c)
			}
		}
	}
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	}
	return "?"
}

func constantish(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return e.Name == "nil" || e.Name == "true" || e.Name == "false"
	}
	return false
}

// timeInterleaved measures a and b alternately, rounds times, each sample a
// batch of n calls (the order flips every round). Neighbouring samples share
// the machine's load, so the result is the median of the per-round ratios
// a/b, with the median durations for the log.
func timeInterleaved(rounds, n int, a, b func()) (ratio float64, ma, mb time.Duration) {
	var ta, tb []time.Duration
	var ratios []float64
	measure := func(f func()) time.Duration {
		start := time.Now()
		for range n {
			f()
		}
		return time.Since(start)
	}
	for i := range rounds {
		var da, db time.Duration
		if i%2 == 0 {
			da = measure(a)
			db = measure(b)
		} else {
			db = measure(b)
			da = measure(a)
		}
		ta, tb, ratios = append(ta, da), append(tb, db), append(ratios, float64(da)/float64(db))
	}
	slices.Sort(ta)
	slices.Sort(tb)
	slices.Sort(ratios)
	return ratios[len(ratios)/2], ta[len(ta)/2], tb[len(tb)/2]
}

// assertSimilar runs timeInterleaved up to three times and fails when the
// ratio stays outside [lo, hi]: a real difference fails every attempt, a
// burst of load on a shared machine rarely spoils three in a row.
func assertSimilar(t *testing.T, what string, rounds, n int, a, b func()) {
	t.Helper()
	const lo, hi = 0.5, 2.0
	var ratio float64
	for attempt := 1; attempt <= 3; attempt++ {
		var ma, mb time.Duration
		ratio, ma, mb = timeInterleaved(rounds, n, a, b)
		t.Logf("attempt %d, %s: unknown client %v, wrong secret %v (median of %d calls), median ratio %.2f", attempt, what, ma, mb, n, ratio)
		if ratio >= lo && ratio <= hi {
			return
		}
	}
	t.Fatalf("%s: unknown client vs wrong secret: time ratio %.2f outside [%.1f, %.1f] in three attempts", what, ratio, lo, hi)
}

// CONFORMANCE T2
func TestUnknownClientCostsAsMuchAsAWrongSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("statistical timing test")
	}
	f := newFixture(t, func(c *Config) { c.ClientAuthLimit, c.IPAuthLimit = 1<<30, 1<<30 })

	// The client authentication alone, with a secret of 256 KiB: the secret's
	// hash is nearly all the work, so an unknown client that skipped it would
	// answer hundreds of times faster.
	t.Run("AuthenticateClient", func(t *testing.T) {
		secret := strings.Repeat("x", 256<<10)
		r := httptest.NewRequest(http.MethodPost, PathToken, nil)
		unknown := Params{"client_id": "nobody", "client_secret": secret}
		wrong := Params{"client_id": "reporting", "client_secret": secret}
		call := func(p Params) func() {
			return func() {
				if _, err := AuthenticateClient(r.Context(), f.srv.Registry(), r, p); err == nil || err.Code != "invalid_client" {
					t.Fatalf("AuthenticateClient: %v", err)
				}
			}
		}
		assertSimilar(t, "AuthenticateClient", 41, 4, call(unknown), call(wrong))
	})

	// The whole token endpoint, in process: request parsing, throttle,
	// authentication, the error response.
	t.Run("token endpoint", func(t *testing.T) {
		h := f.srv.Handler(PathToken)
		secret := strings.Repeat("y", 16<<10)
		send := func(id string) func() {
			body := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}.Encode()
			return func() {
				r := httptest.NewRequest(http.MethodPost, PathToken, strings.NewReader(body))
				r.Header.Set("Content-Type", formCT)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				if rec.Code != http.StatusUnauthorized {
					t.Fatalf("token endpoint: %d %s", rec.Code, rec.Body)
				}
			}
		}
		assertSimilar(t, "token endpoint", 101, 8, send("nobody"), send("reporting"))
	})
}

// Issue 17 item 3: with both hash kinds configured, an unknown client id
// costs what a wrong secret costs for the kind most clients use: SHA-256
// when generated secrets are the majority (the usual case, and always with
// dynamic clients), bcrypt when bcrypt secrets are. Today's decoy was bcrypt
// as soon as one client had a bcrypt secret_hash, which told every SHA-256
// client id apart from unknown ones.
// CONFORMANCE T2
func TestUnknownClientCostsWhatMostClientsCost(t *testing.T) {
	if testing.Short() {
		t.Skip("statistical timing test")
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("a human secret"), 8)
	bc, err := ParseSecretHash(string(hash))
	if err != nil {
		t.Fatal(err)
	}
	client := func(id string, h SecretHash) *Client {
		c := &Client{ID: id, Grants: []string{GrantClientCredentials}}
		c.SetSecret(h)
		return c
	}
	r := httptest.NewRequest(http.MethodPost, PathToken, nil)
	call := func(reg *Registry, id, secret string) func() {
		return func() {
			if _, err := AuthenticateClient(r.Context(), reg, r, Params{"client_id": id, "client_secret": secret}); err == nil || err.Code != "invalid_client" {
				t.Fatalf("AuthenticateClient(%s): %v", id, err)
			}
		}
	}
	t.Run("mostly SHA-256", func(t *testing.T) {
		reg := &Registry{Static: StaticClients{
			"a": client("a", HashSecret("a")), "b": client("b", HashSecret("b")), "c": client("c", HashSecret("c")),
			"legacy": client("legacy", bc)}}
		secret := strings.Repeat("x", 256<<10)
		assertSimilar(t, "mostly SHA-256", 41, 4, call(reg, "nobody", secret), call(reg, "b", secret))
	})
	t.Run("bcrypt static clients and a client store", func(t *testing.T) {
		// Dynamic clients have generated SHA-256 secrets, however few the
		// static ones are.
		reg := &Registry{Static: StaticClients{"h1": client("h1", bc), "h2": client("h2", bc)}, Records: memory.New(memory.Options{})}
		if d := reg.decoySecret(); d.sha == nil {
			t.Fatal("with a client store the decoy is not SHA-256")
		}
	})
	t.Run("mostly bcrypt", func(t *testing.T) {
		reg := &Registry{Static: StaticClients{
			"h1": client("h1", bc), "h2": client("h2", bc), "gen": client("gen", HashSecret("gen"))}}
		assertSimilar(t, "mostly bcrypt", 21, 1, call(reg, "nobody", "wrong"), call(reg, "h2", "wrong"))
	})
}

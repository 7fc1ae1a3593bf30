// Package testutil holds helpers shared by the project's tests.
package testutil

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Need returns the path of an external tool. Without it the test is skipped
// on a developer machine, and fails under CI=true, naming the package to install.
func Need(t testing.TB, tool, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required for this test and is missing: apt-get install -y %s", tool, debianPackage)
		}
		t.Skipf("%s is not installed (apt-get install -y %s)", tool, debianPackage)
	}
	return p
}

// OpenConns counts the connections s has open (set before s starts): each
// new one adds one, each closed or hijacked one takes one away.
func OpenConns(s *http.Server) *atomic.Int64 {
	var n atomic.Int64
	s.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			n.Add(1)
		case http.StateClosed, http.StateHijacked:
			n.Add(-1)
		}
	}
	return &n
}

// Package redistest runs real redis-server processes for tests: a standalone
// server or a 3-node Redis Cluster on free loopback ports, each with a data
// directory of the test's own, stopped by pid when the test ends.
//
// Without redis-server the test is skipped, and fails under CI=true naming
// the package to install (apt-get install -y redis-server).
package redistest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

// Server is one redis-server process.
type Server struct {
	Port int
	Addr string // 127.0.0.1:Port
	Dir  string // data directory, kept across Restart
	// Password is the --requirepass given to Start, if any.
	Password string

	t      testing.TB
	tls    bool // serves TLS only, on Port
	bin    string
	args   []string
	cmd    *exec.Cmd
	exited chan struct{}
	// retryBind: a first start that finds its port taken panics with
	// errPortTaken for tryStart to try another.
	retryBind bool
}

// Start runs a standalone redis-server; extra are more `--option value`
// arguments (e.g. "--requirepass", "secret").
// A port found free can be taken by another test before redis-server binds
// it: Start then tries again on other ports (and another cluster bus port).
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	for attempt := 1; ; attempt++ {
		args := slices.Clone(extra)
		if i := slices.Index(args, "--cluster-port"); i >= 0 && i+1 < len(args) && attempt > 1 {
			args[i+1] = strconv.Itoa(testutil.FreePort(t))
		}
		s, busy := tryStart(t, testutil.FreePort(t), args, attempt < 5)
		if !busy {
			return s
		}
	}
}

// tryStart starts a server; busy reports (when retry is allowed) that its
// port was taken at bind time, and nothing was started.
func tryStart(t testing.TB, port int, extra []string, retry bool) (s *Server, busy bool) {
	t.Helper()
	s = &Server{retryBind: retry}
	defer func() {
		if r := recover(); r != nil {
			if r != errPortTaken {
				panic(r)
			}
			busy = true
		}
	}()
	return startInto(t, s, port, extra...), false
}

// errPortTaken is raised (and recovered by tryStart) when redis-server
// could not bind its port.
var errPortTaken = errors.New("redistest: port taken")

func start(t testing.TB, port int, extra ...string) *Server {
	t.Helper()
	return startInto(t, &Server{}, port, extra...)
}

func startInto(t testing.TB, s *Server, port int, extra ...string) *Server {
	t.Helper()
	// Append-only persistence so a Stop and Restart keeps the data, as a
	// real restart of a persistent Redis would.
	return runInto(t, s, port, nil, append([]string{"--save", "", "--appendonly", "yes"}, extra...))
}

// run starts redis-server with leading arguments (a config file), the
// common options, then extra.
func run(t testing.TB, port int, lead, extra []string) *Server {
	t.Helper()
	return runInto(t, &Server{}, port, lead, extra)
}

func runInto(t testing.TB, s *Server, port int, lead, extra []string) *Server {
	t.Helper()
	bin := testutil.Need(t, "redis-server", "redis-server")
	dir := t.TempDir()
	s.Port, s.Addr, s.Dir, s.t, s.bin = port, fmt.Sprintf("127.0.0.1:%d", port), dir, t, bin
	for i, a := range extra {
		switch {
		case a == "--requirepass" && i+1 < len(extra):
			s.Password = extra[i+1]
		case a == "--tls-port":
			s.tls = true
		}
	}
	s.args = append(append(lead, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--daemonize", "no", "--logfile", filepath.Join(dir, "redis.log")), extra...)
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(s.Stop)
	s.Restart()
	s.retryBind = false
	return s
}

// StartTLS runs a standalone server that speaks only TLS on its port, with
// the given PEM certificate and key; clients need no certificate.
func StartTLS(t testing.TB, certFile, keyFile string, extra ...string) *Server {
	t.Helper()
	port := testutil.FreePort(t)
	return start(t, port, append([]string{"--port", "0", "--tls-port", strconv.Itoa(port),
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-auth-clients", "no"}, extra...)...)
}

// StartSentinel runs a Sentinel that monitors master under name.
func StartSentinel(t testing.TB, master *Server, name string) *Server {
	t.Helper()
	// Sentinel rewrites its config file, so it gets one of its own.
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	line := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\n", name, master.Port)
	if master.Password != "" {
		line += fmt.Sprintf("sentinel auth-pass %s %s\n", name, master.Password)
	}
	if err := os.WriteFile(conf, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return run(t, testutil.FreePort(t), []string{conf, "--sentinel"}, nil)
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Restart starts the server again on the same port and data directory. It
// is how Start launches it the first time.
func (s *Server) Restart() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatalf("redis-server on %s is still running", s.Addr)
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.Dir
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.exited)
	deadline := time.Now().Add(10 * time.Second)
	for !s.answers() {
		select {
		case <-s.exited:
			s.cmd = nil
			if s.retryBind && strings.Contains(s.logTail(), "Address already in use") {
				s.retryBind = false // only at the first start
				panic(errPortTaken)
			}
			s.t.Fatalf("redis-server on %s exited at start:\n%s", s.Addr, s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.t.Fatalf("redis-server on %s does not answer PING:\n%s", s.Addr, s.logTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop ends the server by its pid (SIGTERM: a clean shutdown that flushes
// the append-only file; SIGKILL if it lingers). Idempotent.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // in case it is frozen
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Freeze suspends the server (SIGSTOP): it keeps its connections open and
// answers nothing, like a hung or partitioned Redis. Thaw resumes it.
func (s *Server) Freeze() { _ = s.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (s *Server) Thaw() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }

// answers reports whether the server replies to an inline PING.
func (s *Server) answers() bool {
	var c net.Conn
	var err error
	d := &net.Dialer{Timeout: 200 * time.Millisecond}
	if s.tls {
		// A readiness probe only: the tests check certificates themselves.
		c, err = tls.DialWithDialer(d, "tcp", s.Addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = d.Dial("tcp", s.Addr)
	}
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	// -NOAUTH also means it is up, with requirepass set.
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH"))
}

// CLI runs redis-cli against the server and returns its output.
func (s *Server) CLI(args ...string) (string, error) {
	cli := testutil.Need(s.t, "redis-cli", "redis-server")
	cmd := exec.Command(cli, append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port)}, args...)...)
	if s.Password != "" {
		cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+s.Password) // not on the command line
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Cluster is a 3-master Redis Cluster without replicas.
type Cluster struct {
	Nodes []*Server
}

// StartCluster runs three cluster-enabled servers, assigns the slots with
// `redis-cli --cluster create` and waits until every node reports the
// cluster as ok.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{}
	for range 3 {
		// The cluster bus port is set explicitly: the default (port+10000)
		// may be taken or out of range.
		c.Nodes = append(c.Nodes, Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-port", strconv.Itoa(testutil.FreePort(t))))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	if out, err := c.Nodes[0].CLI(append(args, "--cluster-replicas", "0", "--cluster-yes")...); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, n := range c.Nodes {
		for {
			out, _ := n.CLI("cluster", "info")
			if strings.Contains(out, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ok on %s:\n%s", n.Addr, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// Addrs are the nodes' host:port addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// StartClusterWithReplicas runs six cluster-enabled servers — three masters,
// each with a replica — with the given cluster-node-timeout, so a master's
// death is followed by a failover, as in production.
func StartClusterWithReplicas(t testing.TB, nodeTimeout time.Duration) *Cluster {
	t.Helper()
	c := &Cluster{}
	for range 6 {
		c.Nodes = append(c.Nodes, Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(nodeTimeout/time.Millisecond)), "--cluster-port", strconv.Itoa(testutil.FreePort(t))))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	if out, err := c.Nodes[0].CLI(append(args, "--cluster-replicas", "1", "--cluster-yes")...); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range c.Nodes {
		for {
			info, _ := n.CLI("cluster", "info")
			nodes, _ := n.CLI("cluster", "nodes")
			repl, _ := n.CLI("info", "replication")
			// A replica can take over only once it has synced with its master.
			synced := strings.Contains(repl, "role:master") || strings.Contains(repl, "master_link_status:up")
			if strings.Contains(info, "cluster_state:ok") && strings.Count(nodes, "slave") == 3 && synced {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ok on %s:\n%s\n%s", n.Addr, info, nodes)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// Masters are the nodes serving slots now, as node 0 (or the first node
// that answers) sees them.
func (c *Cluster) Masters() []*Server {
	var out []*Server
	for _, n := range c.Nodes {
		if n.cmd == nil {
			continue
		}
		lines, err := n.CLI("cluster", "nodes")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(lines, "\n") {
			f := strings.Fields(line)
			if len(f) < 3 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
				continue
			}
			addr, _, _ := strings.Cut(f[1], "@")
			for _, s := range c.Nodes {
				if s.Addr == addr {
					out = append(out, s)
				}
			}
		}
		return out
	}
	return nil
}

// Kill ends the server with SIGKILL, as a crash would: no shutdown, no
// goodbye to the cluster.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

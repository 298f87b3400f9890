package test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/miekg/dns"
)

// Deadlines. They bound every wait; none of them is a sleep that correctness depends on.
const (
	startTimeout  = 30 * time.Second // feeds loaded and the DNS listener up, on a busy 2-core machine
	stopTimeout   = 10 * time.Second // SIGTERM to exit
	reloadTimeout = 10 * time.Second // a feed change on disk to a changed answer, with refresh 200ms
	queryTimeout  = 2 * time.Second  // one DNS exchange on loopback
	pollInterval  = 20 * time.Millisecond
	testRefresh   = "200ms" // the threatfeed refresh of the test Corefiles
)

// syncBuffer is an io.Writer that collects the process output and can be read while it is written.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ports hands out free loopback ports and never the same one twice in this test binary, so that
// parallel tests do not pick each other's ports between probing and binding.
var ports struct {
	mu   sync.Mutex
	used map[int]bool
}

// freePort returns a port that is free on 127.0.0.1 for TCP and, when udp is set, for UDP as well.
func freePort(t testing.TB, udp bool) int {
	t.Helper()
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.used == nil {
		ports.used = map[int]bool{}
	}
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen on a free TCP port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		ok := !ports.used[port]
		if ok && udp {
			u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				ok = false
			} else {
				u.Close()
			}
		}
		l.Close()
		if ok {
			ports.used[port] = true
			return port
		}
	}
	t.Fatal("found no port free for both UDP and TCP on 127.0.0.1 in 100 tries")
	return 0
}

// portInUse reports whether 127.0.0.1:port is taken for UDP or TCP.
func portInUse(port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return true
	}
	l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return true
	}
	u.Close()
	return false
}

// Server is one threatstop process.
type Server struct {
	t        testing.TB
	Dir      string // the temporary directory with the Corefile and the feed files
	Corefile string // path of the Corefile
	Text     string // the Corefile as written

	Port       int
	Addr       string // 127.0.0.1:Port, UDP and TCP
	ReadyURL   string
	MetricsURL string

	p     *process // the latest launch
	ended bool     // Shutdown stopped it: its exit is no failure
}

// Shutdown stops the server the way an operator does (SIGTERM), for a test that starts it again.
func (s *Server) Shutdown() {
	s.ended = true
	s.stop(s.p)
}

// process is one launch of the binary.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // the exit status, once done is closed
}

// newServer prepares a server directory: the named files of testdata/feeds are copied into it (writable,
// so tests can rewrite them). The Corefile is written by Start, from testdata/<tmpl>.
func newServer(t testing.TB, feeds ...string) *Server {
	t.Helper()
	s := &Server{t: t, Dir: t.TempDir()}
	for _, f := range feeds {
		copyFeed(t, f, filepath.Join(s.Dir, f))
	}
	return s
}

// startServer copies feeds, starts the binary on tmpl and waits until it is ready and answers DNS.
func startServer(t testing.TB, tmpl string, feeds ...string) *Server {
	t.Helper()
	s := newServer(t, feeds...)
	s.Start(tmpl, true)
	return s
}

// Path is the path of a file in the server directory.
func (s *Server) Path(name string) string { return filepath.Join(s.Dir, name) }

// corefileVars are the fields a Corefile template may use.
type corefileVars struct {
	Dir         string
	Port        int
	ReadyPort   int
	MetricsPort int
	Refresh     string
}

// renderCorefile fills in testdata/<tmpl>.
func renderCorefile(t testing.TB, tmpl string, v corefileVars) string {
	t.Helper()
	tp, err := template.ParseFiles(filepath.Join("testdata", tmpl))
	if err != nil {
		t.Fatalf("Corefile template: %v", err)
	}
	var b strings.Builder
	if err := tp.Execute(&b, v); err != nil {
		t.Fatalf("Corefile template %s: %v", tmpl, err)
	}
	return b.String()
}

// Start writes the Corefile from tmpl on fresh ports and starts the binary. With waitReady it waits for
// 200 from the ready endpoint; without, for any answer from it (a test of readiness itself). Either way it
// then waits until the DNS port answers. A start that loses a port race is retried on other ports.
func (s *Server) Start(tmpl string, waitReady bool) {
	t := s.t
	t.Helper()
	for attempt := 1; ; attempt++ {
		v := corefileVars{
			Dir:         s.Dir,
			Port:        freePort(t, true),
			ReadyPort:   freePort(t, false),
			MetricsPort: freePort(t, false),
			Refresh:     testRefresh,
		}
		s.Text = renderCorefile(t, tmpl, v)
		s.Corefile = filepath.Join(s.Dir, "Corefile")
		if err := os.WriteFile(s.Corefile, []byte(s.Text), 0o644); err != nil {
			t.Fatal(err)
		}
		s.Port = v.Port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(v.Port))
		s.ReadyURL = fmt.Sprintf("http://127.0.0.1:%d/ready", v.ReadyPort)
		s.MetricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", v.MetricsPort)
		s.launch(s.Dir, "-conf", s.Corefile)
		err := s.waitUp(waitReady)
		if err == nil {
			return
		}
		if s.exited() && strings.Contains(s.Output(), "address already in use") && attempt < 3 {
			t.Logf("port race on start, retrying: %s", lastLines(s.Output(), 3))
			continue
		}
		t.Fatalf("threatstop did not come up: %v\n--- output ---\n%s", err, s.Output())
	}
}

// launch starts the binary with args in dir and arranges for SIGTERM at the end of the test.
func (s *Server) launch(dir string, args ...string) {
	t := s.t
	t.Helper()
	p := &process{out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	orphanGuard(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", binary, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	s.p = p
	t.Cleanup(func() { s.stop(p) })
}

// stop ends one launched process: SIGTERM, then a bounded wait. The current process having exited
// without being told to is a test failure (a crash), reported with its output; an earlier launch that
// lost a port race is not.
func (s *Server) stop(p *process) {
	t := s.t
	select {
	case <-p.done:
		if s.p == p && !s.ended {
			t.Errorf("threatstop exited on its own during the test (%v)\n--- output ---\n%s", p.err, p.out.String())
		}
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("threatstop did not exit within %s of SIGTERM; killed", stopTimeout)
	}
	if t.Failed() && s.p == p {
		t.Logf("--- threatstop output (last 60 lines) ---\n%s", lastLines(p.out.String(), 60))
	}
}

// exited reports whether the process has exited.
func (s *Server) exited() bool {
	select {
	case <-s.p.done:
		return true
	default:
		return false
	}
}

// Output is everything the process wrote to stdout and stderr so far.
func (s *Server) Output() string { return s.p.out.String() }

// exitErr is the exit status of the process; call it only once exited reports true.
func (s *Server) exitErr() error {
	<-s.p.done
	return s.p.err
}

// waitUp waits for the ready endpoint (200, or any status when !waitReady) and then for a DNS answer.
func (s *Server) waitUp(waitReady bool) error {
	deadline := time.Now().Add(startTimeout)
	hc := &http.Client{Timeout: time.Second}
	for {
		if s.exited() {
			return fmt.Errorf("exited early: %v", s.exitErr())
		}
		code, _, err := httpGet(hc, s.ReadyURL)
		if err == nil && (code == http.StatusOK || !waitReady) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ready endpoint %s: no 200 within %s (last: %d %v)", s.ReadyURL, startTimeout, code, err)
		}
		time.Sleep(pollInterval)
	}
	// The ready endpoint is up from OnStartup on, the DNS listeners only after every OnStartup callback.
	m := new(dns.Msg)
	m.SetQuestion(".", dns.TypeNS)
	c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	for {
		if s.exited() {
			return fmt.Errorf("exited early: %v", s.exitErr())
		}
		if _, _, err := c.Exchange(m, s.Addr); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no DNS answer on %s within %s", s.Addr, startTimeout)
		}
		time.Sleep(pollInterval)
	}
}

func httpGet(hc *http.Client, url string) (int, string, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body), err
}

// Ready returns the status code and body of the ready endpoint.
func (s *Server) Ready() (int, string) {
	s.t.Helper()
	code, body, err := httpGet(&http.Client{Timeout: 2 * time.Second}, s.ReadyURL)
	if err != nil {
		s.t.Fatalf("GET %s: %v", s.ReadyURL, err)
	}
	return code, body
}

// Metric returns the value of the sample named exactly series (name{labels}) on the prometheus endpoint,
// and whether it is there.
func (s *Server) Metric(series string) (float64, bool) {
	s.t.Helper()
	code, body, err := httpGet(&http.Client{Timeout: 2 * time.Second}, s.MetricsURL)
	if err != nil || code != http.StatusOK {
		s.t.Fatalf("GET %s: %d %v", s.MetricsURL, code, err)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				s.t.Fatalf("metric line %q: %v", line, err)
			}
			return v, true
		}
	}
	return 0, false
}

// Exchange sends m over network ("udp" or "tcp").
func (s *Server) Exchange(network string, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: queryTimeout}
	r, _, err := c.Exchange(m, s.Addr)
	return r, err
}

// QueryNet asks name/qtype over network with RD clear, as a DNSBL client does; any failure to get an
// answer fails the test, with the process output when the process is gone.
func (s *Server) QueryNet(t testing.TB, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = false
	r, err := s.Exchange(network, m)
	if err != nil {
		s.failQuery(t, fmt.Sprintf("%s %s %s", network, name, dns.TypeToString[qtype]), err)
	}
	return r
}

// Query is QueryNet over UDP.
func (s *Server) Query(t testing.TB, name string, qtype uint16) *dns.Msg {
	t.Helper()
	return s.QueryNet(t, "udp", name, qtype)
}

func (s *Server) failQuery(t testing.TB, what string, err error) {
	t.Helper()
	if s.exited() {
		t.Fatalf("query %s: %v; threatstop has exited (%v)\n--- output ---\n%s", what, err, s.exitErr(), s.Output())
	}
	t.Fatalf("query %s: %v", what, err)
}

// CheckAlive fails the test unless the process is still running and answers a query.
func (s *Server) CheckAlive(t testing.TB, name string, qtype uint16, wantRcode int) {
	t.Helper()
	if s.exited() {
		t.Fatalf("threatstop has exited (%v)\n--- output ---\n%s", s.exitErr(), s.Output())
	}
	for _, network := range []string{"udp", "tcp"} {
		r := s.QueryNet(t, network, name, qtype)
		if r.Rcode != wantRcode {
			t.Fatalf("after the test, %s %s: rcode %s, want %s", network, name, dns.RcodeToString[r.Rcode], dns.RcodeToString[wantRcode])
		}
	}
}

// WaitLog waits until the output matches re, and returns the first match.
func (s *Server) WaitLog(t testing.TB, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindString(s.Output()); m != "" {
			return m
		}
		if s.exited() {
			t.Fatalf("threatstop exited (%v) before logging %q\n--- output ---\n%s", s.exitErr(), re, s.Output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line matching %q within %s\n--- output (last 40 lines) ---\n%s", re, timeout, lastLines(s.Output(), 40))
		}
		time.Sleep(pollInterval)
	}
}

// eventually polls cond until it returns "" or timeout passes; then it fails with cond's last complaint.
func eventually(t testing.TB, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, msg)
		}
		time.Sleep(pollInterval)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// copyFeed copies testdata/feeds/<name> of the repository to dst, writable.
func copyFeed(t testing.TB, name, dst string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "feeds", name))
	if err != nil {
		t.Fatalf("feed fixture: %v", err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readFeed returns the content of a fixture feed of the repository.
func readFeed(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "feeds", name))
	if err != nil {
		t.Fatalf("feed fixture: %v", err)
	}
	return data
}

// replaceFile replaces path atomically, as a feed downloader does: write a temporary file in the same
// directory, then rename it over path.
func replaceFile(t testing.TB, path string, data []byte) {
	t.Helper()
	f, err := os.CreateTemp(filepath.Dir(path), ".incoming-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		t.Fatal(err)
	}
}

// lineOf returns the 1-based number of the first line of text that contains substr.
func lineOf(t testing.TB, text, substr string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			return i + 1
		}
	}
	t.Fatalf("no line contains %q", substr)
	return 0
}

// ---- answers ----

// addrName is the DNSxL query name of an IPv4 or IPv6 address under suffix (RFC 5782 §2.1, §2.4).
func addrName(t testing.TB, addr, suffix string) string {
	t.Helper()
	ip := net.ParseIP(addr)
	if ip == nil {
		t.Fatalf("bad address %q", addr)
	}
	var labels []string
	if v4 := ip.To4(); v4 != nil && !strings.Contains(addr, ":") {
		for i := 3; i >= 0; i-- {
			labels = append(labels, strconv.Itoa(int(v4[i])))
		}
	} else {
		ip16 := ip.To16()
		for i := 15; i >= 0; i-- {
			labels = append(labels, strconv.FormatUint(uint64(ip16[i]&0xf), 16), strconv.FormatUint(uint64(ip16[i]>>4), 16))
		}
	}
	return strings.Join(labels, ".") + "." + dns.Fqdn(suffix)
}

// aRecords returns the A addresses of the answer section, in order.
func aRecords(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

// txtRecords returns the TXT strings of the answer section, each record's strings joined.
func txtRecords(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out
}

// authSOA returns the single SOA of the authority section, or nil.
func authSOA(r *dns.Msg) *dns.SOA {
	var soa *dns.SOA
	n := 0
	for _, rr := range r.Ns {
		if s, ok := rr.(*dns.SOA); ok {
			soa = s
			n++
		}
	}
	if n != 1 {
		return nil
	}
	return soa
}

// rcode names a response code.
func rcode(r *dns.Msg) string { return dns.RcodeToString[r.Rcode] }

// ---- dig ----

// digPath returns the dig executable; a missing dig is a failure, not a skip: CI must install it.
func digPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("dig")
	if err != nil {
		t.Fatalf("dig not found in PATH (%v): install dnsutils (apt-get install dnsutils) to run the end-to-end tests", err)
	}
	return p
}

// dig runs `dig -p PORT @127.0.0.1 args...` with one try and a short timeout, and returns its output.
func dig(t testing.TB, port int, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	full := append([]string{"-p", strconv.Itoa(port), "@127.0.0.1", "+time=2", "+tries=1"}, args...)
	cmd := exec.CommandContext(ctx, digPath(t), full...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("dig %s: exit %d\n%s", strings.Join(full, " "), ee.ExitCode(), out)
		}
		t.Fatalf("dig %s: %v\n%s", strings.Join(full, " "), err, out)
	}
	return string(out)
}

var digStatusRE = regexp.MustCompile(`(?m)^;; ->>HEADER<<- opcode: \w+, status: (\w+), id: \d+`)

// digStatus returns the rcode from dig's header comment (+comments).
func digStatus(t testing.TB, out string) string {
	t.Helper()
	m := digStatusRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no status line in dig output:\n%s", out)
	}
	return m[1]
}

// digRRs parses the resource records that dig printed (every line that is not a comment or blank).
func digRRs(t testing.TB, out string) []dns.RR {
	t.Helper()
	var rrs []dns.RR
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("dig printed %q, not a resource record: %v\n%s", line, err, out)
		}
		if rr != nil {
			rrs = append(rrs, rr)
		}
	}
	return rrs
}

// digShort returns the non-empty lines of dig +short output.
func digShort(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, ";") {
			lines = append(lines, l)
		}
	}
	return lines
}

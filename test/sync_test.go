package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// threatstop-sync end to end: the real threatstop binary serves a policy's RPZ zone, the real
// threatstop-sync ($THREATSTOP_SYNC_BIN; make test sets it) fetches it and loads nftables, and the test
// reads the kernel's sets back with `nft -j list set` and sends packets through the rules. It all runs in a
// network namespace of its own (`unshare -rn`: this test binary runs itself again there, for TestSync
// alone), so the host's firewall is never touched: threatstop, threatstop-sync and nft share that
// namespace's loopback and netfilter.

const (
	syncKey    = "p.key."
	syncSecret = "cC1rZXktb2YtY3VzdG9tZXItcC0zMi1ieXRlcy14eA=="
	syncApex   = "p.rpz.threatstop.test."
	envSyncNS  = "THREATSTOP_SYNC_E2E_IN_NETNS"
)

// syncFeeds are the policy's feeds; syncAdded is the entry the IXFR step adds to feed v4.
var syncFeeds = map[string]string{
	"v4":    "1.2.3.4\n44.55.0.0/16\n",
	"v6":    "2a06:e480::/32\n",
	"names": "bad.example.com\n",
}

const syncAdded = "46.10.0.0/16"

// The sets the kernel must hold, as address ranges written by hand: v4 with 44.55.66.77 allowed out of
// 44.55.0.0/16, the policy's own block entry 37.0.10.0/24.
var (
	syncWant4 = []string{"1.2.3.4-1.2.3.4", "37.0.10.0-37.0.10.255", "44.55.0.0-44.55.66.76", "44.55.66.78-44.55.255.255"}
	syncWant6 = []string{"2a06:e480::-2a06:e480:ffff:ffff:ffff:ffff:ffff:ffff"}
	// after the IXFR
	syncWant4b = []string{"1.2.3.4-1.2.3.4", "37.0.10.0-37.0.10.255", "44.55.0.0-44.55.66.76", "44.55.66.78-44.55.255.255", "46.10.0.0-46.10.255.255"}
)

func syncBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("THREATSTOP_SYNC_BIN")
	if bin == "" {
		t.Skip("THREATSTOP_SYNC_BIN is not set (make test sets it to bin/threatstop-sync): skipping the threatstop-sync end-to-end test")
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("THREATSTOP_SYNC_BIN=%s: %v (run make build)", bin, err)
	}
	return abs
}

// syncNamespace runs the calling test again inside `unshare -rn` and returns false in the outer process;
// in the inner one it brings the loopback up and returns true.
func syncNamespace(t *testing.T) bool {
	t.Helper()
	if os.Getenv(envSyncNS) == "1" {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set lo up: %v: %s", err, out)
		}
		return true
	}
	if out, err := exec.Command("unshare", "-rn", "true").CombinedOutput(); err != nil {
		t.Skipf("skipped: cannot make a network namespace with `unshare -rn` (%v: %s)", err, out)
	}
	for _, tool := range []string{"nft", "ip"} {
		if _, err := exec.LookPath(tool); err != nil && !syncFileExists("/usr/sbin/"+tool) && !syncFileExists("/sbin/"+tool) {
			t.Fatalf("%s not found (%v): install nftables and iproute2 to run the threatstop-sync tests", tool, err)
		}
	}
	cmd := exec.Command("unshare", "-rn", os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.count=1", "-test.v")
	// nft lives in /usr/sbin, which a user's PATH may lack.
	cmd.Env = append(os.Environ(), envSyncNS+"=1", "THREATSTOP_BIN="+binary, "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("inside the namespace: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("inside the namespace:\n%s", lastLines(string(out), 40))
	}
	return false
}

func syncFileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// syncServer is a threatstop process that the test can stop in the middle.
type syncServer struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	addr string
}

func startSyncServer(t *testing.T, dir string) *syncServer {
	t.Helper()
	var feeds strings.Builder
	for _, name := range []string{"v4", "v6", "names"} {
		path := filepath.Join(dir, name+".txt")
		if err := os.WriteFile(path, []byte(syncFeeds[name]), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&feeds, "        feed %s {\n            file %s\n            format plain\n            category %s\n        }\n",
			name, path, map[string]string{"v4": "spam", "v6": "spam", "names": "malware"}[name])
	}
	port := freePort(t, true)
	corefile := filepath.Join(dir, "Corefile")
	text := fmt.Sprintf(`threatstop.test:%d {
    bind 127.0.0.1
    tsig {
        secret %s %s
        require AXFR IXFR
    }
    transfer {
        to *
    }
    threatfeed {
        refresh %s
%s    }
    threatstop {
        policy p {
            lists v4 v6 names
            block 37.0.10.0/24 own.example.com
            allow 44.55.66.77
            action malware redirect 192.0.2.80
            keys %s
        }
    }
}
`, port, syncKey, syncSecret, testRefresh, feeds.String(), syncKey)
	if err := os.WriteFile(corefile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &syncServer{out: &syncBuffer{}, done: make(chan struct{}), addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	s.cmd = exec.Command(binary, "-conf", corefile)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	orphanGuard(s.cmd)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("--- threatstop output ---\n%s", lastLines(s.out.String(), 40))
		}
	})
	deadline := time.Now().Add(startTimeout)
	for s.serial() == 0 {
		select {
		case <-s.done:
			t.Fatalf("threatstop exited:\n%s", s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SOA of %s within %s:\n%s", syncApex, startTimeout, lastLines(s.out.String(), 20))
		}
		time.Sleep(pollInterval)
	}
	return s
}

// serial is the policy's SOA serial, 0 while there is no answer.
func (s *syncServer) serial() uint32 {
	m := new(dns.Msg)
	m.SetQuestion(syncApex, dns.TypeSOA)
	r, _, err := (&dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}).Exchange(m, s.addr)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		return 0
	}
	if soa, ok := r.Answer[0].(*dns.SOA); ok {
		return soa.Serial
	}
	return 0
}

func (s *syncServer) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// runSync runs threatstop-sync --once with args and returns its output and exit code.
func runSync(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("threatstop-sync: %v", err)
	return "", 0
}

// nftRanges reads the sets of one family back from the kernel (v4 and h4: ranges and single addresses;
// or v6 and h6) as "first-last" ranges in address order.
func nftRanges(t *testing.T, family string) []string {
	t.Helper()
	rs := nftSetRanges(t, "v"+family)
	rs = append(rs, nftSetRanges(t, "h"+family)...)
	slices.SortFunc(rs, func(a, b string) int {
		fa, _, _ := strings.Cut(a, "-")
		fb, _, _ := strings.Cut(b, "-")
		return netip.MustParseAddr(fa).Compare(netip.MustParseAddr(fb))
	})
	return rs
}

func nftSetRanges(t *testing.T, set string) []string {
	t.Helper()
	out, err := exec.Command("nft", "-j", "list", "set", "inet", "threatstop", set).CombinedOutput()
	if err != nil {
		t.Fatalf("nft -j list set inet threatstop %s: %v\n%s", set, err, out)
	}
	var doc struct {
		Nftables []struct {
			Set *struct {
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("nft -j: %v\n%s", err, out)
	}
	var rs []string
	for _, o := range doc.Nftables {
		if o.Set == nil {
			continue
		}
		for _, e := range o.Set.Elem {
			var addr string
			var v struct {
				Prefix *struct {
					Addr string `json:"addr"`
					Len  int    `json:"len"`
				} `json:"prefix"`
				Range []string `json:"range"`
			}
			switch {
			case json.Unmarshal(e, &addr) == nil:
				rs = append(rs, addr+"-"+addr)
			case json.Unmarshal(e, &v) == nil && v.Prefix != nil:
				p := netip.PrefixFrom(netip.MustParseAddr(v.Prefix.Addr), v.Prefix.Len)
				rs = append(rs, p.Addr().String()+"-"+lastAddr(p).String())
			case len(v.Range) == 2:
				rs = append(rs, v.Range[0]+"-"+v.Range[1])
			default:
				t.Fatalf("nft element %s", e)
			}
		}
	}
	return rs
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// checkSets compares the kernel's sets with the ranges wanted. A dump right after a load may miss
// elements while the kernel resizes a hash set, so a mismatch is read again until a deadline.
func checkSets(t *testing.T, what string, want4, want6 []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got4, got6 := nftRanges(t, "4"), nftRanges(t, "6")
		if slices.Equal(got4, want4) && slices.Equal(got6, want6) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: sets v4 and h4 hold %v, want %v; v6 and h6 hold %v, want %v", what, got4, want4, got6, want6)
		}
		time.Sleep(pollInterval)
	}
}

// sendUDP sends one datagram to addr; the output hook's drop makes the send fail with EPERM.
func sendUDP(addr string) error {
	c, err := net.Dial("udp", net.JoinHostPort(addr, "9"))
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte("x"))
	return err
}

func TestSync(t *testing.T) {
	bin := syncBinary(t)
	if !syncNamespace(t) {
		return
	}
	dir := t.TempDir()
	// Listed and allowed addresses on the loopback, so that packets to them reach the output hook.
	for _, a := range []string{"1.2.3.4/32", "44.55.66.77/32", "46.10.0.1/32"} {
		if out, err := exec.Command("ip", "addr", "add", a, "dev", "lo").CombinedOutput(); err != nil {
			t.Fatalf("ip addr add %s: %v: %s", a, err, out)
		}
	}
	s := startSyncServer(t, dir)
	state := filepath.Join(dir, "state.json")
	args := []string{"--once", "--zone", syncApex, "--server", s.addr, "--tsig", "hmac-sha256:" + syncKey + ":" + syncSecret,
		"--state", state, "--nft", "--log-rate", "5"}

	// AXFR.
	out, code := runSync(t, bin, args...)
	if code != 0 {
		t.Fatalf("first sync: exit %d\n%s", code, out)
	}
	checkSets(t, "after the AXFR", syncWant4, syncWant6)
	if !strings.Contains(out, "AXFR:") || !strings.Contains(out, "2 QNAME triggers") || !strings.Contains(out, "1 allow") {
		t.Errorf("first sync output:\n%s", out)
	}
	chain, _ := exec.Command("nft", "list", "chain", "inet", "threatstop", "output").CombinedOutput()
	if !strings.Contains(string(chain), `ip daddr @v4 limit rate 5/second log prefix "THREATSTOP DROP out "`) {
		t.Errorf("output chain:\n%s", chain)
	}
	if err := sendUDP("1.2.3.4"); !errors.Is(err, syscall.EPERM) {
		t.Errorf("a packet to listed 1.2.3.4: %v, want EPERM (dropped)", err)
	}
	if err := sendUDP("44.55.66.77"); err != nil {
		t.Errorf("a packet to allowed 44.55.66.77: %v", err)
	}
	if err := sendUDP("46.10.0.1"); err != nil {
		t.Errorf("a packet to 46.10.0.1, not yet listed: %v", err)
	}

	// A feed change: the serial moves, the next sync is an IXFR applied as element adds.
	serial := s.serial()
	replaceFile(t, filepath.Join(dir, "v4.txt"), []byte(syncFeeds["v4"]+syncAdded+"\n"))
	deadline := time.Now().Add(reloadTimeout)
	for s.serial() == serial {
		if time.Now().After(deadline) {
			t.Fatalf("the serial did not move within %s of the feed change", reloadTimeout)
		}
		time.Sleep(pollInterval)
	}
	out, code = runSync(t, bin, args...)
	if code != 0 {
		t.Fatalf("second sync: exit %d\n%s", code, out)
	}
	checkSets(t, "after the IXFR", syncWant4b, syncWant6)
	if !strings.Contains(out, "IXFR from "+strconv.FormatUint(uint64(serial), 10)) || !strings.Contains(out, "nftables: incremental: 0 ranges deleted, 1 added") {
		t.Errorf("second sync output:\n%s", out)
	}
	if err := sendUDP("46.10.0.1"); !errors.Is(err, syscall.EPERM) {
		t.Errorf("a packet to newly listed 46.10.0.1: %v, want EPERM", err)
	}

	// A wrong key, then the server stopped: nothing changes, exit 1.
	before, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	ruleset, _ := exec.Command("nft", "list", "ruleset").CombinedOutput()
	wrongKey := slices.Clone(args)
	wrongKey[slices.Index(wrongKey, "--tsig")+1] = "hmac-sha256:" + syncKey + ":d3Jvbmctc2VjcmV0LW9mLTMyLWJ5dGVzLXp6enp6eno="
	s2 := [][]string{wrongKey, args}
	for i, a := range s2 {
		if i == 1 {
			s.stop()
		}
		out, code = runSync(t, bin, a...)
		if code != 1 || !strings.Contains(out, "firewall left as it was") {
			t.Fatalf("failure %d: exit %d, want 1\n%s", i, code, out)
		}
		after, _ := os.ReadFile(state)
		now, _ := exec.Command("nft", "list", "ruleset").CombinedOutput()
		if string(after) != string(before) || string(now) != string(ruleset) {
			t.Fatalf("failure %d changed the state or the ruleset\n%s", i, out)
		}
	}
	if !strings.Contains(out, "connection refused") {
		t.Errorf("stopped server:\n%s", out)
	}
	checkSets(t, "after the server stopped", syncWant4b, syncWant6)
	if err := sendUDP("1.2.3.4"); !errors.Is(err, syscall.EPERM) {
		t.Errorf("after the failures, a packet to listed 1.2.3.4: %v, want EPERM", err)
	}

	// A reboot (the kernel's table gone) while the server is still down: the sync gives nftables the last
	// applied set from the state file, fails closed, and still exits 1.
	if o, err := exec.Command("nft", "flush", "ruleset").CombinedOutput(); err != nil {
		t.Fatalf("nft flush ruleset: %v\n%s", err, o)
	}
	if err := sendUDP("1.2.3.4"); err != nil {
		t.Errorf("after the flush, a packet to 1.2.3.4: %v, want it sent (nothing filters)", err)
	}
	out, code = runSync(t, bin, args...)
	if code != 1 || !strings.Contains(out, "connection refused") || !strings.Contains(out, "nftables restored to the last applied set") {
		t.Fatalf("after a reboot, with the server down: exit %d, want 1 and the restore logged\n%s", code, out)
	}
	checkSets(t, "after the reboot", syncWant4b, syncWant6)
	if err := sendUDP("1.2.3.4"); !errors.Is(err, syscall.EPERM) {
		t.Errorf("after the reboot, a packet to listed 1.2.3.4: %v, want EPERM", err)
	}
	if after, _ := os.ReadFile(state); string(after) != string(before) {
		t.Errorf("the restore changed the state file")
	}
}

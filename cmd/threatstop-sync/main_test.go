package main

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/backend"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/cidrset"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/netnstest"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/primarytest"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/state"
)

// The test binary is also the command: with envMain set it runs main, so that the tests run the real
// command line, exit codes and all, as a separate process (inside the test's network namespace).
const envMain = "THREATSTOP_SYNC_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envMain) == "1" {
		os.Args = append([]string{"threatstop-sync"}, strings.Fields(os.Getenv(envMain+"_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	zoneName = "p.rpz.threatstop.test."
	keyName  = "p.key."
	secret   = "cC1rZXktb2YtY3VzdG9tZXItcC0zMi1ieXRlcy14eA=="
	wrong    = "d3Jvbmctc2VjcmV0LW9mLTMyLWJ5dGVzLXp6enp6eno="
)

// The zone's versions, and what the device must hold for each.
var (
	v1 = []string{
		"@ NS ns1.threatstop.test.",
		"24.0.2.0.192.rpz-ip CNAME .",
		"32.1.2.0.192.rpz-ip CNAME rpz-passthru.", // allow 192.0.2.1 out of 192.0.2.0/24
		"24.0.7.6.5.rpz-ip CNAME rpz-drop.",
		"25.128.113.0.203.rpz-ip CNAME *.", // with 203.0.114.0/24 one range that is not a prefix
		"24.0.114.0.203.rpz-ip A 192.0.2.80",
		"32.zz.e480.2a06.rpz-ip CNAME .",
		"128.1.zz.4001.1450.2a00.rpz-ip CNAME .",
		"evil.example CNAME .",
		"*.evil.example CNAME .",
	}
	want1 = "192.0.2.0/32 192.0.2.2/31 192.0.2.4/30 192.0.2.8/29 192.0.2.16/28 192.0.2.32/27 192.0.2.64/26 192.0.2.128/25 " +
		"5.6.7.0/24 203.0.113.128/25 203.0.114.0/24 2a06:e480::/32 2a00:1450:4001::1/128"

	v2 = append(primarytest.Minus(v1, []string{"24.0.7.6.5.rpz-ip CNAME rpz-drop."}),
		"16.0.0.10.46.rpz-ip CNAME .", "32.5.0.10.46.rpz-ip CNAME rpz-passthru.", "new.example CNAME .")
	want2 = "192.0.2.0/32 192.0.2.2/31 192.0.2.4/30 192.0.2.8/29 192.0.2.16/28 192.0.2.32/27 192.0.2.64/26 192.0.2.128/25 " +
		"46.10.0.0/30 46.10.0.4/32 46.10.0.6/31 46.10.0.8/29 46.10.0.16/28 46.10.0.32/27 46.10.0.64/26 46.10.0.128/25 " +
		"46.10.1.0/24 46.10.2.0/23 46.10.4.0/22 46.10.8.0/21 46.10.16.0/20 46.10.32.0/19 46.10.64.0/18 46.10.128.0/17 " +
		"203.0.113.128/25 203.0.114.0/24 2a06:e480::/32 2a00:1450:4001::1/128"

	v3    = append(primarytest.Minus(v2, []string{"32.zz.e480.2a06.rpz-ip CNAME ."}), "24.0.100.51.198.rpz-ip CNAME .")
	want3 = strings.Replace(want2, "2a06:e480::/32 ", "", 1) + " 198.51.100.0/24"
)

type env struct {
	t     *testing.T
	dir   string
	state string
	p     *primarytest.Primary
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, dir: t.TempDir()}
	e.state = filepath.Join(e.dir, "state.json")
	e.p = primarytest.Start(t, zoneName, keyName, secret)
	return e
}

// command is the sync command line for the primary, with extra flags.
func (e *env) args(extra ...string) []string {
	base := []string{"--zone", zoneName, "--tsig", "hmac-sha256:" + keyName + ":" + secret, "--state", e.state, "--timeout", "2s"}
	if !slices.Contains(extra, "--server") {
		base = append(base, "--server", e.p.Addr)
	}
	return append(base, extra...)
}

// run runs the command (this test binary as main) and returns its output and exit code.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envMain+"=1", envMain+"_ARGS="+strings.Join(args, " "))
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run: %v", err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

func (e *env) mustSync(extra ...string) string {
	e.t.Helper()
	out, code := run(e.t, e.args(extra...)...)
	if code != 0 {
		e.t.Fatalf("sync %v: exit %d\n%s", extra, code, out)
	}
	return out
}

func nftSets(t *testing.T) (cidrset.Set, cidrset.Set) {
	t.Helper()
	n := &backend.Nft{Run: backend.Exec{}}
	v4, err := n.ReadFamily(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	v6, err := n.ReadFamily(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	return v4, v6
}

func wantSets(t *testing.T, s string) (cidrset.Set, cidrset.Set) {
	t.Helper()
	var ps []netip.Prefix
	for _, f := range strings.Fields(s) {
		ps = append(ps, netip.MustParsePrefix(f))
	}
	return cidrset.Build(false, ps), cidrset.Build(true, ps)
}

// checkNft compares the kernel's sets with want. A dump right after a load may miss elements while the
// kernel resizes a hash set, so a mismatch is read again until a deadline.
func checkNft(t *testing.T, what, want string) {
	t.Helper()
	w4, w6 := wantSets(t, want)
	deadline := time.Now().Add(5 * time.Second)
	for {
		g4, g6 := nftSets(t)
		if g4.Equal(w4) && g6.Equal(w6) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: nft holds\n%v %v\nwant\n%v %v", what, g4.Ranges(), g6.Ranges(), w4.Ranges(), w6.Ranges())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ruleset is our table as nft lists it (iptables-nft's tables are left out: their counters count the
// test's own DNS traffic).
func ruleset(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "inet", "threatstop").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table inet threatstop: %v\n%s", err, out)
	}
	return string(out)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSyncNamespace runs the command against an in-process primary into the nftables of a namespace:
// AXFR, IXFR, and every failure leaving the firewall and the state as they were.
func TestSyncNamespace(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	e := newEnv(t)
	e.p.Set(10, v1...)
	text, js := filepath.Join(e.dir, "list.txt"), filepath.Join(e.dir, "list.json")
	out := e.mustSync("--once", "--nft", "--iptables", "--text", text, "--json", js)
	checkNft(t, "after the AXFR", want1)
	if o, err := exec.Command("ipset", "list", "threatstop-v4").CombinedOutput(); err != nil || !strings.Contains(string(o), "Number of entries: 11") || !strings.Contains(string(o), "\n5.6.7.0/24\n") {
		t.Errorf("ipset threatstop-v4: %v\n%s", err, o)
	}
	if o, err := exec.Command("iptables", "-S").CombinedOutput(); err != nil || !strings.Contains(string(o), "-A INPUT -j THREATSTOP-IN\n") || !strings.Contains(string(o), "--match-set threatstop-v4 dst -j DROP") {
		t.Errorf("iptables -S: %v\n%s", err, o)
	}
	if !strings.Contains(out, "(AXFR: 10 records)") || !strings.Contains(out, "2 QNAME triggers") {
		t.Errorf("summary:\n%s", out)
	}
	if got, want := sortedFields(string(readFile(t, text))), sortedFields(want1); got != want {
		t.Errorf("text list %s, want %s", got, want)
	}
	if j := string(readFile(t, js)); !strings.Contains(j, `"name_triggers": 2`) || !strings.Contains(j, `"2a06:e480::/32"`) {
		t.Errorf("JSON report:\n%s", j)
	}
	st, err := state.Load(e.state)
	if err != nil || st.Serial != 10 || len(st.Records) != 10 {
		t.Fatalf("state: %v %+v", err, st)
	}

	// Unchanged: the single SOA, nothing rewritten.
	before := readFile(t, e.state)
	if out := e.mustSync("--once", "--nft"); !strings.Contains(out, "unchanged") || !strings.Contains(out, "incremental: 0 ranges deleted, 0 added") {
		t.Errorf("unchanged run:\n%s", out)
	}
	if !bytes.Equal(before, readFile(t, e.state)) {
		t.Error("an unchanged zone rewrote the state")
	}

	// IXFR, applied as element adds and deletes.
	e.p.Set(11, v2...)
	out = e.mustSync("--once", "--nft")
	checkNft(t, "after the IXFR", want2)
	if !strings.Contains(out, "IXFR from 10: 1 records deleted, 3 added") || !strings.Contains(out, "nftables: incremental") {
		t.Errorf("IXFR run:\n%s", out)
	}
	if q := e.p.Queries(); q[len(q)-1] != "IXFR" {
		t.Errorf("queries %v", q)
	}

	// Dry run: the difference, nothing applied.
	e.p.Set(12, v3...)
	rs, before := ruleset(t), readFile(t, e.state)
	out = e.mustSync("--dry-run")
	if !strings.Contains(out, "+ 198.51.100.0/24\n") || !strings.Contains(out, "- 2a06:e480::/32\n") || !strings.Contains(out, "dry run: 1 prefixes to delete, 1 to add") {
		t.Errorf("dry run:\n%s", out)
	}
	if ruleset(t) != rs || !bytes.Equal(before, readFile(t, e.state)) {
		t.Fatal("the dry run changed something")
	}

	// Failures: the ruleset and the state stay as they were, exit 1.
	fail := func(what, wantLog string, args ...string) string {
		t.Helper()
		rs, before := ruleset(t), readFile(t, e.state)
		out, code := run(t, args...)
		if code != 1 || !strings.Contains(out, wantLog) || !strings.Contains(out, "firewall left as it was") {
			t.Fatalf("%s: exit %d, want 1 and a log saying %q:\n%s", what, code, wantLog, out)
		}
		if ruleset(t) != rs {
			t.Fatalf("%s changed the ruleset", what)
		}
		if !bytes.Equal(before, readFile(t, e.state)) {
			return string(readFile(t, e.state))
		}
		return ""
	}
	if changed := fail("a wrong key", "TSIG", append(e.args("--once", "--nft"), "--tsig", "hmac-sha256:"+keyName+":"+wrong)...); changed != "" {
		t.Fatal("a wrong key changed the state")
	}
	e.p.SetFault(primarytest.DeleteMissing)
	changed := fail("an IXFR deleting a record we do not hold", "which the zone does not hold", e.args("--once", "--nft")...)
	if !strings.Contains(changed, `"force_axfr":true`) || !strings.Contains(changed, `"serial":11`) {
		t.Fatalf("after an inconsistent IXFR, the state should only be marked for an AXFR:\n%.300s", changed)
	}
	e.p.SetFault(primarytest.Truncate)
	fail("a truncated AXFR", "without the closing SOA", e.args("--once", "--nft")...)
	e.p.SetFault(primarytest.None)
	fail("a failing nft", "nftables: apply failed", e.args("--once", "--nft", "--nft-cmd", "false")...)

	// Recovery: an AXFR (the state said so), through a failover from a dead server.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	out = e.mustSync("--once", "--nft", "--server", deadAddr+","+e.p.Addr)
	checkNft(t, "after the AXFR that followed", want3)
	if q := e.p.Queries(); q[len(q)-1] != "AXFR" || !strings.Contains(out, "connection refused") {
		t.Errorf("recovery: queries %v\n%s", q, out)
	}

	// The server stopped: nothing changes, exit 1.
	e.p.Stop()
	if changed := fail("a stopped server", "connection refused", e.args("--once", "--nft")...); changed != "" {
		t.Fatal("a stopped server changed the state")
	}
	checkNft(t, "after the server stopped", want3)
}

// TestRestoreNamespace: after a reboot (the kernel's tables and sets gone) or an edit, while no server
// answers, the sync applies the last applied set from the state file and still exits 1; a firewall that
// holds it is not touched; without a state nothing is applied.
func TestRestoreNamespace(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	e := newEnv(t)
	e.p.Set(10, v1...)
	e.mustSync("--once", "--nft", "--iptables")
	checkNft(t, "after the AXFR", want1)
	e.p.Stop()
	ipsetEntries := func() string {
		t.Helper()
		o, err := exec.Command("ipset", "-t", "list", "threatstop-v4").CombinedOutput()
		if err != nil {
			return err.Error() + ": " + string(o)
		}
		return string(o)
	}
	reboot := func() {
		t.Helper()
		// iptables here may be iptables-nft, whose chains the flush takes too; then no rule holds the sets.
		for _, c := range [][]string{{"nft", "flush", "ruleset"}, {"iptables", "-F"}, {"iptables", "-X"}, {"ip6tables", "-F"}, {"ip6tables", "-X"}, {"ipset", "destroy"}} {
			if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", c, err, out)
			}
		}
	}
	restored := func(what string, wantLog ...string) {
		t.Helper()
		before := readFile(t, e.state)
		out, code := run(t, e.args("--once", "--nft", "--iptables")...)
		if code != 1 || !strings.Contains(out, "connection refused") || !strings.Contains(out, "restored to the last applied set (serial 10) from the state file") {
			t.Fatalf("%s: exit %d, want 1 and the restore logged:\n%s", what, code, out)
		}
		t.Logf("%s:\n%s", what, out)
		for _, w := range wantLog {
			if !strings.Contains(out, w) {
				t.Errorf("%s: the log lacks %q:\n%s", what, w, out)
			}
		}
		checkNft(t, what, want1)
		if !bytes.Equal(before, readFile(t, e.state)) {
			t.Errorf("%s: the restore changed the state file", what)
		}
	}

	reboot()
	restored("after a reboot", "nftables: does not hold the last applied set", "ipset: restored serial 10", "iptables: restored serial 10")
	if h := ipsetEntries(); !strings.Contains(h, "Number of entries: 11") {
		t.Errorf("ipset threatstop-v4 after the restore:\n%s", h)
	}
	if o, err := exec.Command("iptables", "-S").CombinedOutput(); err != nil || !strings.Contains(string(o), "-A INPUT -j THREATSTOP-IN\n") {
		t.Errorf("iptables -S after the restore: %v\n%s", err, o)
	}

	// Holding the set: nothing touched (not even the rules' counters).
	rs := ruleset(t)
	out, code := run(t, e.args("--once", "--nft", "--iptables")...)
	if code != 1 || !strings.Contains(out, "firewall left as it was") || strings.Contains(out, "restor") {
		t.Fatalf("with the set held: exit %d\n%s", code, out)
	}
	if ruleset(t) != rs {
		t.Fatal("with the set held, the ruleset changed")
	}

	// The table deleted by hand: only nftables is given the set again, ipset and iptables hold it.
	if out, err := exec.Command("nft", "delete", "table", "inet", "threatstop").CombinedOutput(); err != nil {
		t.Fatalf("nft delete table: %v\n%s", err, out)
	}
	restored("after the table was deleted", "nftables: does not hold the last applied set", "sync failed, nftables restored to the last applied set (serial 10)")

	// No state: nothing is applied.
	reboot()
	if err := os.Remove(e.state); err != nil {
		t.Fatal(err)
	}
	out, code = run(t, e.args("--once", "--nft", "--iptables")...)
	if code != 1 || !strings.Contains(out, "firewall left as it was") {
		t.Fatalf("without a state: exit %d\n%s", code, out)
	}
	if o, _ := exec.Command("nft", "list", "ruleset").CombinedOutput(); strings.Contains(string(o), "threatstop") {
		t.Fatalf("without a state, a table was made:\n%s", o)
	}
	if o, _ := exec.Command("ipset", "-n", "list").CombinedOutput(); len(o) != 0 {
		t.Fatalf("without a state, sets were made: %s", o)
	}
}

// TestNotifyNamespace runs the command as a daemon that takes NOTIFY: a NOTIFY from the server makes it
// fetch at once; one from another address is refused.
func TestNotifyNamespace(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	e := newEnv(t)
	e.p.Set(10, v1...)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := pc.LocalAddr().String()
	pc.Close()
	cmd := exec.Command(os.Args[0])
	var out syncBuf
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), envMain+"=1", envMain+"_ARGS="+strings.Join(e.args("--nft", "--interval", "1h", "--jitter", "0s", "--notify-listen", listen), " "))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("daemon output:\n%s", out.String())
		}
	}()
	poll(t, "the first sync", func() bool { return strings.Contains(out.String(), "serial 10") })
	checkNft(t, "after the first sync", want1)

	e.p.Set(11, v2...)
	if rc, err := e.p.Notify("127.0.0.2", listen); err != nil || rc != dns.RcodeRefused {
		t.Fatalf("NOTIFY from 127.0.0.2: %s %v, want REFUSED", dns.RcodeToString[rc], err)
	}
	if rc, err := e.p.Notify("127.0.0.1", listen); err != nil || rc != dns.RcodeSuccess {
		t.Fatalf("NOTIFY from the server: %s %v", dns.RcodeToString[rc], err)
	}
	poll(t, "the sync after NOTIFY", func() bool { return strings.Contains(out.String(), "serial 11") })
	checkNft(t, "after NOTIFY", want2)
	if !strings.Contains(out.String(), "NOTIFY from 127.0.0.2") || !strings.Contains(out.String(), "refused: not from a configured server") {
		t.Errorf("the refused NOTIFY is not logged:\n%s", out.String())
	}
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type syncBuf struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *syncBuf) lock() {
	if b.mu == nil {
		b.mu = make(chan struct{}, 1)
	}
	b.mu <- struct{}{}
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.lock()
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.lock()
	defer func() { <-b.mu }()
	return b.buf.String()
}

func sortedFields(s string) string {
	f := strings.Fields(s)
	slices.Sort(f)
	return strings.Join(f, " ")
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	bind := filepath.Join(dir, "bind.key")
	if err := os.WriteFile(bind, []byte("key \"Demo.Key.\" {\n\talgorithm hmac-sha256;\n\tsecret \""+secret+"\";\n};\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := readKeyFile(bind)
	if err != nil || k.Name != "demo.key." || k.Algorithm != dns.HmacSHA256 || k.Secret != secret {
		t.Fatalf("BIND key file: %+v %v", k, err)
	}
	line := filepath.Join(dir, "line.key")
	if err := os.WriteFile(line, []byte("# comment\nhmac-sha512:other.key:"+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := readKeyFile(line); err != nil || k.Name != "other.key." || k.Algorithm != dns.HmacSHA512 {
		t.Fatalf("line key file: %+v %v", k, err)
	}
	for _, bad := range []string{"hmac-md6:k:" + secret, "hmac-sha256:k:not base64!", "k:" + secret} {
		if _, err := parseKeyLine(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" for no error
	}{
		{[]string{"--zone", "z.", "--server", "127.0.0.1", "--nft"}, ""},
		{[]string{"--server", "127.0.0.1", "--nft"}, "--zone is required"},
		{[]string{"--zone", "z.", "--nft"}, "--server is required"},
		{[]string{"--zone", "z.", "--server", "127.0.0.1"}, "no backend"},
		{[]string{"--zone", "z.", "--server", "127.0.0.1", "--nft", "--hooks", "prerouting"}, "unknown hook"},
		{[]string{"--zone", "z.", "--server", "127.0.0.1", "--nft", "--priority", "passthru"}, "does not block"},
		{[]string{"--zone", "z.", "--server", "127.0.0.1", "--nft", "--once", "--notify-listen", ":5300"}, "daemon mode"},
	} {
		cfg, err := parseFlags(tc.args)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		case tc.want == "" && cfg.servers[0] != "127.0.0.1:53":
			t.Errorf("default port: %v", cfg.servers)
		}
	}
}

package backend

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/blocklist"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/cidrset"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/netnstest"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/zone"
)

var update = flag.Bool("update", false, "rewrite the golden files in cmd/threatstop-sync/testdata/golden")

const goldenDir = "../../testdata/golden"

// golden compares got with the golden file name (or rewrites it with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

// content is a zone's firewall material: blocks of every action, allow carve-outs, a range that is not
// one prefix (203.0.113.128/25 and 203.0.114.0/24), IPv6, names.
func content(extra ...string) *zone.Content {
	c := &zone.Content{Ignored: map[string]int{"rpz-nsdname": 1}}
	for _, s := range append([]string{
		"192.0.2.0/24 nxdomain", "192.0.2.1/32 passthru", "198.51.100.0/24 drop",
		"203.0.113.128/25 nodata", "203.0.114.0/24 redirect", "2001:db8::/32 nxdomain", "2001:db8::1/128 passthru",
		"2a06:e480::/32 drop",
	}, extra...) {
		p, a, _ := strings.Cut(s, " ")
		act, err := zone.ParseAction(a)
		if err != nil {
			panic(err)
		}
		c.IP = append(c.IP, zone.IPTrigger{Prefix: netip.MustParsePrefix(p), Action: act})
	}
	c.Names = []zone.NameTrigger{{Name: "*.evil.example", Action: zone.NXDomain}, {Name: "evil.example", Action: zone.NXDomain}, {Name: "good.example", Action: zone.Passthru}}
	return c
}

func updateOf(c *zone.Content, serial uint32, max int) *Update {
	return &Update{Zone: "p.rpz.test.", Serial: serial, Server: "192.0.2.53:53", List: blocklist.Build(*c, blocklist.Options{MaxEntries: max}), Content: c,
		Have6: cidrset.Build(true, nil)}
}

// from is u2 as an update from what u1 applied.
func from(u1, u2 *Update) *Update {
	u := *u2
	u.Have4, u.Have6, u.HaveSerial, u.HaveValid = u1.List.V4, u1.List.V6, u1.Serial, true
	return &u
}

// recorder records the commands and answers from a table.
type recorder struct {
	cmds   []string
	stdin  [][]byte
	answer map[string]string
}

func (r *recorder) Run(_ context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	line := strings.Join(append([]string{name}, args...), " ")
	r.cmds = append(r.cmds, line)
	r.stdin = append(r.stdin, stdin)
	return []byte(r.answer[line]), nil
}

func TestGoldenFiles(t *testing.T) {
	dir := t.TempDir()
	u := updateOf(content(), 1001, 0)
	ctx := context.Background()

	rec := &recorder{}
	pf := &Pf{File: filepath.Join(dir, "threatstop.pf"), Pfctl: "pfctl", Run: rec}
	if _, err := pf.Apply(ctx, u); err != nil {
		t.Fatal(err)
	}
	table, _ := os.ReadFile(pf.File)
	golden(t, "pf.table", table)
	golden(t, "pf.command", []byte(strings.ReplaceAll(strings.Join(rec.cmds, "\n"), dir, "DIR")+"\n"))

	ipt := &Iptables{Set: &Ipset{}, Hooks: Hooks{true, true, true}, LogRate: 10}
	golden(t, "iptables.restore", ipt.Restore("threatstop-v4"))
	golden(t, "ip6tables.restore", ipt.Restore("threatstop-v6"))
	var jumps []string
	for _, j := range ipt.Jumps() {
		jumps = append(jumps, strings.Join(j, " "))
	}
	golden(t, "iptables.jumps", []byte(strings.Join(jumps, "\n")+"\n"))

	set := &Ipset{}
	golden(t, "ipset.restore", set.Script(map[string]bool{}, splitZero(u.List.V4.Prefixes()), splitZero(u.List.V6.Prefixes())))
	// Over live sets, with a temporary set left by an interrupted run.
	golden(t, "ipset-swap.restore", set.Script(map[string]bool{"threatstop-v4": true, "threatstop-v6": true, "threatstop-v6.new": true},
		splitZero(u.List.V4.Prefixes()), splitZero(u.List.V6.Prefixes())))

	nft := &Nft{Hooks: Hooks{true, true, true}, LogRate: 10}
	golden(t, "nft-full.nft", nft.Full(u))
	u2 := from(u, updateOf(content("46.10.0.0/16 nxdomain", "203.0.113.128/26 passthru"), 1002, 0))
	inc, gone, added := nft.Incremental(u2)
	golden(t, "nft-incremental.nft", inc)
	if gone != 1 || added != 2 {
		t.Errorf("incremental: %d ranges deleted, %d added; want 1 and 2", gone, added)
	}

	text := &Text{File: filepath.Join(dir, "list.txt"), NamesFile: filepath.Join(dir, "names.txt")}
	if _, err := text.Apply(ctx, u); err != nil {
		t.Fatal(err)
	}
	list, _ := os.ReadFile(text.File)
	names, _ := os.ReadFile(text.NamesFile)
	golden(t, "list.txt", list)
	golden(t, "names.txt", names)

	js := &JSON{File: filepath.Join(dir, "report.json"), Names: true}
	if _, err := js.Apply(ctx, updateOf(content(), 1001, 12)); err != nil {
		t.Fatal(err)
	}
	report, _ := os.ReadFile(js.File)
	golden(t, "report.json", report)
}

// TestPfWithoutPfctl: only the file, and the command in the result.
func TestPfWithoutPfctl(t *testing.T) {
	rec := &recorder{}
	pf := &Pf{File: filepath.Join(t.TempDir(), "t.pf"), Table: "bad_hosts", Run: rec}
	what, err := pf.Apply(context.Background(), updateOf(content(), 1, 0))
	if err != nil || len(rec.cmds) != 0 || !strings.Contains(what, "pfctl -t bad_hosts -T replace -f "+pf.File) {
		t.Fatalf("%q %v %v", what, err, rec.cmds)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestNftNamespace applies full and incremental transactions to the real nftables of a namespace.
func TestNftNamespace(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	ctx := context.Background()
	n := &Nft{Hooks: Hooks{true, true, true}, LogRate: 10, Run: Exec{}}
	check := func(what string, u *Update) {
		t.Helper()
		for _, fam := range []struct {
			is6  bool
			want cidrset.Set
		}{{false, u.List.V4}, {true, u.List.V6}} {
			// A dump right after a load may miss elements while the kernel resizes a hash set.
			deadline := time.Now().Add(5 * time.Second)
			got, err := n.ReadFamily(ctx, fam.is6)
			for err == nil && !got.Equal(fam.want) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				got, err = n.ReadFamily(ctx, fam.is6)
			}
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if !got.Equal(fam.want) {
				t.Fatalf("%s: IPv6 %v: sets hold %v, want %v", what, fam.is6, got.Ranges(), fam.want.Ranges())
			}
		}
		if out := run(t, "nft", "list", "set", "inet", "threatstop", "serial"); !strings.Contains(out, fmt.Sprintf("elements = { 0x%08x }", u.Serial)) {
			t.Fatalf("%s: serial set:\n%s", what, out)
		}
	}
	u1 := updateOf(content(), 1001, 0)
	// nft -c validates the generated transactions against the kernel without applying them.
	for name, script := range map[string][]byte{"full": n.Full(u1)} {
		cmd := exec.Command("nft", "-c", "-f", "/dev/stdin")
		cmd.Stdin = bytes.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft -c of the %s transaction: %v\n%s", name, err, out)
		}
	}
	if what, err := n.Apply(ctx, u1); err != nil || !strings.HasPrefix(what, "full replace") {
		t.Fatalf("first apply: %q %v", what, err)
	}
	check("after the first apply", u1)
	if err := n.Holds(ctx, u1); err != nil {
		t.Errorf("Holds after the first apply: %v", err)
	}
	if err := n.Holds(ctx, updateOf(content(), 1000, 0)); err == nil {
		t.Error("Holds of another serial: nil")
	}
	rules := run(t, "nft", "list", "table", "inet", "threatstop")
	for _, want := range []string{
		"type filter hook input priority filter - 10; policy accept;",
		`ip saddr @v4 limit rate 10/second log prefix "THREATSTOP DROP in "`,
		"ip6 saddr @v6 counter packets 0 bytes 0 drop",
		"ip saddr @h4 counter packets 0 bytes 0 drop",
		"ip6 daddr @h6 counter packets 0 bytes 0 drop",
		`ip daddr @v4 limit rate 10/second log prefix "THREATSTOP DROP out "`,
		"ip6 daddr @v6 counter packets 0 bytes 0 drop",
	} {
		if !strings.Contains(rules, want) {
			t.Errorf("table lacks %q:\n%s", want, rules)
		}
	}
	if c := strings.Count(rules, "THREATSTOP DROP out"); c != 8 { // forward and output, v4 h4 v6 h6
		t.Errorf("%d outbound log rules, want 8", c)
	}

	u2 := from(u1, updateOf(content("46.10.0.0/16 nxdomain", "203.0.113.128/26 passthru"), 1002, 0))
	inc, _, _ := n.Incremental(u2)
	cmd := exec.Command("nft", "-c", "-f", "/dev/stdin")
	cmd.Stdin = bytes.NewReader(inc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -c of the incremental transaction: %v\n%s", err, out)
	}
	if what, err := n.Apply(ctx, u2); err != nil || !strings.HasPrefix(what, "incremental") {
		t.Fatalf("second apply: %q %v", what, err)
	}
	check("after the incremental apply", u2)
	if out := run(t, "nft", "list", "chain", "inet", "threatstop", "input"); strings.Count(out, "drop") != 4 {
		t.Errorf("the rules were duplicated:\n%s", out)
	}

	// A state that does not match the table (the serial it expects is not there): a full replace.
	u3 := from(u1, updateOf(content("5.5.0.0/16 drop"), 1003, 0))
	if what, err := n.Apply(ctx, u3); err != nil || !strings.HasPrefix(what, "full replace") {
		t.Fatalf("stale state: %q %v", what, err)
	}
	check("after the stale-state apply", u3)

	// A flushed ruleset (a reboot): the incremental transaction cannot apply, the full one rebuilds.
	run(t, "nft", "flush", "ruleset")
	if err := n.Holds(ctx, u3); err == nil {
		t.Error("Holds after a flush: nil")
	}
	u4 := from(u3, updateOf(content("5.5.0.0/16 drop"), 1004, 0))
	if what, err := n.Apply(ctx, u4); err != nil || !strings.HasPrefix(what, "full replace") {
		t.Fatalf("after a flush: %q %v", what, err)
	}
	check("after the flush", u4)

	// A hook dropped from the flags stops filtering: its chain is emptied.
	in := &Nft{Hooks: Hooks{Input: true}, LogRate: 10, Run: Exec{}}
	if _, err := in.Apply(ctx, from(u4, u4)); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "nft", "list", "chain", "inet", "threatstop", "output"); strings.Contains(out, "drop") {
		t.Errorf("output chain not emptied:\n%s", out)
	}
	if out := run(t, "nft", "list", "chain", "inet", "threatstop", "input"); strings.Count(out, "drop") != 4 {
		t.Errorf("input chain:\n%s", out)
	}

	// A failing transaction changes nothing: set v4 redefined by someone else without intervals.
	run(t, "nft", "flush", "chain", "inet", "threatstop", "input")
	run(t, "nft", "flush", "chain", "inet", "threatstop", "forward")
	run(t, "nft", "flush", "chain", "inet", "threatstop", "output")
	run(t, "nft", "delete", "set", "inet", "threatstop", "v4")
	run(t, "nft", "add", "set", "inet", "threatstop", "v4", "{ type ipv4_addr; }")
	run(t, "nft", "add", "element", "inet", "threatstop", "v4", "{ 1.1.1.1 }")
	before := run(t, "nft", "list", "ruleset")
	if _, err := n.Apply(ctx, from(u4, updateOf(content(), 1005, 0))); err == nil {
		t.Fatal("applied over a conflicting set")
	}
	if after := run(t, "nft", "list", "ruleset"); after != before {
		t.Fatalf("a failed apply changed the ruleset:\n--- before ---\n%s\n--- after ---\n%s", before, after)
	}
}

// TestIpsetNamespace swaps sets into the real ipset of a namespace and installs the iptables rules.
func TestIpsetNamespace(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	ctx := context.Background()
	set := &Ipset{Run: Exec{}}
	ipt := &Iptables{Set: set, Hooks: Hooks{true, true, true}, LogRate: 10, Run: Exec{}}
	members := func(name string) string {
		out := run(t, "ipset", "list", name)
		_, m, _ := strings.Cut(out, "Members:\n")
		lines := strings.Fields(m)
		return strings.Join(sortedStrings(lines), " ")
	}
	want := func(ps []netip.Prefix) string {
		var s []string
		for _, p := range ps {
			s = append(s, p.String())
		}
		return strings.Join(sortedStrings(s), " ")
	}
	u1 := updateOf(content(), 1, 0)
	for i, u := range []*Update{u1, from(u1, u1), from(u1, updateOf(content("46.10.0.0/16 nxdomain", "2001:db8::/32 passthru"), 2, 0))} {
		if _, err := set.Apply(ctx, u); err != nil {
			t.Fatalf("ipset apply %d: %v", i, err)
		}
		if _, err := ipt.Apply(ctx, u); err != nil {
			t.Fatalf("iptables apply %d: %v", i, err)
		}
		// ipset lists a single address without /32.
		norm := func(s string) string {
			s = strings.ReplaceAll(s, "/32", "")
			return strings.ReplaceAll(s, "/128", "")
		}
		if got, w := norm(members("threatstop-v4")), norm(want(u.List.V4.Prefixes())); got != w {
			t.Fatalf("apply %d: threatstop-v4 holds %s, want %s", i, got, w)
		}
		if got, w := norm(members("threatstop-v6")), norm(want(u.List.V6.Prefixes())); got != w {
			t.Fatalf("apply %d: threatstop-v6 holds %s, want %s", i, got, w)
		}
		if names := run(t, "ipset", "-n", "list"); strings.Contains(names, ".new") {
			t.Fatalf("a temporary set is left: %s", names)
		}
	}
	rules := run(t, "iptables", "-S")
	for _, w := range []string{
		"-A INPUT -j THREATSTOP-IN", "-A FORWARD -j THREATSTOP-IN", "-A FORWARD -j THREATSTOP-OUT", "-A OUTPUT -j THREATSTOP-OUT",
		`-A THREATSTOP-IN -m set --match-set threatstop-v4 src -m limit --limit 10/sec -j LOG --log-prefix "THREATSTOP DROP in "`,
		"-A THREATSTOP-OUT -m set --match-set threatstop-v4 dst -j DROP",
	} {
		if strings.Count(rules, w+"\n") != 1 {
			t.Errorf("iptables -S has %q %d times, want once:\n%s", w, strings.Count(rules, w+"\n"), rules)
		}
	}
	// A hook dropped from the flags: its jumps go.
	ipt.Hooks = Hooks{Input: true}
	if _, err := ipt.Apply(ctx, u1); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "iptables", "-S"); !strings.Contains(r, "-A INPUT -j THREATSTOP-IN") || strings.Contains(r, "-A FORWARD -j") || strings.Contains(r, "-A OUTPUT -j") {
		t.Errorf("after dropping forward and output:\n%s", r)
	}
	if r6 := run(t, "ip6tables", "-S"); !strings.Contains(r6, "-A THREATSTOP-IN -m set --match-set threatstop-v6 src -j DROP") || strings.Count(r6, "-A INPUT -j THREATSTOP-IN") != 1 {
		t.Errorf("ip6tables -S:\n%s", r6)
	}
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// faulty runs commands on this host, but corrupts what it is asked to: an element ipset rejects in the
// IPv6 part of the restore script, or a header of set threatstop-v6 that claims it is ours.
type faulty struct {
	badElement6 bool
	lie6        bool
}

func (f faulty) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	if f.badElement6 && name == "ipset" && len(args) == 1 && args[0] == "restore" {
		var b bytes.Buffer
		for _, l := range strings.SplitAfter(string(stdin), "\n") {
			b.WriteString(l)
			if strings.HasPrefix(l, "create threatstop-v6.new ") {
				b.WriteString("add threatstop-v6.new 2001:db8::/129\n")
			}
		}
		stdin = b.Bytes()
	}
	if f.lie6 && name == "ipset" && strings.Join(args, " ") == "-t list threatstop-v6" {
		return []byte("Name: threatstop-v6\nType: hash:net\nRevision: 7\nHeader: family inet6 hashsize 1024 maxelem 65536\nNumber of entries: 1\n"), nil
	}
	return Exec{}.Run(ctx, stdin, name, args...)
}

// TestIpsetAtomicNamespace: a change that fails in its IPv6 part leaves both live sets as they were
// (`ipset save` byte for byte) and no temporary set behind: a live set of another type, an element ipset
// rejects, a swap that the kernel refuses after the IPv4 one went through, a first apply; and temporary
// sets left by an earlier run are cleared.
func TestIpsetAtomicNamespace(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	ctx := context.Background()
	save := func() string { return run(t, "ipset", "save") }
	u1 := updateOf(content(), 1, 0)
	u2 := from(u1, updateOf(content("46.10.0.0/16 nxdomain", "2a00:1450::/32 drop"), 2, 0))
	failing := func(what string, r Runner) {
		t.Helper()
		before := save()
		if _, err := (&Ipset{Run: r}).Apply(ctx, u2); err == nil {
			t.Fatalf("%s: applied", what)
		} else {
			t.Logf("%s: %v", what, err)
		}
		if after := save(); after != before {
			t.Fatalf("%s: a failed apply changed the sets:\n--- before ---\n%s\n--- after ---\n%s", what, before, after)
		}
	}

	// A first apply whose IPv6 part fails creates nothing.
	failing("a first apply with a bad IPv6 element", faulty{badElement6: true})
	if names := run(t, "ipset", "-n", "list"); names != "" {
		t.Fatalf("sets left: %s", names)
	}

	if _, err := (&Ipset{Run: Exec{}}).Apply(ctx, u1); err != nil {
		t.Fatal(err)
	}
	failing("a bad IPv6 element", faulty{badElement6: true})

	// threatstop-v6 defined otherwise by someone else: refused before anything is changed, and, where the
	// type check is fooled, the kernel's refusal to swap takes the IPv4 swap back.
	run(t, "ipset", "destroy", "threatstop-v6")
	run(t, "ipset", "create", "threatstop-v6", "hash:ip", "family", "inet6")
	run(t, "ipset", "add", "threatstop-v6", "2001:db8::5")
	failing("a live IPv6 set of another type", Exec{})
	failing("a swap the kernel refuses", faulty{lie6: true})

	// Temporary sets of an interrupted run, of other types, are cleared.
	run(t, "ipset", "destroy", "threatstop-v6")
	run(t, "ipset", "create", "threatstop-v4.new", "hash:ip", "family", "inet")
	run(t, "ipset", "create", "threatstop-v6.new", "hash:ip", "family", "inet6")
	if _, err := (&Ipset{Run: Exec{}}).Apply(ctx, u2); err != nil {
		t.Fatalf("over left temporary sets: %v", err)
	}
	if names := run(t, "ipset", "-n", "list"); names != "threatstop-v4\nthreatstop-v6\n" {
		t.Fatalf("sets after the apply: %q", names)
	}
	if n := strings.Count(run(t, "ipset", "list", "threatstop-v6"), "\n2a00:1450::/32\n"); n != 1 {
		t.Fatalf("threatstop-v6 lacks 2a00:1450::/32:\n%s", run(t, "ipset", "list", "threatstop-v6"))
	}
}

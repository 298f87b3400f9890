package backend

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Ipset keeps two sets, NAME-v4 (hash:net family inet) and NAME-v6 (family inet6), with the block list.
// Each is replaced whole and at once: `ipset restore` fills NAME-vN.new, `swap` exchanges it with the live
// set, and the old content is destroyed with it. A failing restore stops before the swap, so the live set
// is untouched (the two families are swapped one after the other).
type Ipset struct {
	Ipset  string // the ipset command; default "ipset"
	Prefix string // of the set names; default "threatstop"
	Run    Runner
}

// Name implements Backend.
func (s *Ipset) Name() string { return "ipset" }

func (s *Ipset) cmd() string {
	if s.Ipset == "" {
		return "ipset"
	}
	return s.Ipset
}

// SetNames are the live sets.
func (s *Ipset) SetNames() (v4, v6 string) {
	n := s.Prefix
	if n == "" {
		n = "threatstop"
	}
	return n + "-v4", n + "-v6"
}

// Apply implements Backend.
func (s *Ipset) Apply(ctx context.Context, u *Update) (string, error) {
	out, err := s.Run.Run(ctx, nil, s.cmd(), "-n", "list")
	if err != nil {
		return "", err
	}
	existing := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		existing[l] = true
	}
	v4, v6 := s.SetNames()
	p4, p6 := splitZero(u.List.V4.Prefixes()), splitZero(u.List.V6.Prefixes())
	if u.Unchanged() && existing[v4] && existing[v6] {
		n4, err4 := s.entries(ctx, v4)
		n6, err6 := s.entries(ctx, v6)
		if err4 == nil && err6 == nil && n4 == len(p4) && n6 == len(p6) {
			return "unchanged", nil
		}
	}
	script := s.Script(existing, p4, p6)
	if _, err := s.Run.Run(ctx, script, s.cmd(), "restore"); err != nil {
		return "", err
	}
	return fmt.Sprintf("swapped in %d IPv4 and %d IPv6 prefixes", len(p4), len(p6)), nil
}

// entries reads "Number of entries" of a set's header.
func (s *Ipset) entries(ctx context.Context, set string) (int, error) {
	out, err := s.Run.Run(ctx, nil, s.cmd(), "-t", "list", set)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Number of entries: "); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("ipset -t list %s: no entry count", set)
}

// Script is the `ipset restore` input that replaces both sets; existing names the sets there now.
func (s *Ipset) Script(existing map[string]bool, p4, p6 []netip.Prefix) []byte {
	var b bytes.Buffer
	v4, v6 := s.SetNames()
	writeSet(&b, v4, "inet", existing, p4)
	writeSet(&b, v6, "inet6", existing, p6)
	return b.Bytes()
}

func writeSet(b *bytes.Buffer, live, family string, existing map[string]bool, ps []netip.Prefix) {
	tmp := live + ".new"
	maxelem := max(65536, 2*len(ps))
	if !existing[live] {
		fmt.Fprintf(b, "create %s hash:net family %s maxelem %d\n", live, family, maxelem)
	}
	if existing[tmp] { // left by an interrupted run
		fmt.Fprintf(b, "destroy %s\n", tmp)
	}
	fmt.Fprintf(b, "create %s hash:net family %s maxelem %d\n", tmp, family, maxelem)
	for _, p := range ps {
		fmt.Fprintf(b, "add %s %s\n", tmp, p)
	}
	fmt.Fprintf(b, "swap %s %s\ndestroy %s\n", tmp, live, tmp)
}

// Iptables keeps chains THREATSTOP-IN (drops listed sources) and THREATSTOP-OUT (listed destinations) in
// the filter table of iptables and ip6tables, matching the ipsets of Set, and the jumps to them from
// INPUT, FORWARD and OUTPUT (as Hooks says). The chains are rewritten by one iptables-restore --noflush
// (atomic per table); a jump is inserted first in its chain only when `-C` does not find it.
type Iptables struct {
	Iptables, Ip6tables string // default iptables, ip6tables (the -restore commands are derived)
	Set                 *Ipset
	Hooks               Hooks
	LogRate             int // drops logged per second per rule; 0: every drop; negative: none
	Run                 Runner
}

// Chain names.
const (
	ChainIn  = "THREATSTOP-IN"
	ChainOut = "THREATSTOP-OUT"
)

// Name implements Backend.
func (t *Iptables) Name() string { return "iptables" }

// Apply implements Backend.
func (t *Iptables) Apply(ctx context.Context, _ *Update) (string, error) {
	v4, v6 := t.Set.SetNames()
	for _, fam := range []struct{ cmd, set string }{{or(t.Iptables, "iptables"), v4}, {or(t.Ip6tables, "ip6tables"), v6}} {
		if _, err := t.Run.Run(ctx, t.Restore(fam.set), fam.cmd+"-restore", "--noflush", "-w"); err != nil {
			return "", err
		}
		jumps := t.Jumps()
		for i := len(jumps) - 1; i >= 0; i-- { // each is inserted first: the last one first keeps their order
			j := jumps[i]
			args := append([]string{"-w", "-t", "filter", "-C"}, j...)
			if _, err := t.Run.Run(ctx, nil, fam.cmd, args...); err == nil {
				continue
			}
			args = append([]string{"-w", "-t", "filter", "-I", j[0], "1"}, j[1:]...)
			if _, err := t.Run.Run(ctx, nil, fam.cmd, args...); err != nil {
				return "", err
			}
		}
		// Jumps of hooks no longer asked for are removed.
		for _, j := range (&Iptables{Hooks: Hooks{true, true, true}}).Jumps() {
			if slices.ContainsFunc(jumps, func(k []string) bool { return slices.Equal(j, k) }) {
				continue
			}
			if _, err := t.Run.Run(ctx, nil, fam.cmd, append([]string{"-w", "-t", "filter", "-C"}, j...)...); err != nil {
				continue
			}
			if _, err := t.Run.Run(ctx, nil, fam.cmd, append([]string{"-w", "-t", "filter", "-D"}, j...)...); err != nil {
				return "", err
			}
		}
	}
	return "chains and jumps in place", nil
}

func or(a, b string) string {
	if a == "" {
		return b
	}
	return a
}

// Jumps are the rules, without -A/-I, that send traffic to the chains.
func (t *Iptables) Jumps() [][]string {
	var j [][]string
	if t.Hooks.Input {
		j = append(j, []string{"INPUT", "-j", ChainIn})
	}
	if t.Hooks.Forward {
		j = append(j, []string{"FORWARD", "-j", ChainIn}, []string{"FORWARD", "-j", ChainOut})
	}
	if t.Hooks.Output {
		j = append(j, []string{"OUTPUT", "-j", ChainOut})
	}
	return j
}

// Restore is the iptables-restore --noflush input for the chains matching set (declaring a chain flushes
// it).
func (t *Iptables) Restore(set string) []byte {
	var b bytes.Buffer
	b.WriteString("*filter\n")
	fmt.Fprintf(&b, ":%s - [0:0]\n:%s - [0:0]\n", ChainIn, ChainOut)
	for _, c := range []struct{ chain, dir, prefix string }{{ChainIn, "src", LogPrefixIn}, {ChainOut, "dst", LogPrefixOut}} {
		match := fmt.Sprintf("-A %s -m set --match-set %s %s", c.chain, set, c.dir)
		switch {
		case t.LogRate < 0:
		case t.LogRate == 0:
			fmt.Fprintf(&b, "%s -j LOG --log-prefix %q --log-level 4\n", match, c.prefix)
		default:
			fmt.Fprintf(&b, "%s -m limit --limit %d/sec -j LOG --log-prefix %q --log-level 4\n", match, t.LogRate, c.prefix)
		}
		fmt.Fprintf(&b, "%s -j DROP\n", match)
	}
	b.WriteString("COMMIT\n")
	return b.Bytes()
}

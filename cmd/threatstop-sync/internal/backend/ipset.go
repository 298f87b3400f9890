package backend

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Ipset keeps two sets, NAME-v4 (hash:net family inet) and NAME-v6 (family inet6), with the block list.
// Both are replaced by one `ipset restore` script: clear temporary sets left by an interrupted run, fill
// NAME-v4.new and NAME-v6.new, and only then swap both into place (rename where a live set is missing)
// and destroy the temporaries. ipset restore stops at the first failing line but keeps what the lines
// before it did, so the swaps come last; a live set of another type or family (which the kernel refuses
// to swap) is refused before the script runs; and after a failure the swap that went through, if any,
// is taken back and the temporaries are destroyed. A failing apply leaves both live sets as they were.
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

// tmpSuffix names the temporary set that is filled and then swapped with a live one.
const tmpSuffix = ".new"

// ipsetFamily is one of the two live sets and what must go into it.
type ipsetFamily struct {
	live, family string
	prefixes     []netip.Prefix
}

func (s *Ipset) families(u *Update) [2]ipsetFamily {
	v4, v6 := s.SetNames()
	return [2]ipsetFamily{
		{v4, "inet", splitZero(u.List.V4.Prefixes())},
		{v6, "inet6", splitZero(u.List.V6.Prefixes())},
	}
}

// names lists the sets there now.
func (s *Ipset) names(ctx context.Context) (map[string]bool, error) {
	out, err := s.Run.Run(ctx, nil, s.cmd(), "-n", "list")
	if err != nil {
		return nil, err
	}
	existing := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		existing[l] = true
	}
	return existing, nil
}

// check reads the header of each live set there: one of another type or family cannot be swapped with
// ours (an error); same reports whether both are there and hold as many entries as u's list.
func (s *Ipset) check(ctx context.Context, existing map[string]bool, fams [2]ipsetFamily) (same bool, err error) {
	same = true
	for _, f := range fams {
		if !existing[f.live] {
			same = false
			continue
		}
		h, err := s.header(ctx, f.live)
		if err != nil {
			return false, err
		}
		if h.typ != "hash:net" || h.family != f.family {
			return false, fmt.Errorf("set %s is %s family %s, not hash:net family %s (defined by someone else?): both sets left as they are", f.live, h.typ, h.family, f.family)
		}
		if h.entries != len(f.prefixes) {
			same = false
		}
	}
	return same, nil
}

// Apply implements Backend.
func (s *Ipset) Apply(ctx context.Context, u *Update) (string, error) {
	existing, err := s.names(ctx)
	if err != nil {
		return "", err
	}
	fams := s.families(u)
	same, err := s.check(ctx, existing, fams)
	if err != nil {
		return "", err
	}
	if same && u.Unchanged() {
		return "unchanged", nil
	}
	script, commit := s.script(existing, fams)
	if _, err := s.Run.Run(ctx, script, s.cmd(), "restore"); err != nil {
		return "", s.recover(ctx, err, existing, fams, commit)
	}
	return fmt.Sprintf("swapped in %d IPv4 and %d IPv6 prefixes", len(fams[0].prefixes), len(fams[1].prefixes)), nil
}

// Holds implements Holder: both live sets are there, of our type, with as many entries as u's list (an
// entry count, as for an unchanged zone: listing the members of a 1M set costs seconds).
func (s *Ipset) Holds(ctx context.Context, u *Update) error {
	existing, err := s.names(ctx)
	if err != nil {
		return err
	}
	fams := s.families(u)
	same, err := s.check(ctx, existing, fams)
	if err != nil {
		return err
	}
	if !same {
		return fmt.Errorf("sets %s and %s are missing or hold another number of entries", fams[0].live, fams[1].live)
	}
	return nil
}

type ipsetHeader struct {
	typ, family string
	entries     int
}

// header reads the type, family and "Number of entries" of a set (`ipset -t list`).
func (s *Ipset) header(ctx context.Context, set string) (ipsetHeader, error) {
	var h ipsetHeader
	out, err := s.Run.Run(ctx, nil, s.cmd(), "-t", "list", set)
	if err != nil {
		return h, err
	}
	count := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "Type: "); ok {
			h.typ = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "Header: "); ok {
			if f := strings.Fields(v); len(f) >= 2 && f[0] == "family" {
				h.family = f[1]
			}
		}
		if v, ok := strings.CutPrefix(line, "Number of entries: "); ok {
			if h.entries, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return h, fmt.Errorf("ipset -t list %s: %w", set, err)
			}
			count = true
		}
	}
	if !count {
		return h, fmt.Errorf("ipset -t list %s: no entry count", set)
	}
	return h, nil
}

// commitLines are the script's lines (from 1) that put each family's temporary set into place, and
// whether each is a swap (the live set was there) or a rename (it was not).
type commitLines struct {
	line [2]int
	swap [2]bool
}

// Script is the `ipset restore` input that replaces both sets; existing names the sets there now.
func (s *Ipset) Script(existing map[string]bool, p4, p6 []netip.Prefix) []byte {
	v4, v6 := s.SetNames()
	script, _ := s.script(existing, [2]ipsetFamily{{v4, "inet", p4}, {v6, "inet6", p6}})
	return script
}

func (s *Ipset) script(existing map[string]bool, fams [2]ipsetFamily) ([]byte, commitLines) {
	var b bytes.Buffer
	var c commitLines
	lines := 0
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format+"\n", args...)
		lines++
	}
	for _, f := range fams { // left by an interrupted run
		if existing[f.live+tmpSuffix] {
			line("destroy %s", f.live+tmpSuffix)
		}
	}
	for _, f := range fams {
		line("create %s hash:net family %s maxelem %d", f.live+tmpSuffix, f.family, max(65536, 2*len(f.prefixes)))
		for _, p := range f.prefixes {
			line("add %s %s", f.live+tmpSuffix, p)
		}
	}
	// Everything that can fail on content has run: now both sets change, one line each.
	for i, f := range fams {
		c.swap[i] = existing[f.live]
		if c.swap[i] {
			line("swap %s %s", f.live+tmpSuffix, f.live)
		} else {
			line("rename %s %s", f.live+tmpSuffix, f.live)
		}
		c.line[i] = lines
	}
	for i, f := range fams {
		if c.swap[i] {
			line("destroy %s", f.live+tmpSuffix)
		}
	}
	return b.Bytes(), c
}

// errorLine reads the failing line of `ipset restore` ("Error in line N: ...").
var errorLine = regexp.MustCompile(`Error in line (\d+):`)

// recover runs after a failed restore: it takes back the IPv4 change when the IPv6 one failed after it,
// and destroys the temporary sets, so that both live sets are as they were. It returns the error to
// report.
func (s *Ipset) recover(ctx context.Context, failed error, existing map[string]bool, fams [2]ipsetFamily, c commitLines) error {
	// Clean up even when the apply was cancelled (SIGTERM): the sets must not stay half changed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	line := -1
	if m := errorLine.FindStringSubmatch(failed.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	var b bytes.Buffer
	switch {
	case line < 0:
		failed = fmt.Errorf("%w (the failing line is unknown: the sets may be of two versions until the next sync)", failed)
	case line > c.line[1]: // both went into place; only a destroy of an old set failed
		failed = fmt.Errorf("%w (both sets were replaced; the old content is left in the temporary sets)", failed)
	case line == c.line[1]: // the IPv4 set went into place, the IPv6 one did not: take IPv4 back
		v4 := fams[0].live
		if c.swap[0] {
			fmt.Fprintf(&b, "swap %s %s\n", v4+tmpSuffix, v4)
		} else {
			fmt.Fprintf(&b, "destroy %s\n", v4) // it was not there before
		}
	}
	now, err := s.names(ctx)
	if err != nil {
		return fmt.Errorf("%w; listing the sets to clean up: %v", failed, err)
	}
	for _, f := range fams {
		if now[f.live+tmpSuffix] {
			fmt.Fprintf(&b, "destroy %s\n", f.live+tmpSuffix)
		}
	}
	if b.Len() == 0 {
		return failed
	}
	if _, err := s.Run.Run(ctx, b.Bytes(), s.cmd(), "restore"); err != nil {
		return fmt.Errorf("%w; undoing it failed too (the next sync replaces both sets): %v", failed, err)
	}
	return failed
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

// Holds implements Holder: in iptables and ip6tables, each chain's DROP rule and each jump is there
// (`-C`).
func (t *Iptables) Holds(ctx context.Context, _ *Update) error {
	v4, v6 := t.Set.SetNames()
	for _, fam := range []struct{ cmd, set string }{{or(t.Iptables, "iptables"), v4}, {or(t.Ip6tables, "ip6tables"), v6}} {
		rules := append([][]string{
			{ChainIn, "-m", "set", "--match-set", fam.set, "src", "-j", "DROP"},
			{ChainOut, "-m", "set", "--match-set", fam.set, "dst", "-j", "DROP"},
		}, t.Jumps()...)
		for _, r := range rules {
			if _, err := t.Run.Run(ctx, nil, fam.cmd, append([]string{"-w", "-t", "filter", "-C"}, r...)...); err != nil {
				return fmt.Errorf("%s: rule %s is missing", fam.cmd, strings.Join(r, " "))
			}
		}
	}
	return nil
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

package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/cidrset"
)

// Nft keeps table inet TABLE: the block list in sets v4 and v6 (interval sets, auto-merge: the ranges
// of more than one address) and h4 and h6 (plain hash sets: the single addresses), set serial with the
// serial they hold, and chains input, forward and output (as Hooks says) that log and drop listed sources
// and destinations.
//
// Each apply is one `nft -f` transaction that declares the table, sets and chains (created when missing),
// rewrites the rules, and then either replaces the elements (full) or, when the state says what the sets
// hold, deletes and adds only the ranges that differ (incremental). The incremental transaction first
// deletes the serial it expects the set serial to hold: if the table is not the one the state describes
// (a reboot, a flushed ruleset, an edit), that delete fails, nothing is changed, and a full replace follows.
//
// Single addresses live apart because nft (1.0.6) deletes an element of an interval set in time linear
// in the set's size (about 2 µs per element held, per element deleted: 100 deletes from a 1M interval set
// take minutes), while a hash set deletes in microseconds. Where deletes from the interval sets would still
// cost more than a reload (intervalCost), the update is a full replace.
type Nft struct {
	Nft     string // the nft command; default "nft"
	Table   string // default "threatstop"
	Hooks   Hooks
	LogRate int // drops logged per second per rule; 0: every drop; negative: none
	Run     Runner
}

// Name implements Backend.
func (n *Nft) Name() string { return "nftables" }

func (n *Nft) table() string {
	if n.Table == "" {
		return "threatstop"
	}
	return n.Table
}

func (n *Nft) cmd() string {
	if n.Nft == "" {
		return "nft"
	}
	return n.Nft
}

// elementsPerLine bounds one add/delete element statement (nft parses each into memory at once).
const elementsPerLine = 4096

// intervalCost: an incremental update is used while (deletes from an interval set) x (elements that set
// holds) stays under intervalCost x (elements of a full load). Measured with nft 1.0.6: a delete costs
// about 2 µs per element held, a full load about 20 µs per element.
const intervalCost = 10

// split separates single addresses (h sets) from longer ranges (v sets).
func split(rs []cidrset.Range) (single, multi []cidrset.Range) {
	for _, r := range rs {
		if r.First == r.Last {
			single = append(single, r)
		} else {
			multi = append(multi, r)
		}
	}
	return single, multi
}

// Apply implements Backend.
func (n *Nft) Apply(ctx context.Context, u *Update) (string, error) {
	total := u.List.V4.Len() + u.List.V6.Len()
	if u.HaveValid {
		script, st := n.incremental(u)
		if st.intervalDeletes*st.intervalHeld <= intervalCost*total || st.intervalDeletes == 0 {
			_, err := n.Run.Run(ctx, script, n.cmd(), "-f", "/dev/stdin")
			if err == nil {
				return fmt.Sprintf("incremental: %d ranges deleted, %d added", st.gone, st.added), nil
			}
			// The table is not what the state says: replace it whole (also one transaction).
			if _, err2 := n.Run.Run(ctx, n.Full(u), n.cmd(), "-f", "/dev/stdin"); err2 != nil {
				return "", fmt.Errorf("incremental update failed (%v), and so did the full replace: %w", firstLine(err), hint(err2))
			}
			return fmt.Sprintf("full replace (%d ranges; the incremental update did not apply: %s)", total, firstLine(err)), nil
		}
		if _, err := n.Run.Run(ctx, n.Full(u), n.cmd(), "-f", "/dev/stdin"); err != nil {
			return "", hint(err)
		}
		return fmt.Sprintf("full replace (%d ranges: cheaper than deleting %d ranges from interval sets of %d)", total, st.intervalDeletes, st.intervalHeld), nil
	}
	if _, err := n.Run.Run(ctx, n.Full(u), n.cmd(), "-f", "/dev/stdin"); err != nil {
		return "", hint(err)
	}
	return fmt.Sprintf("full replace (%d ranges)", total), nil
}

// Full is the transaction that makes the table hold u.List whatever it held.
func (n *Nft) Full(u *Update) []byte {
	var b bytes.Buffer
	n.header(&b)
	t := n.table()
	for _, set := range []string{"v4", "v6", "h4", "h6", "serial"} {
		fmt.Fprintf(&b, "flush set inet %s %s\n", t, set)
	}
	h4, v4 := split(u.List.V4.Ranges())
	h6, v6 := split(u.List.V6.Ranges())
	writeElements(&b, "add", t, "v4", v4)
	writeElements(&b, "add", t, "v6", v6)
	writeElements(&b, "add", t, "h4", h4)
	writeElements(&b, "add", t, "h6", h6)
	fmt.Fprintf(&b, "add element inet %s serial { %d }\n", t, u.Serial)
	return b.Bytes()
}

type incStats struct {
	gone, added                   int
	intervalDeletes, intervalHeld int
}

// Incremental is the transaction that takes the table from u.Have (at u.HaveSerial) to u.List, and the
// number of ranges it deletes and adds.
func (n *Nft) Incremental(u *Update) ([]byte, int, int) {
	script, st := n.incremental(u)
	return script, st.gone, st.added
}

func (n *Nft) incremental(u *Update) ([]byte, incStats) {
	var b bytes.Buffer
	var st incStats
	n.header(&b)
	t := n.table()
	// The precondition: the table holds the serial the state says (fails the whole transaction if not).
	fmt.Fprintf(&b, "delete element inet %s serial { %d }\n", t, u.HaveSerial)
	var adds []func()
	for _, fam := range []struct {
		v, h       string
		have, want cidrset.Set
	}{{"v4", "h4", u.Have4, u.List.V4}, {"v6", "h6", u.Have6, u.List.V6}} {
		gone, added := cidrset.Diff(fam.have, fam.want)
		goneH, goneV := split(gone)
		addH, addV := split(added)
		writeElements(&b, "delete", t, fam.v, goneV)
		writeElements(&b, "delete", t, fam.h, goneH)
		v, h := fam.v, fam.h
		adds = append(adds, func() { writeElements(&b, "add", t, v, addV); writeElements(&b, "add", t, h, addH) })
		_, heldV := split(fam.have.Ranges())
		st.gone += len(gone)
		st.added += len(added)
		st.intervalDeletes += len(goneV)
		st.intervalHeld = max(st.intervalHeld, len(heldV))
	}
	for _, f := range adds { // every delete before any add: a range may move between the two sets
		f()
	}
	fmt.Fprintf(&b, "add element inet %s serial { %d }\n", t, u.Serial)
	return b.Bytes(), st
}

// header declares the table (created if missing, kept if there) and rewrites the chains' rules.
func (n *Nft) header(b *bytes.Buffer) {
	t := n.table()
	fmt.Fprintf(b, "# threatstop-sync: the policy's block list; rewritten by every sync\n")
	fmt.Fprintf(b, "table inet %s {\n", t)
	fmt.Fprintf(b, "\tset v4 { type ipv4_addr; flags interval; auto-merge; }\n")
	fmt.Fprintf(b, "\tset v6 { type ipv6_addr; flags interval; auto-merge; }\n")
	fmt.Fprintf(b, "\tset h4 { type ipv4_addr; }\n")
	fmt.Fprintf(b, "\tset h6 { type ipv6_addr; }\n")
	fmt.Fprintf(b, "\tset serial { type mark; }\n")
	// Every chain is declared and flushed, those of hooks not asked for stay empty: a hook dropped from
	// --hooks stops filtering on the next sync.
	all := []string{"input", "forward", "output"}
	for _, h := range all {
		fmt.Fprintf(b, "\tchain %s { type filter hook %s priority filter - 10; policy accept; }\n", h, h)
	}
	fmt.Fprintf(b, "}\n")
	for _, h := range all {
		fmt.Fprintf(b, "flush chain inet %s %s\n", t, h)
	}
	for _, h := range n.hooks() {
		if h != "output" { // listed sources: inbound
			n.rules(b, h, "saddr", LogPrefixIn)
		}
		if h != "input" { // listed destinations: outbound
			n.rules(b, h, "daddr", LogPrefixOut)
		}
	}
}

func (n *Nft) hooks() []string {
	var hs []string
	if n.Hooks.Input {
		hs = append(hs, "input")
	}
	if n.Hooks.Forward {
		hs = append(hs, "forward")
	}
	if n.Hooks.Output {
		hs = append(hs, "output")
	}
	return hs
}

func (n *Nft) rules(b *bytes.Buffer, chain, dir, prefix string) {
	t := n.table()
	for _, fam := range [...]struct{ proto, set string }{{"ip", "v4"}, {"ip", "h4"}, {"ip6", "v6"}, {"ip6", "h6"}} {
		match := fmt.Sprintf("%s %s @%s", fam.proto, dir, fam.set)
		switch {
		case n.LogRate < 0:
		case n.LogRate == 0:
			fmt.Fprintf(b, "add rule inet %s %s %s log prefix %q level warn\n", t, chain, match, prefix)
		default:
			fmt.Fprintf(b, "add rule inet %s %s %s limit rate %d/second log prefix %q level warn\n", t, chain, match, n.LogRate, prefix)
		}
		fmt.Fprintf(b, "add rule inet %s %s %s counter drop\n", t, chain, match)
	}
}

// hint explains the error nft gives for a transaction larger than its netlink socket buffer.
func hint(err error) error {
	if strings.Contains(err.Error(), "Message too long") {
		return fmt.Errorf("%w (the transaction is larger than the netlink socket buffer: nft raises it only with CAP_NET_ADMIN in the initial user namespace, not in a user namespace or rootless container)", err)
	}
	return err
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// writeElements writes add or delete statements of the ranges, a range as a prefix where it is one.
func writeElements(b *bytes.Buffer, verb, table, set string, rs []cidrset.Range) {
	for i := 0; i < len(rs); i += elementsPerLine {
		chunk := rs[i:min(i+elementsPerLine, len(rs))]
		fmt.Fprintf(b, "%s element inet %s %s { ", verb, table, set)
		for j, r := range chunk {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(RangeString(r))
		}
		b.WriteString(" }\n")
	}
}

// RangeString is r as nftables writes it: an address, a prefix, or first-last.
func RangeString(r cidrset.Range) string {
	if r.First == r.Last {
		return r.First.String()
	}
	if p, ok := r.Prefix(); ok {
		return p.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// Holds implements Holder: set serial of the table holds u.Serial alone. The serial is written in the
// same transaction as the elements and the rules, and a reboot, a flush or a deleted table takes it with
// them. Only the serial set is read: listing the table, even a chain of it, makes nft 1.0.6 fetch every
// element (15 s for 1M), the serial set alone 2 ms (BenchmarkNftHolds1M).
func (n *Nft) Holds(ctx context.Context, u *Update) error {
	out, err := n.Run.Run(ctx, nil, n.cmd(), "-j", "list", "set", "inet", n.table(), "serial")
	if err != nil {
		return fmt.Errorf("%s", firstLine(err))
	}
	var doc struct {
		Nftables []struct {
			Set *struct {
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return fmt.Errorf("nft -j list set inet %s serial: %w", n.table(), err)
	}
	var elems []json.RawMessage
	for _, o := range doc.Nftables {
		if o.Set != nil {
			elems = append(elems, o.Set.Elem...)
		}
	}
	if len(elems) != 1 || string(elems[0]) != fmt.Sprint(u.Serial) {
		return fmt.Errorf("set serial holds %s, not serial %d", elems, u.Serial)
	}
	return nil
}

// ReadFamily reads the addresses of one family that the table holds (sets v4 and h4, or v6 and h6, by
// `nft -j list set`): what a test, or an operator checking the device, compares with the state.
func (n *Nft) ReadFamily(ctx context.Context, is6 bool) (cidrset.Set, error) {
	sets := []string{"v4", "h4"}
	if is6 {
		sets = []string{"v6", "h6"}
	}
	var all cidrset.Set
	for i, set := range sets {
		out, err := n.Run.Run(ctx, nil, n.cmd(), "-j", "list", "set", "inet", n.table(), set)
		if err != nil {
			return cidrset.Set{}, err
		}
		s, err := ParseNftJSON(out, is6)
		if err != nil {
			return cidrset.Set{}, err
		}
		if i == 0 {
			all = s
		} else {
			all = all.Union(s)
		}
	}
	return all, nil
}

// ParseNftJSON reads the elements of the set in `nft -j list set` output: addresses, prefixes and ranges.
func ParseNftJSON(data []byte, is6 bool) (cidrset.Set, error) {
	var doc struct {
		Nftables []struct {
			Set *struct {
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return cidrset.Set{}, err
	}
	var rs []cidrset.Range
	for _, o := range doc.Nftables {
		if o.Set == nil {
			continue
		}
		for _, e := range o.Set.Elem {
			r, err := nftElem(e)
			if err != nil {
				return cidrset.Set{}, err
			}
			rs = append(rs, r)
		}
	}
	return cidrset.FromRanges(is6, rs), nil
}

func nftElem(e json.RawMessage) (cidrset.Range, error) {
	var s string
	if json.Unmarshal(e, &s) == nil {
		a, err := netip.ParseAddr(s)
		return cidrset.Range{First: a, Last: a}, err
	}
	var v struct {
		Prefix *struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		} `json:"prefix"`
		Range []string         `json:"range"`
		Elem  *json.RawMessage `json:"elem"` // an element with a counter or comment
	}
	if err := json.Unmarshal(e, &v); err != nil {
		return cidrset.Range{}, err
	}
	switch {
	case v.Elem != nil:
		var inner struct {
			Val json.RawMessage `json:"val"`
		}
		if err := json.Unmarshal(*v.Elem, &inner); err != nil {
			return cidrset.Range{}, err
		}
		return nftElem(inner.Val)
	case v.Prefix != nil:
		a, err := netip.ParseAddr(v.Prefix.Addr)
		if err != nil {
			return cidrset.Range{}, err
		}
		p := cidrset.Build(a.Is6(), []netip.Prefix{netip.PrefixFrom(a, v.Prefix.Len)}).Ranges()
		if len(p) != 1 {
			return cidrset.Range{}, fmt.Errorf("bad prefix %s/%d", v.Prefix.Addr, v.Prefix.Len)
		}
		return p[0], nil
	case len(v.Range) == 2:
		a, err1 := netip.ParseAddr(v.Range[0])
		b, err2 := netip.ParseAddr(v.Range[1])
		if err1 != nil || err2 != nil {
			return cidrset.Range{}, fmt.Errorf("bad range %v", v.Range)
		}
		return cidrset.Range{First: a, Last: b}, nil
	}
	return cidrset.Range{}, fmt.Errorf("unknown element %s", e)
}

package format

import (
	"net/netip"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/cidr"
	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// p2p: PeerGuardian text lists, "name:start-end" a line, IPv4 or IPv6, "a-a" for one address; each range
// is listed as the fewest prefixes that cover it. Names hold any text, ':' and '@' included, so the name
// separator is found from the range: the end is what follows the last '-', and the start is, among the
// texts after a ':' that are addresses of the end's family, the one closest to the end (the longest
// common prefix; the longest text on a tie): "x:2001:db8::-2001:db8::ff" starts at 2001:db8::, not at
// "db8::". A start past the end is invalid, never re-read as a shorter start. '#' lines are comments.
type p2p struct{}

func init() { register(Format{Name: "p2p", New: noOptions(p2p{})}) }

func (p2p) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		if isComment(line) {
			return
		}
		lo, hi, ok := p2pRange(line)
		if !ok || !addAddrRange(lo, hi, b, st) {
			st.invalid(n, line, "want name:start-end")
		}
	})
}

// p2pRange finds the range of a "name:start-end" line.
func p2pRange(line string) (lo, hi netip.Addr, ok bool) {
	dash := strings.LastIndexByte(line, '-')
	if dash < 0 {
		return lo, hi, false
	}
	hi, err := netip.ParseAddr(line[dash+1:])
	if err != nil || hi.Zone() != "" {
		return lo, hi, false
	}
	head, e, best := line[:dash], cidr.FromAddr(hi), -1
	for i := 0; i < len(head); i++ {
		if head[i] != ':' {
			continue
		}
		a, err := netip.ParseAddr(head[i+1:])
		if err != nil || a.Zone() != "" || a.Is4() != hi.Is4() {
			continue
		}
		if c := cidr.FromAddr(a).CommonBits(e); c > best {
			lo, best = a, c
		}
	}
	return lo, hi, best >= 0 && !hi.Less(lo)
}

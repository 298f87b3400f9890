package format

import (
	"net/netip"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/cidr"
	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// dshield: DShield's block.txt, TAB-separated "start<TAB>end<TAB>prefix length<TAB>attacks<TAB>name<TAB>
// country<TAB>email" after a '#' header. The netblock is start/length, and end must be its last address;
// with no length ("-" or empty) the range start-end is listed instead. The other columns, placeholders
// ("-", "None", ">>UNKNOWN<<") included, are ignored. A "Start<TAB>End..." column header is skipped.
type dshield struct{}

func init() { register(Format{Name: "dshield", New: noOptions(dshield{})}) }

func (dshield) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		if isComment(line) {
			return
		}
		f := strings.Split(line, "\t")
		if len(f) < 2 {
			st.invalid(n, line, "want TAB-separated start, end and prefix length")
			return
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if strings.EqualFold(f[0], "start") {
			st.skip("header")
			return
		}
		lo, err1 := netip.ParseAddr(f[0])
		hi, err2 := netip.ParseAddr(f[1])
		if err1 != nil || err2 != nil {
			st.invalid(n, line, "start or end is not an address")
			return
		}
		if len(f) < 3 || f[2] == "" || f[2] == "-" {
			if !addAddrRange(lo, hi, b, st) {
				st.invalid(n, line, "not a range")
			}
			return
		}
		bits, ok := atoi(f[2])
		if !ok || bits > lo.BitLen() || lo.Zone() != "" || hi.Zone() != "" || lo.Is4() != hi.Is4() {
			st.invalid(n, line, "not a prefix length")
			return
		}
		p := netip.PrefixFrom(lo, bits)
		if p.Masked().Addr() != lo || lastAddr(p) != hi {
			st.invalid(n, line, "start, end and prefix length disagree")
			return
		}
		b.AddPrefix(p)
		st.Entries++
	})
}

// lastAddr is the last address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	return cidr.Last(p)
}

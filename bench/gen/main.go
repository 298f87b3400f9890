// Command gen writes the data set of the DNSBL benchmark (bench/run.sh) from one fixed seed: the same
// IPv4 prefixes, IPv6 prefixes and domain names as threatstop feeds (format plain) and as rbldnsd zones
// (ip4trie, ip6trie, dnset), a dnsperf query file that mixes IPv4, IPv6 and domain lookups with a share
// of listed names, and a known-answer file that every server must pass before its numbers count.
//
// Every address and prefix lies outside the ranges that threatfeed's guards drop (reserved, private,
// documentation, broader than /8 or /16), so both servers hold exactly the same entries.
//
// Output, under -out:
//
//	feeds/v4.txt feeds/v6.txt feeds/dom.txt   threatstop feeds, format plain (`*.name`: name and subdomains)
//	rbldnsd/v4.rbl rbldnsd/v6.rbl rbldnsd/dom.rbl  the same entries for rbldnsd (`.name`: name and subdomains)
//	queries.txt                                dnsperf input, `NAME A`, names under POLICY.ZONE
//	queries.expect                             the rcode of each line of queries.txt (NOERROR: listed)
//	kaf.txt                                    known answers: `RELNAME RCODE A KIND` (A `-` for NXDOMAIN)
//	probes.txt                                 three listed names (IPv4, IPv6, domain) for the start-up poll
//	variants/v4.NNN.txt                        -variants copies of feeds/v4.txt, each with 1% more lines replaced
//	meta.txt                                   key=value: what was written
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

type config struct {
	out      string
	v4, v6   int
	doms     int
	wild     float64
	queries  int
	listed   float64
	kaf      int
	seed     uint64
	variants int
	policy   string
	zone     string
}

func main() {
	var c config
	flag.StringVar(&c.out, "out", "bench/out/data", "output directory")
	flag.IntVar(&c.v4, "v4", 1_000_000, "IPv4 prefixes")
	flag.IntVar(&c.v6, "v6", 100_000, "IPv6 prefixes")
	flag.IntVar(&c.doms, "dom", 1_000_000, "domain names")
	flag.Float64Var(&c.wild, "wild", 0.10, "share of the domain names that also cover their subdomains")
	flag.IntVar(&c.queries, "queries", 1_000_000, "lines of the dnsperf query file")
	flag.Float64Var(&c.listed, "listed", 0.30, "share of listed names among the queries")
	flag.IntVar(&c.kaf, "kaf", 2000, "known answers sampled from the queries (plus a few edge cases)")
	flag.Uint64Var(&c.seed, "seed", 20251123, "random seed")
	flag.IntVar(&c.variants, "variants", 0, "rewritten versions of the IPv4 feed for the refresh scenario")
	flag.StringVar(&c.policy, "policy", "p", "policy label of the query names")
	flag.StringVar(&c.zone, "zone", "bl.bench", "zone of the query names")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	rng := rand.New(rand.NewPCG(c.seed, c.seed^0x9e3779b97f4a7c15))
	for _, d := range []string{"feeds", "rbldnsd", "variants"} {
		if err := os.MkdirAll(filepath.Join(c.out, d), 0o755); err != nil {
			return err
		}
	}
	meta := &strings.Builder{}
	fmt.Fprintf(meta, "seed=%d\n", c.seed)

	v4 := genV4(rng, c.v4)
	v6 := genV6(rng, c.v6)
	ds := genDomains(rng, c.doms, c.wild)
	fmt.Fprintf(meta, "ipv4_prefixes=%d\nipv6_prefixes=%d\ndomains=%d\ndomains_wildcard=%d\n", len(v4.list), len(v6.list), len(ds.list), ds.wildN)
	fmt.Fprintf(meta, "ipv4_bits=%s\nipv6_bits=%s\n", v4.histogram(), v6.histogram())

	if err := writeLines(filepath.Join(c.out, "feeds/v4.txt"), "", len(v4.list), func(i int) string { return v4.list[i].String() }); err != nil {
		return err
	}
	if err := writeLines(filepath.Join(c.out, "feeds/v6.txt"), "", len(v6.list), func(i int) string { return v6.list[i].String() }); err != nil {
		return err
	}
	if err := writeLines(filepath.Join(c.out, "feeds/dom.txt"), "", len(ds.list), func(i int) string {
		if ds.list[i].wild {
			return "*." + ds.list[i].name
		}
		return ds.list[i].name
	}); err != nil {
		return err
	}
	// rbldnsd: the first dataset on the command line (v4) carries the SOA and NS of the zone, so that
	// NXDOMAIN answers carry an SOA as threatstop's do. ":127.0.0.2:listed" is the default A and TXT of
	// every entry that follows.
	soa := fmt.Sprintf("$SOA 60 ns1.%s. hostmaster.%s. 1 3600 600 604800 60\n$NS 300 ns1.%s.\n", c.zone, c.zone, c.zone)
	hdr := "$TTL 300\n:127.0.0.2:listed\n"
	if err := writeLines(filepath.Join(c.out, "rbldnsd/v4.rbl"), soa+hdr, len(v4.list), func(i int) string { return v4.list[i].String() }); err != nil {
		return err
	}
	if err := writeLines(filepath.Join(c.out, "rbldnsd/v6.rbl"), hdr, len(v6.list), func(i int) string { return v6.list[i].String() }); err != nil {
		return err
	}
	if err := writeLines(filepath.Join(c.out, "rbldnsd/dom.rbl"), hdr, len(ds.list), func(i int) string {
		if ds.list[i].wild {
			return "." + ds.list[i].name
		}
		return ds.list[i].name
	}); err != nil {
		return err
	}

	// Queries, and the known answers sampled from them.
	suffix := "." + c.policy + "." + c.zone
	type known struct{ rel, kind string }
	var kaf []known
	every := max(1, c.queries/max(1, c.kaf))
	var listedN, n4, n6, nd int
	qs := make([]string, c.queries)
	expect := make([]bool, c.queries)
	for i := range qs {
		listed := rng.Float64() < c.listed
		var rel, kind string
		switch r := rng.Float64(); {
		case r < 0.45:
			rel, kind = v4.query(rng, listed), "v4"
			n4++
		case r < 0.60:
			rel, kind = v6.query(rng, listed), "v6"
			n6++
		default:
			rel, kind = ds.query(rng, listed), "dom"
			nd++
		}
		if listed {
			listedN++
		}
		expect[i] = listed
		qs[i] = rel + suffix + " A"
		if i%every == 0 && len(kaf) < c.kaf {
			kaf = append(kaf, known{rel, kind})
		}
	}
	if err := writeLines(filepath.Join(c.out, "queries.txt"), "", len(qs), func(i int) string { return qs[i] }); err != nil {
		return err
	}
	if err := writeLines(filepath.Join(c.out, "queries.expect"), "", len(qs), func(i int) string {
		if expect[i] {
			return "NOERROR"
		}
		return "NXDOMAIN"
	}); err != nil {
		return err
	}
	fmt.Fprintf(meta, "queries=%d\nqueries_listed=%d\nqueries_v4=%d\nqueries_v6=%d\nqueries_dom=%d\n", len(qs), listedN, n4, n6, nd)

	// Edge cases the random sample may miss: inside the broadest prefixes, the first and last address of
	// prefixes, deep names below a wildcard, subdomains of exact-only names.
	for _, e := range v4.edges(rng) {
		kaf = append(kaf, known{e, "v4-edge"})
	}
	for _, e := range v6.edges(rng) {
		kaf = append(kaf, known{e, "v6-edge"})
	}
	for _, e := range ds.edges(rng) {
		kaf = append(kaf, known{e, "dom-edge"})
	}
	var kafListed int
	if err := writeLines(filepath.Join(c.out, "kaf.txt"), "", len(kaf), func(i int) string {
		k := kaf[i]
		var hit bool
		switch {
		case strings.HasPrefix(k.kind, "v4"):
			hit = v4.covered(parseRev4(k.rel))
		case strings.HasPrefix(k.kind, "v6"):
			hit = v6.covered(parseNibbles(k.rel))
		default:
			hit = ds.covered(strings.ToLower(k.rel))
		}
		if hit {
			kafListed++
			return k.rel + " NOERROR 127.0.0.2 " + k.kind + "-listed"
		}
		return k.rel + " NXDOMAIN - " + k.kind + "-clean"
	}); err != nil {
		return err
	}
	fmt.Fprintf(meta, "known_answers=%d\nknown_answers_listed=%d\n", len(kaf), kafListed)

	// Probes for the start-up poll: one listed name of each kind, from the end of each file.
	probes := []string{
		rev4(v4.list[len(v4.list)-1].Addr()),
		nibbles(v6.list[len(v6.list)-1].Addr()),
		ds.list[len(ds.list)-1].name,
	}
	if err := writeLines(filepath.Join(c.out, "probes.txt"), "", len(probes), func(i int) string { return probes[i] }); err != nil {
		return err
	}

	// Versions of the IPv4 feed for the refresh scenario: each replaces 1% more lines with new /32s.
	cur := append([]netip.Prefix(nil), v4.list...)
	for k := 1; k <= c.variants; k++ {
		for range max(1, len(cur)/100) {
			i := rng.IntN(len(cur))
			cur[i] = v4.fresh32(rng)
		}
		name := filepath.Join(c.out, fmt.Sprintf("variants/v4.%03d.txt", k))
		if err := writeLines(name, "", len(cur), func(i int) string { return cur[i].String() }); err != nil {
			return err
		}
	}
	fmt.Fprintf(meta, "variants=%d\n", c.variants)
	return os.WriteFile(filepath.Join(c.out, "meta.txt"), []byte(meta.String()), 0o644)
}

func writeLines(path, header string, n int, line func(int) string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(header)
	for i := range n {
		w.WriteString(line(i))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// band is a range of prefix lengths and the share of the entries that have one of them.
type band struct {
	lo, hi int
	share  float64
}

// counts turns shares into entry counts (at least one per band with a share, the rest to the last band).
func counts(n int, bands []band) []int {
	out := make([]int, len(bands))
	rest := n
	for i, b := range bands[:len(bands)-1] {
		c := int(float64(n)*b.share + 0.5)
		if c == 0 && b.share > 0 && n >= 1000 {
			c = 1
		}
		out[i] = min(c, rest)
		rest -= out[i]
	}
	out[len(out)-1] = rest
	return out
}

// ---- IPv4 ----

// excluded4 is every range the threatfeed guards drop (reserved, private, documentation); no entry and
// no query overlaps one.
var excluded4 = mustPrefixes("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
	"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4")

// A realistic spread: mostly single addresses, some /24s and small ranges, a few large blocks.
var bands4 = []band{{8, 8, 2e-6}, {9, 12, 2e-5}, {13, 16, 5e-4}, {17, 23, 0.02}, {24, 24, 0.05}, {25, 31, 0.03}, {32, 32, 1}}

type set4 struct {
	list []netip.Prefix
	keys map[uint64]struct{} // addr<<8 | bits
	used []int               // prefix lengths present, for coverage checks
}

func mask4(bits int) uint32 {
	if bits == 0 {
		return 0
	}
	return ^uint32(0) << (32 - bits)
}

func allowed4(a uint32, bits int) bool {
	for _, e := range excluded4 {
		ea := u32(e.Addr())
		if (a^ea)&mask4(min(bits, e.Bits())) == 0 {
			return false
		}
	}
	return true
}

func genV4(rng *rand.Rand, n int) *set4 {
	s := &set4{keys: make(map[uint64]struct{}, n)}
	for i, c := range counts(n, bands4) {
		b := bands4[i]
		if c > 0 {
			for bits := b.lo; bits <= b.hi; bits++ {
				s.used = append(s.used, bits)
			}
		}
		for k := 0; k < c; {
			bits := b.lo + rng.IntN(b.hi-b.lo+1)
			a := rng.Uint32() & mask4(bits)
			if !allowed4(a, bits) {
				continue
			}
			key := uint64(a)<<8 | uint64(bits)
			if _, dup := s.keys[key]; dup {
				continue
			}
			s.keys[key] = struct{}{}
			s.list = append(s.list, netip.PrefixFrom(addr4(a), bits))
			k++
		}
	}
	rng.Shuffle(len(s.list), func(i, j int) { s.list[i], s.list[j] = s.list[j], s.list[i] })
	return s
}

func (s *set4) covered(a uint32) bool {
	for _, bits := range s.used {
		if _, ok := s.keys[uint64(a&mask4(bits))<<8|uint64(bits)]; ok {
			return true
		}
	}
	return false
}

// fresh32 is a new allowed /32 that is not an entry yet (it is added to the set).
func (s *set4) fresh32(rng *rand.Rand) netip.Prefix {
	for {
		a := rng.Uint32()
		key := uint64(a)<<8 | 32
		if _, dup := s.keys[key]; dup || !allowed4(a, 32) {
			continue
		}
		s.keys[key] = struct{}{}
		return netip.PrefixFrom(addr4(a), 32)
	}
}

func (s *set4) query(rng *rand.Rand, listed bool) string {
	if listed {
		p := s.list[rng.IntN(len(s.list))]
		a := u32(p.Addr()) | rng.Uint32()&^mask4(p.Bits())
		return rev4(addr4(a))
	}
	for {
		a := rng.Uint32()
		if allowed4(a, 32) && !s.covered(a) {
			return rev4(addr4(a))
		}
	}
}

func (s *set4) edges(rng *rand.Rand) []string {
	var out []string
	var broad, mid int
	for _, p := range s.list {
		a := u32(p.Addr())
		switch {
		case p.Bits() <= 12 && broad < 4:
			broad++
			out = append(out, rev4(addr4(a|rng.Uint32()&^mask4(p.Bits()))))
		case p.Bits() >= 17 && p.Bits() <= 31 && mid < 6:
			mid++
			first, last := a, a|^mask4(p.Bits())
			out = append(out, rev4(addr4(first)), rev4(addr4(last)))
			if allowed4(first-1, 32) {
				out = append(out, rev4(addr4(first-1)))
			}
			if allowed4(last+1, 32) {
				out = append(out, rev4(addr4(last+1)))
			}
		}
	}
	return out
}

func (s *set4) histogram() string { return histogram(s.list) }

// ---- IPv6 ----

// IPv6 entries and queries lie in 2400::/6 to 2fff::/16 (RIR allocations), clear of every guarded range.
var bands6 = []band{{17, 31, 0.001}, {32, 32, 0.01}, {33, 47, 0.02}, {48, 48, 0.15}, {49, 63, 0.05}, {64, 64, 0.45}, {65, 127, 0.02}, {128, 128, 1}}

type key6 struct {
	hi, lo uint64
	bits   uint8
}

type set6 struct {
	list []netip.Prefix
	keys map[key6]struct{}
	used []int
}

func mask128(hi, lo uint64, bits int) (uint64, uint64) {
	switch {
	case bits == 0:
		return 0, 0
	case bits <= 64:
		return hi & (^uint64(0) << (64 - bits)), 0
	case bits == 128:
		return hi, lo
	default:
		return hi, lo & (^uint64(0) << (128 - bits))
	}
}

func rand6(rng *rand.Rand) (uint64, uint64) {
	hi := uint64(0x2400+rng.IntN(0xc00))<<48 | rng.Uint64()&(1<<48-1)
	return hi, rng.Uint64()
}

func genV6(rng *rand.Rand, n int) *set6 {
	s := &set6{keys: make(map[key6]struct{}, n)}
	for i, c := range counts(n, bands6) {
		b := bands6[i]
		if c > 0 {
			for bits := b.lo; bits <= b.hi; bits++ {
				s.used = append(s.used, bits)
			}
		}
		for k := 0; k < c; {
			bits := b.lo + rng.IntN(b.hi-b.lo+1)
			hi, lo := rand6(rng)
			hi, lo = mask128(hi, lo, bits)
			key := key6{hi, lo, uint8(bits)}
			if _, dup := s.keys[key]; dup {
				continue
			}
			s.keys[key] = struct{}{}
			s.list = append(s.list, netip.PrefixFrom(addr6(hi, lo), bits))
			k++
		}
	}
	rng.Shuffle(len(s.list), func(i, j int) { s.list[i], s.list[j] = s.list[j], s.list[i] })
	return s
}

func (s *set6) covered(a netip.Addr) bool {
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	for _, bits := range s.used {
		h, l := mask128(hi, lo, bits)
		if _, ok := s.keys[key6{h, l, uint8(bits)}]; ok {
			return true
		}
	}
	return false
}

func within6(rng *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	mh, ml := mask128(^uint64(0), ^uint64(0), p.Bits())
	return addr6(hi|rng.Uint64()&^mh, lo|rng.Uint64()&^ml)
}

func (s *set6) query(rng *rand.Rand, listed bool) string {
	if listed {
		return nibbles(within6(rng, s.list[rng.IntN(len(s.list))]))
	}
	for {
		a := addr6(rand6(rng))
		if !s.covered(a) {
			return nibbles(a)
		}
	}
}

func (s *set6) edges(rng *rand.Rand) []string {
	var out []string
	var broad, mid int
	for _, p := range s.list {
		switch {
		case p.Bits() <= 32 && broad < 4:
			broad++
			out = append(out, nibbles(within6(rng, p)))
		case p.Bits() >= 48 && p.Bits() < 128 && mid < 6:
			mid++
			b := p.Addr().As16()
			hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
			mh, ml := mask128(^uint64(0), ^uint64(0), p.Bits())
			out = append(out, nibbles(p.Addr()), nibbles(addr6(hi|^mh, lo|^ml)))
			h, l := hi, lo-1 // the address just before the prefix
			if lo == 0 {
				h--
			}
			out = append(out, nibbles(addr6(h, l)))
		}
	}
	return out
}

func (s *set6) histogram() string { return histogram(s.list) }

// ---- domains ----

var tlds = []struct {
	tld    string
	weight int
}{
	{"com", 40}, {"net", 8}, {"org", 6}, {"info", 4}, {"xyz", 5}, {"top", 5}, {"ru", 5}, {"cn", 3},
	{"de", 3}, {"io", 2}, {"online", 3}, {"site", 3}, {"shop", 3}, {"buzz", 2}, {"biz", 2}, {"club", 2},
	{"live", 2}, {"store", 1}, {"co", 1}, {"co.uk", 1}, {"com.br", 1}, {"icu", 2}, {"cfd", 1},
}

var subs = []string{"www", "login", "mail", "secure", "cdn", "api", "account", "update", "m", "app", "verify", "portal"}

const consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"

func word(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		if i%2 == 0 {
			b[i] = consonants[rng.IntN(len(consonants))]
		} else {
			b[i] = vowels[rng.IntN(len(vowels))]
		}
	}
	return string(b)
}

func label(rng *rand.Rand) string {
	l := word(rng, 4+rng.IntN(8))
	switch r := rng.IntN(10); {
	case r < 2:
		l += "-" + word(rng, 3+rng.IntN(6))
	case r < 3:
		l += fmt.Sprint(rng.IntN(1000))
	}
	return l
}

func tld(rng *rand.Rand) string {
	total := 0
	for _, t := range tlds {
		total += t.weight
	}
	r := rng.IntN(total)
	for _, t := range tlds {
		if r < t.weight {
			return t.tld
		}
		r -= t.weight
	}
	return "com"
}

func domainName(rng *rand.Rand) string {
	n := label(rng) + "." + tld(rng)
	if rng.IntN(4) == 0 {
		if rng.IntN(2) == 0 {
			n = subs[rng.IntN(len(subs))] + "." + n
		} else {
			n = label(rng) + "." + n
		}
	}
	return n
}

type dom struct {
	name string
	wild bool
}

type domSet struct {
	list  []dom
	wilds map[string]bool // name -> covers its subdomains
	wildN int
}

func genDomains(rng *rand.Rand, n int, wild float64) *domSet {
	s := &domSet{wilds: make(map[string]bool, n), wildN: int(float64(n)*wild + 0.5)}
	for len(s.list) < n {
		name := domainName(rng)
		if _, dup := s.wilds[name]; dup {
			continue
		}
		w := len(s.list) < s.wildN
		s.wilds[name] = w
		s.list = append(s.list, dom{name, w})
	}
	rng.Shuffle(len(s.list), func(i, j int) { s.list[i], s.list[j] = s.list[j], s.list[i] })
	return s
}

// covered reports whether name is listed: listed exactly, or below a name that covers its subdomains.
func (s *domSet) covered(name string) bool {
	if _, ok := s.wilds[name]; ok {
		return true
	}
	for i := strings.IndexByte(name, '.'); i >= 0; i = strings.IndexByte(name, '.') {
		name = name[i+1:]
		if s.wilds[name] {
			return true
		}
	}
	return false
}

func (s *domSet) query(rng *rand.Rand, listed bool) string {
	if listed {
		d := s.list[rng.IntN(len(s.list))]
		if d.wild && rng.IntN(2) == 0 {
			return label(rng) + "." + d.name
		}
		return d.name
	}
	for {
		var n string
		if rng.IntN(5) == 0 { // a subdomain of a listed name: listed only if a parent covers it
			n = subs[rng.IntN(len(subs))] + "." + s.list[rng.IntN(len(s.list))].name
		} else {
			n = domainName(rng)
		}
		if len(n) < 200 && !s.covered(n) {
			return n
		}
	}
}

func (s *domSet) edges(rng *rand.Rand) []string {
	var out []string
	var w, e int
	for _, d := range s.list {
		switch {
		case d.wild && w < 5:
			w++
			out = append(out, d.name, "a.b."+d.name, label(rng)+"."+d.name, strings.ToUpper(d.name))
		case !d.wild && e < 5:
			e++
			out = append(out, d.name, "www."+d.name)
		}
	}
	return out
}

// ---- helpers ----

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func u32(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

func addr4(a uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], a)
	return netip.AddrFrom4(b)
}

func addr6(hi, lo uint64) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}

func rev4(a netip.Addr) string {
	b := a.As4()
	return fmt.Sprintf("%d.%d.%d.%d", b[3], b[2], b[1], b[0])
}

func parseRev4(s string) uint32 {
	var b [4]byte
	fmt.Sscanf(s, "%d.%d.%d.%d", &b[3], &b[2], &b[1], &b[0])
	return binary.BigEndian.Uint32(b[:])
}

const hexdigits = "0123456789abcdef"

func nibbles(a netip.Addr) string {
	b := a.As16()
	out := make([]byte, 0, 64)
	for i := 15; i >= 0; i-- {
		out = append(out, hexdigits[b[i]&0xf], '.', hexdigits[b[i]>>4], '.')
	}
	return string(out[:len(out)-1])
}

func parseNibbles(s string) netip.Addr {
	var b [16]byte
	parts := strings.Split(s, ".")
	for i := 0; i+1 < len(parts) && i/2 < 16; i += 2 {
		lo := strings.IndexByte(hexdigits, parts[i][0])
		hi := strings.IndexByte(hexdigits, parts[i+1][0])
		b[15-i/2] = byte(hi<<4 | lo)
	}
	return netip.AddrFrom16(b)
}

func histogram(list []netip.Prefix) string {
	var n [129]int
	for _, p := range list {
		n[p.Bits()]++
	}
	var parts []string
	for bits, c := range n {
		if c > 0 {
			parts = append(parts, fmt.Sprintf("/%d:%d", bits, c))
		}
	}
	return strings.Join(parts, ",")
}

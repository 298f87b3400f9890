// Package sensor holds the reports that customers' firewalls make, by uploading their logs, about the
// public addresses that attack them: per address, which reporters (opaque IDs, one per customer that
// opted in) saw it inbound and when last. The built-in `sensors` feed lists an address once enough
// distinct reporters saw it within a window; the table never tells who reported what except to the
// reporter itself (Contributions, for its export).
//
// One Table per process (Shared): threatlog writes to it, threatfeed's sensors source reads it.
//
// What the table keeps is within the window (default 24 hours, SetWindow) once List or Expire ran
// (the writer calls Expire every few minutes): per address and reporter the first and last report (to
// the second) and the number of reports in each eighth of the window, so a report leaves the count at
// most an eighth of the window after it left the window, and First is exact while the first report is
// within the window (then the start of the earliest eighth that still holds reports, never before the
// window). Addresses that a customer names as its own inside hosts (Inside) are kept as long, and
// never listed.
//
// Cost, measured on a shared 2-core machine (go test -bench . ./plugin/pkg/sensor): 95 bytes of heap
// per reported address with one reporter and 32 more per further reporter (BenchmarkMemory: 127 with
// two, 159 with three), 28 per inside address; a report or a lookup is a map lookup under the mutex,
// about 300 ns (BenchmarkReport, BenchmarkLookup); List walks every address, about 100 ns each, and
// sorts what it lists, about 500 ns more per listed address (BenchmarkList). One mutex guards it all:
// the table is not on the DNS query path.
package sensor

import (
	"cmp"
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Entry is one listed address, as the sensors feed serves it: no reporter in it.
type Entry struct {
	Addr      netip.Addr
	Reporters int       // distinct reporters within the window
	Last      time.Time // the latest report
	First     time.Time // the earliest report still within the window
}

// Contribution is one address a reporter reported, for that reporter's export.
type Contribution struct {
	Addr  netip.Addr
	First time.Time
	Last  time.Time
	Count int // reports within the window
}

// DefaultWindow is how long a Table keeps reports unless SetWindow says otherwise.
const DefaultWindow = 24 * time.Hour

// periods is how many parts of the window the reports of an address and reporter are counted in; ring
// holds one more, for the part that the window's start falls in.
const (
	periods = 8
	ring    = periods + 1
)

// record is what one reporter reported about one address: 30 bytes (32 allocated).
type record struct {
	rep         uint32       // the reporter, by its number in Table.ids
	first, last uint32       // Unix seconds
	n           [ring]uint16 // reports per period (window/periods), at the period's number modulo ring; saturating
}

// key is an address in 16 bytes (IPv4 as IPv4-mapped), 8 fewer than a netip.Addr.
type key [16]byte

func keyOf(a netip.Addr) key { return a.As16() }

func (k key) addr() netip.Addr { return netip.AddrFrom16(k).Unmap() }

// Table: see the package comment. Safe for concurrent use.
type Table struct {
	mu       sync.Mutex
	window   int64 // seconds
	width    int64 // seconds of one period: window/periods, rounded up
	disclose int   // the fewest reporters whose count is told (Disclosed)
	clock    atomic.Pointer[func() time.Time]
	excluded func(netip.Addr) bool
	addrs    map[key][]record
	inside   map[key]uint32          // inside address → its latest time (Unix seconds)
	insideP  map[netip.Prefix]uint32 // inside prefixes (truncated addresses) → latest time
	pbits    map[pbits]int           // the prefix lengths in insideP, with how many prefixes have each
	ids      map[string]uint32       // reporter → its number
	nextID   uint32
}

// pbits is a prefix length of one family.
type pbits struct {
	is4  bool
	bits int
}

var shared atomic.Pointer[Table]

func init() { shared.Store(New()) }

// Shared returns the process's table: what threatlog reports to and the sensors feed lists.
func Shared() *Table { return shared.Load() }

// UseShared makes t the process's table until restore is called: for tests that start servers in
// process, each of which must report to and list from a table of its own (a fresh one is what a restart
// starts with). A feed set up meanwhile keeps t.
func UseShared(t *Table) (restore func()) {
	prev := shared.Swap(t)
	return func() { shared.Store(prev) }
}

// SetClock makes the table's Now fn (nil: time.Now): a simulation runs the sensors feed on its clock.
func (t *Table) SetClock(fn func() time.Time) {
	if fn == nil {
		t.clock.Store(nil)
		return
	}
	t.clock.Store(&fn)
}

// Now is the table's clock, what the sensors feed lists at.
func (t *Table) Now() time.Time {
	if fn := t.clock.Load(); fn != nil {
		return (*fn)()
	}
	return time.Now()
}

// New returns an empty table with the default window; the process's is Shared, others are for tests.
func New() *Table {
	t := &Table{addrs: map[key][]record{}, inside: map[key]uint32{}, insideP: map[netip.Prefix]uint32{}, pbits: map[pbits]int{}, ids: map[string]uint32{}}
	t.setWindow(DefaultWindow)
	t.disclose = DefaultMinReporters
	return t
}

// DefaultMinReporters is the sensors feed's default min_reporters, and the fewest reporters a count is
// told for until the feed says otherwise.
const DefaultMinReporters = 3

// SetDisclosed sets the fewest reporters of an address whose count may be told (the sensors feed's
// min_reporters): below that, a count would say that one customer or two, perhaps identifiable, saw it.
func (t *Table) SetDisclosed(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.disclose = max(n, 1)
}

// Disclosed returns the count of Lookup when it may be told, else 0.
func (t *Table) Disclosed(reporters int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if reporters < t.disclose {
		return 0
	}
	return reporters
}

// SetWindow sets how long reports (and inside addresses) are kept and counted: at least 8 seconds,
// whole seconds. Counts already held move to the period of their last report.
func (t *Table) SetWindow(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.width
	t.setWindow(d)
	if t.width == old {
		return
	}
	for _, recs := range t.addrs {
		for i := range recs {
			r := &recs[i]
			total := r.count(math.MinInt64, int64(r.last)/old)
			r.n = [ring]uint16{}
			pl := int64(r.last) / t.width
			r.n[pl%ring] = sat(total)
			if int64(r.first)/t.width <= pl-ring {
				r.first = uint32(pl * t.width)
			}
		}
	}
}

func (t *Table) setWindow(d time.Duration) {
	t.window = max(int64(d/time.Second), periods)
	t.width = (t.window + periods - 1) / periods // the ring spans the window and a period more
}

// Window returns how long reports are kept.
func (t *Table) Window() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return time.Duration(t.window) * time.Second
}

// Public reports whether a is a public unicast address, the only kind a Table keeps: not private
// (RFC 1918, unique local), shared (CGNAT, RFC 6598), loopback, link-local, multicast, unspecified,
// broadcast, documentation, benchmarking, "this network", reserved (240/4), IETF protocol space, 6to4,
// nor IPv6 outside global unicast 2000::/3. An IPv4-mapped address is judged as IPv4.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.Zone() != "" || !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	if a.Is6() && !global6.Contains(a) {
		return false
	}
	for _, p := range special {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

var global6 = netip.MustParsePrefix("2000::/3")

// PublicPrefix reports whether p may hold public addresses: it is not within one range of the
// non-public space that Public refuses. An IPv4-mapped prefix is judged as IPv4.
func PublicPrefix(p netip.Prefix) bool {
	p, ok := unmapPrefix(p)
	if !ok {
		return false
	}
	if p.Addr().Is6() && p.Bits() >= global6.Bits() && !global6.Contains(p.Addr()) {
		return false
	}
	for _, r := range nonPublic {
		if r.Bits() <= p.Bits() && r.Contains(p.Addr()) {
			return false
		}
	}
	return true
}

// unmapPrefix is p masked, IPv4-mapped as IPv4; false when p is invalid (or IPv4-mapped and shorter
// than /96).
func unmapPrefix(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return p, false
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return p, false
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}

// special is the non-public space that IsGlobalUnicast and IsPrivate let through (plugin/pkg/guard's
// ranges, and a few IPv6 ones that embed IPv4 or are not routed).
var special = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
		"2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// nonPublic is all the space Public refuses, as prefixes (inside 2000::/3 for IPv6).
var nonPublic = func() []netip.Prefix {
	out := slices.Clone(special)
	for _, s := range []string{"10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// secs is t in Unix seconds, clamped to what a uint32 holds.
func secs(t time.Time) uint32 {
	return uint32(min(max(t.Unix(), 0), math.MaxUint32))
}

func timeOf(s uint32) time.Time { return time.Unix(int64(s), 0).UTC() }

func sat(n int) uint16 { return uint16(min(n, math.MaxUint16)) }

// add counts a report at s; false when s is a window or more older than the last report (nothing then).
func (r *record) add(s uint32, width int64) bool {
	pa, pl := int64(s)/width, int64(r.last)/width
	switch {
	case pa > pl:
		if pa-pl >= ring {
			r.n = [ring]uint16{}
		} else {
			for p := pl + 1; p <= pa; p++ {
				r.n[p%ring] = 0
			}
		}
		r.last = s
		r.n[pa%ring] = sat(int(r.n[pa%ring]) + 1)
		if int64(r.first)/width <= pa-ring { // the first report has left the periods kept
			r.first = s // when no earlier period holds reports, s is the only report in its period
			if e := r.earliest(math.MinInt64, pa, width); e < uint32(pa*width) {
				r.first = e
			}
		}
	case pa > pl-ring:
		r.n[pa%ring] = sat(int(r.n[pa%ring]) + 1)
		if s < r.first {
			r.first = s
		}
		if s > r.last {
			r.last = s
		}
	default:
		return false
	}
	return true
}

// count is the number of reports in periods from..pl (pl: the last report's).
func (r *record) count(from, pl int64) int {
	n := 0
	for p := max(from, pl-ring+1, 0); p <= pl; p++ {
		n += int(r.n[p%ring])
	}
	return n
}

// earliest is the start of the first period from..pl that holds reports (pl's at the latest).
func (r *record) earliest(from, pl, width int64) uint32 {
	for p := max(from, pl-ring+1, 0); p < pl; p++ {
		if r.n[p%ring] > 0 {
			return uint32(p * width)
		}
	}
	return uint32(pl * width)
}

// within is r's first report within the window that starts at cut, ok false when its last report is
// older.
func (r *record) within(cut uint32, width int64) (first uint32, ok bool) {
	switch {
	case r.last < cut:
		return 0, false
	case r.first >= cut:
		return r.first, true
	}
	return max(r.earliest(int64(cut)/width, int64(r.last)/width, width), cut), true
}

// expire drops what is older than the window that starts at cut; false when nothing is left.
func (r *record) expire(cut uint32, width int64) bool {
	if r.last < cut {
		return false
	}
	pc, pl := int64(cut)/width, int64(r.last)/width
	for p := max(pl-ring+1, 0); p < pc; p++ {
		r.n[p%ring] = 0
	}
	if r.first < cut {
		r.first = max(r.earliest(pc, pl, width), cut)
	}
	return true
}

// Report records that reporter saw a attacking at time at. An address that is not a public unicast
// address (private, loopback, link-local, multicast, documentation, CGNAT, unspecified ...) is ignored.
func (t *Table) Report(a netip.Addr, reporter string, at time.Time) {
	a = a.Unmap()
	if !Public(a) {
		return
	}
	s := secs(at)
	k := keyOf(a)
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.ids[reporter]
	if !ok {
		t.nextID++
		id = t.nextID
		t.ids[reporter] = id
	}
	recs := t.addrs[k]
	for i := range recs {
		if recs[i].rep == id {
			recs[i].add(s, t.width)
			return
		}
	}
	r := record{rep: id, first: s, last: s}
	r.n[int64(s)/t.width%ring] = 1
	grown := make([]record, len(recs)+1) // exactly: append would double (32 bytes a reporter, not 64)
	copy(grown, recs)
	grown[len(recs)] = r
	t.addrs[k] = grown
}

// Inside records that a customer's log names a as one of its own inside hosts at time at: a is never
// listed while at is within the window.
func (t *Table) Inside(a netip.Addr, at time.Time) {
	a = a.Unmap()
	if !Public(a) {
		return
	}
	s := secs(at)
	t.mu.Lock()
	defer t.mu.Unlock()
	if k := keyOf(a); s > t.inside[k] {
		t.inside[k] = s
	}
}

// InsidePrefix is Inside for every address of p: an inside host known only as its prefix (threatlog's
// `truncate`). A prefix within non-public space is ignored (PublicPrefix).
func (t *Table) InsidePrefix(p netip.Prefix, at time.Time) {
	p, ok := unmapPrefix(p)
	if !ok {
		return
	}
	if p.IsSingleIP() {
		t.Inside(p.Addr(), at)
		return
	}
	if !PublicPrefix(p) {
		return
	}
	s := secs(at)
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.insideP[p]
	if !ok {
		t.pbits[pbits{p.Addr().Is4(), p.Bits()}]++
	}
	if !ok || s > old {
		t.insideP[p] = s
	}
}

// isInside reports whether a (k) is an inside address or in an inside prefix; t.mu is held.
func (t *Table) isInside(k key, a netip.Addr) bool {
	if _, ok := t.inside[k]; ok {
		return true
	}
	for b := range t.pbits {
		if b.is4 == a.Is4() {
			if p, err := a.Prefix(b.bits); err == nil {
				if _, ok := t.insideP[p]; ok {
					return true
				}
			}
		}
	}
	return false
}

// SetExcluded sets what must never be listed however many report it (customers' own networks and the
// addresses any policy allows); nil excludes nothing. It is consulted by List.
func (t *Table) SetExcluded(fn func(netip.Addr) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.excluded = fn
}

// cutoff is the start of the window before now, in Unix seconds: window, or the table's when window is
// 0 or longer (nothing older is kept).
func (t *Table) cutoff(now time.Time, window time.Duration) uint32 {
	w := time.Duration(t.window) * time.Second
	if window > 0 && window < w {
		w = window
	}
	return secs(now.Add(-w))
}

// Expire drops every report and inside address older than the window before now.
func (t *Table) Expire(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(now)
}

func (t *Table) expire(now time.Time) {
	cut := t.cutoff(now, 0)
	for k, recs := range t.addrs {
		kept := recs[:0]
		for i := range recs { // in place: the slice is the map's
			if recs[i].expire(cut, t.width) {
				kept = append(kept, recs[i])
			}
		}
		switch {
		case len(kept) == 0:
			delete(t.addrs, k)
		case len(kept) < len(recs):
			t.addrs[k] = kept
		}
	}
	for k, s := range t.inside {
		if s < cut {
			delete(t.inside, k)
		}
	}
	for p, s := range t.insideP {
		if s < cut {
			delete(t.insideP, p)
			b := pbits{p.Addr().Is4(), p.Bits()}
			if t.pbits[b]--; t.pbits[b] == 0 {
				delete(t.pbits, b)
			}
		}
	}
}

// List returns, sorted by address, the addresses that at least minReporters distinct reporters reported
// within window before now and whose latest report is no older than decay (0: window alone decides),
// leaving out the excluded ones. It also drops every report older than window (sensor data is kept no
// longer than the window).
//
// The reports dropped are those older than the table's window (Window); a window of 0, or one longer
// than the table's, is the table's. Inside addresses are never listed.
func (t *Table) List(now time.Time, window time.Duration, minReporters int, decay time.Duration) []Entry {
	minReporters = max(minReporters, 1)
	t.mu.Lock()
	t.expire(now)
	cut := t.cutoff(now, window)
	var dcut uint32
	if decay > 0 {
		dcut = secs(now.Add(-decay))
	}
	var found []listed
	for k, recs := range t.addrs {
		if len(recs) < minReporters {
			continue
		}
		n, first, last := 0, uint32(math.MaxUint32), uint32(0)
		for i := range recs {
			if f, ok := recs[i].within(cut, t.width); ok {
				n++
				first, last = min(first, f), max(last, recs[i].last)
			}
		}
		if n < minReporters || last < dcut || t.isInside(k, k.addr()) {
			continue
		}
		found = append(found, listed{hi: binary.BigEndian.Uint64(k[:8]), lo: binary.BigEndian.Uint64(k[8:]), n: uint32(n), first: first, last: last})
	}
	excluded := t.excluded
	t.mu.Unlock()
	// Sorted as keys, which hold no pointer: IPv4-mapped keys (::ffff:a.b.c.d) come before the IPv6
	// ones, which are all in 2000::/3, so byte order is netip's order.
	slices.SortFunc(found, func(a, b listed) int {
		if c := cmp.Compare(a.hi, b.hi); c != 0 {
			return c
		}
		return cmp.Compare(a.lo, b.lo)
	})
	out := make([]Entry, 0, len(found))
	for _, f := range found {
		var k key
		binary.BigEndian.PutUint64(k[:8], f.hi)
		binary.BigEndian.PutUint64(k[8:], f.lo)
		a := k.addr()
		if excluded == nil || !excluded(a) {
			out = append(out, Entry{Addr: a, Reporters: int(f.n), First: timeOf(f.first), Last: timeOf(f.last)})
		}
	}
	return out
}

// listed is an address List lists, before it is an Entry.
type listed struct {
	hi, lo      uint64 // the key
	n           uint32
	first, last uint32
}

// Lookup returns what the table holds about a within window before now: the number of distinct
// reporters and the first and last report (zero when none).
//
// An address that List never lists whatever its reporters (not public, inside, excluded) gives zero,
// so an explanation never names reports that cannot list it.
func (t *Table) Lookup(a netip.Addr, now time.Time, window time.Duration) (reporters int, first, last time.Time) {
	a = a.Unmap()
	if !Public(a) {
		return 0, time.Time{}, time.Time{}
	}
	k := keyOf(a)
	t.mu.Lock()
	recs := t.addrs[k]
	if len(recs) == 0 || t.isInside(k, a) {
		t.mu.Unlock()
		return 0, time.Time{}, time.Time{}
	}
	cut := t.cutoff(now, window)
	f, l := uint32(math.MaxUint32), uint32(0)
	for i := range recs {
		if rf, ok := recs[i].within(cut, t.width); ok {
			reporters++
			f, l = min(f, rf), max(l, recs[i].last)
		}
	}
	excluded := t.excluded
	t.mu.Unlock()
	if reporters == 0 || excluded != nil && excluded(a) {
		return 0, time.Time{}, time.Time{}
	}
	return reporters, timeOf(f), timeOf(l)
}

// Contributions returns what reporter reported, sorted by address.
//
// It holds what the last Expire or List kept: reports up to a window before then.
func (t *Table) Contributions(reporter string) []Contribution {
	t.mu.Lock()
	id, ok := t.ids[reporter]
	var out []Contribution
	if ok {
		for k, recs := range t.addrs {
			for i := range recs {
				if r := &recs[i]; r.rep == id {
					out = append(out, Contribution{Addr: k.addr(), First: timeOf(r.first), Last: timeOf(r.last),
						Count: r.count(math.MinInt64, int64(r.last)/t.width)})
					break
				}
			}
		}
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b Contribution) int { return a.Addr.Compare(b.Addr) })
	return out
}

// Forget deletes everything reporter reported and returns how many addresses it had reported.
func (t *Table) Forget(reporter string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.ids[reporter]
	if !ok {
		return 0
	}
	delete(t.ids, reporter) // a later report is a new reporter, with a new number
	n := 0
	for k, recs := range t.addrs {
		before := len(recs)
		recs = slices.DeleteFunc(recs, func(r record) bool { return r.rep == id })
		if len(recs) == before {
			continue
		}
		n++
		if len(recs) == 0 {
			delete(t.addrs, k)
		} else {
			t.addrs[k] = recs
		}
	}
	return n
}

// Len returns how many addresses the table holds reports of.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.addrs)
}

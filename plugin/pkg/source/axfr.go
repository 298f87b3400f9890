package source

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/timeouts"
)

// AXFR subscribes to a zone of a primary (an upstream threatstop's RPZ zone, or any RPZ primary): the
// first Fetch transfers it whole; later ones ask for its SOA when the SOA's refresh timer (retry, after a
// failure) says so or a NOTIFY came, and bring it up to date by IXFR (RFC 1995), falling back to AXFR when
// the primary answers with the whole zone or the difference does not apply. The body handed to the parser
// is the zone as text ($ORIGIN, the SOA, one record a line), so the rpz format reads it like a zone file.
// A zone that has not been refreshed for the SOA's expire time keeps its last contents: Fetch reports
// it expired, and the feed goes on serving its last good version.
//
// Cost: the zone is kept as its sorted record lines (about the size of the zone file); an IXFR of k
// changes to a zone of n records costs O(n) to merge and the parse of the new body.
type AXFR struct {
	Zone    string // fully qualified, lowercase
	Server  string // host:port of the primary
	Key     string // TSIG key name, fully qualified; "" for none
	Secret  string // base64 secret of Key
	Algo    string // TSIG algorithm, fully qualified; hmac-sha256. when ""
	Timeout time.Duration
	// MaxRefresh, when set, bounds the SOA refresh: the zone is checked at least that often.
	MaxRefresh time.Duration

	notified atomic.Bool

	mu      sync.Mutex // Fetch is never concurrent; Status reads from another goroutine
	soa     *dns.SOA
	records []string  // the zone's records but the apex SOA, as lines, TTL 0, sorted, unique
	next    time.Time // when to ask for the SOA again
	lastOK  time.Time // when the zone was last known current
	expired bool
	last    string // how the zone was last brought up to date: AXFR or IXFR

	// The last change: whole (an AXFR, or an IXFR answered with the zone), or the lines it removed and
	// added, net of the steps between (a line added and removed again is in neither).
	whole    bool
	del, add []string
}

// Change is what the last Fetch that handed a body changed: the whole zone, or the record lines (as
// the body writes them) it removed and added. A reader that keeps what it read of the zone applies these
// instead of reading the whole body again.
func (a *AXFR) Change() (whole bool, del, add []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.whole, slices.Clip(a.del), slices.Clip(a.add)
}

// DefaultAXFRTimeout bounds one transfer's dial and each read.
const DefaultAXFRTimeout = timeouts.FeedTransfer

func (a *AXFR) String() string {
	s := "axfr " + strings.TrimSuffix(a.Zone, ".") + " from " + a.Server
	if a.Key != "" {
		s += " key " + a.Key
	}
	return s
}

// Notify marks the zone as changed at the primary: the next Fetch asks at once.
func (a *AXFR) Notify() { a.notified.Store(true) }

// Held is the serial of the zone held (0 before the first transfer), how it was last brought up to date,
// and the number of its records.
func (a *AXFR) Held() (serial uint32, how string, records int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.soa == nil {
		return 0, "", 0
	}
	return a.soa.Serial, a.last, len(a.records)
}

// Fetch implements Source.
func (a *AXFR) Fetch(ctx context.Context) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	notified := a.notified.Swap(false)
	if a.soa != nil && !notified && now.Before(a.next) {
		return nil, ErrNotModified
	}
	body, err := a.refresh(ctx)
	if err != nil {
		if a.soa == nil {
			a.next = now // never loaded: the feed's own schedule paces the retries
			return nil, err
		}
		a.next = now.Add(a.bound(time.Duration(a.soa.Retry) * time.Second))
		if expire := time.Duration(a.soa.Expire) * time.Second; now.Sub(a.lastOK) > expire {
			a.expired = true
			return nil, fmt.Errorf("zone expired (not refreshed for more than the SOA expire, %s), serving its last contents: %w", expire, err)
		}
		return nil, err
	}
	a.lastOK, a.expired = now, false
	a.next = now.Add(a.bound(time.Duration(a.soa.Refresh) * time.Second))
	if body == nil {
		return nil, ErrNotModified
	}
	return body, nil
}

func (a *AXFR) bound(d time.Duration) time.Duration {
	if a.MaxRefresh > 0 && (d <= 0 || d > a.MaxRefresh) {
		return a.MaxRefresh
	}
	return max(d, time.Second)
}

// refresh brings the zone up to date and returns its new body, or nil when it did not change.
func (a *AXFR) refresh(ctx context.Context) ([]byte, error) {
	if a.soa == nil {
		return a.full(ctx)
	}
	serial, err := a.primarySerial(ctx)
	if err != nil {
		return nil, err
	}
	if int32(serial-a.soa.Serial) <= 0 {
		return nil, nil
	}
	body, err := a.incremental(ctx)
	if errors.Is(err, errInconsistent) {
		return a.full(ctx)
	}
	return body, err
}

var errInconsistent = errors.New("the incremental transfer does not apply to the zone held")

// primarySerial asks the primary for the zone's SOA (UDP, TCP when truncated).
func (a *AXFR) primarySerial(ctx context.Context) (uint32, error) {
	m := new(dns.Msg)
	m.SetQuestion(a.Zone, dns.TypeSOA)
	c := &dns.Client{Timeout: a.timeout()}
	a.sign(m, c)
	r, _, err := c.ExchangeContext(ctx, m, a.Server)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, a.Server)
	}
	if err != nil {
		return 0, fmt.Errorf("SOA query: %w", err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return 0, fmt.Errorf("SOA query: %s", dns.RcodeToString[r.Rcode])
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok && strings.EqualFold(soa.Hdr.Name, a.Zone) {
			return soa.Serial, nil
		}
	}
	return 0, errors.New("SOA query: no SOA in the answer")
}

func (a *AXFR) timeout() time.Duration {
	if a.Timeout > 0 {
		return a.Timeout
	}
	return DefaultAXFRTimeout
}

func (a *AXFR) algo() string {
	if a.Algo != "" {
		return a.Algo
	}
	return dns.HmacSHA256
}

func (a *AXFR) sign(m *dns.Msg, c *dns.Client) {
	if a.Key == "" {
		return
	}
	m.SetTsig(a.Key, a.algo(), 300, time.Now().Unix())
	if c != nil {
		c.TsigSecret = map[string]string{a.Key: a.Secret}
	}
}

// transfer runs one AXFR or IXFR and returns every record, in order.
func (a *AXFR) transfer(ctx context.Context, m *dns.Msg) ([]dns.RR, error) {
	a.sign(m, nil)
	t := &dns.Transfer{DialTimeout: a.timeout(), ReadTimeout: a.timeout()}
	if a.Key != "" {
		t.TsigSecret = map[string]string{a.Key: a.Secret}
	}
	env, err := t.In(m, a.Server)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { t.Close() })
	defer stop()
	var rrs []dns.RR
	for e := range env {
		if e.Error != nil {
			for range env { // let the reader finish
			}
			return nil, e.Error
		}
		rrs = append(rrs, e.RR...)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return rrs, nil
}

// full transfers the whole zone.
func (a *AXFR) full(ctx context.Context) ([]byte, error) {
	m := new(dns.Msg)
	m.SetAxfr(a.Zone)
	rrs, err := a.transfer(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("AXFR: %w", err)
	}
	soa, records, err := a.wholeZone(rrs)
	if err != nil {
		return nil, fmt.Errorf("AXFR: %w", err)
	}
	a.soa, a.records, a.last = soa, records, "AXFR"
	a.whole, a.del, a.add = true, nil, nil
	return a.body(), nil
}

// wholeZone checks an AXFR-style answer (SOA, records, the same SOA) and returns its records.
func (a *AXFR) wholeZone(rrs []dns.RR) (*dns.SOA, []string, error) {
	if len(rrs) < 2 {
		return nil, nil, errors.New("truncated: no closing SOA")
	}
	first, ok1 := rrs[0].(*dns.SOA)
	last, ok2 := rrs[len(rrs)-1].(*dns.SOA)
	if !ok1 || !ok2 || first.Serial != last.Serial || !strings.EqualFold(first.Hdr.Name, a.Zone) {
		return nil, nil, errors.New("truncated or inconsistent: the zone does not start and end with its SOA")
	}
	records := make([]string, 0, len(rrs)-2)
	for _, rr := range rrs[1 : len(rrs)-1] {
		if _, ok := rr.(*dns.SOA); ok {
			return nil, nil, errors.New("inconsistent: a second SOA inside the zone")
		}
		if !dns.IsSubDomain(a.Zone, strings.ToLower(rr.Header().Name)) {
			return nil, nil, fmt.Errorf("inconsistent: %s is outside the zone", rr.Header().Name)
		}
		l := line(rr)
		if strings.ContainsRune(l, '\n') {
			return nil, nil, notZoneData(rr)
		}
		records = append(records, l)
	}
	slices.Sort(records)
	return first, slices.Compact(records), nil
}

// incremental asks for the difference from the serial held and applies it.
func (a *AXFR) incremental(ctx context.Context) ([]byte, error) {
	m := new(dns.Msg)
	m.SetIxfr(a.Zone, a.soa.Serial, a.soa.Ns, a.soa.Mbox)
	rrs, err := a.transfer(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("IXFR: %w", err)
	}
	if len(rrs) == 0 {
		return nil, errors.New("IXFR: empty answer")
	}
	newSOA, ok := rrs[0].(*dns.SOA)
	if !ok {
		return nil, errors.New("IXFR: the answer does not start with the SOA")
	}
	if len(rrs) == 1 {
		return nil, nil // up to date
	}
	if _, ok := rrs[1].(*dns.SOA); !ok {
		// The whole zone (RFC 1995 §4 allows it).
		soa, records, err := a.wholeZone(rrs)
		if err != nil {
			return nil, fmt.Errorf("IXFR: %w", err)
		}
		a.soa, a.records, a.last = soa, records, "IXFR (the whole zone)"
		a.whole, a.del, a.add = true, nil, nil
		return a.body(), nil
	}
	records, del, add, err := a.apply(rrs, newSOA)
	if err != nil {
		return nil, err
	}
	a.soa, a.records, a.last = newSOA, records, fmt.Sprintf("IXFR (%d records of differences)", len(rrs)-2)
	a.whole, a.del, a.add = false, del, add
	return a.body(), nil
}

// apply applies the difference sequences of an incremental answer (new SOA, then for each step the old
// SOA, the records gone, the step's new SOA, the records added, and the new SOA again) to the records
// held, and returns the records with the lines removed and added, net of the steps. Anything that does
// not fit (a step from another serial, a deletion of a record not held, no closing SOA) is
// errInconsistent.
func (a *AXFR) apply(rrs []dns.RR, newSOA *dns.SOA) (records, removed, added []string, err error) {
	last, ok := rrs[len(rrs)-1].(*dns.SOA)
	if !ok || last.Serial != newSOA.Serial || len(rrs) < 3 {
		return nil, nil, nil, fmt.Errorf("%w: no closing SOA", errInconsistent)
	}
	cur := a.records
	serial := a.soa.Serial
	var del, add []string
	gone, came := map[string]bool{}, map[string]bool{} // the net change so far
	flush := func() error {
		slices.Sort(del)
		slices.Sort(add)
		del, add = slices.Compact(del), slices.Compact(add)
		next, err := mergeDiff(cur, del, add)
		if err != nil {
			return err
		}
		in := func(s []string, l string) bool { _, ok := slices.BinarySearch(s, l); return ok }
		for _, l := range slices.Concat(del, add) {
			switch was, is := in(cur, l), in(next, l); {
			case was && !is && came[l]:
				delete(came, l)
			case was && !is:
				gone[l] = true
			case !was && is && gone[l]:
				delete(gone, l)
			case !was && is:
				came[l] = true
			}
		}
		cur, del, add = next, del[:0], add[:0]
		return err
	}
	const (
		start    = iota // before a step's old SOA
		deleting        // after it
		adding          // after the step's new SOA
	)
	phase := start
	for _, rr := range rrs[1 : len(rrs)-1] {
		soa, isSOA := rr.(*dns.SOA)
		switch {
		case isSOA && phase == adding:
			if err := flush(); err != nil {
				return nil, nil, nil, err
			}
			fallthrough
		case isSOA && phase == start:
			if soa.Serial != serial {
				return nil, nil, nil, fmt.Errorf("%w: a step from serial %d, the zone is at %d", errInconsistent, soa.Serial, serial)
			}
			phase = deleting
		case isSOA:
			serial, phase = soa.Serial, adding
		case phase == deleting:
			del = append(del, line(rr))
		case phase == adding:
			l := line(rr)
			if strings.ContainsRune(l, '\n') {
				return nil, nil, nil, fmt.Errorf("%w: %w", errInconsistent, notZoneData(rr))
			}
			add = append(add, l)
		default:
			return nil, nil, nil, fmt.Errorf("%w: a record outside any step", errInconsistent)
		}
	}
	if phase != adding || serial != newSOA.Serial {
		return nil, nil, nil, fmt.Errorf("%w: the steps end at serial %d, not at the new serial %d", errInconsistent, serial, newSOA.Serial)
	}
	if err := flush(); err != nil {
		return nil, nil, nil, err
	}
	return cur, slices.Sorted(maps.Keys(gone)), slices.Sorted(maps.Keys(came)), nil
}

// mergeDiff returns cur without del and with add (all sorted, unique); every record of del must be in cur.
func mergeDiff(cur, del, add []string) ([]string, error) {
	// A primary may delete more records than the zone holds: that is an error below, not a negative size.
	out := make([]string, 0, max(len(cur)-len(del), 0)+len(add))
	i, j := 0, 0
	for _, r := range cur {
		for j < len(del) && del[j] < r {
			return nil, fmt.Errorf("%w: it deletes %q, which the zone does not hold", errInconsistent, del[j])
		}
		if j < len(del) && del[j] == r {
			j++
			continue
		}
		for i < len(add) && add[i] < r {
			out = append(out, add[i])
			i++
		}
		if i < len(add) && add[i] == r {
			i++
		}
		out = append(out, r)
	}
	if j < len(del) {
		return nil, fmt.Errorf("%w: it deletes %q, which the zone does not hold", errInconsistent, del[j])
	}
	return append(out, add[i:]...), nil
}

// notZoneData is the error for a record whose text spans lines (an OPT record, which miekg/dns writes as
// a pseudo-section): in the body it would not read as one record.
func notZoneData(rr dns.RR) error {
	return fmt.Errorf("inconsistent: a %s record is not zone data", dns.TypeToString[rr.Header().Rrtype])
}

// line is a record as a zone-file line, owner lowercase and TTL 0, so that a deletion in an IXFR matches
// the record as it was transferred whatever its TTL.
func line(rr dns.RR) string {
	rr = dns.Copy(rr)
	h := rr.Header()
	h.Name, h.Ttl = strings.ToLower(h.Name), 0
	return rr.String()
}

// Body is the zone held, as Fetch last handed it (nil before the first transfer): what a configuration
// that takes over a source of the one before it starts from.
func (a *AXFR) Body() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.soa == nil {
		return nil
	}
	return a.body()
}

func (a *AXFR) body() []byte {
	n := len(a.Zone) + 64
	for _, r := range a.records {
		n += len(r) + 1
	}
	b := make([]byte, 0, n+len(a.soa.String()))
	b = append(b, "$ORIGIN "+a.Zone+"\n"+line(a.soa)+"\n"...)
	for _, r := range a.records {
		b = append(b, r...)
		b = append(b, '\n')
	}
	return b
}

// Host is the address NOTIFY messages for the zone must come from: the primary's.
func (a *AXFR) Host() net.IP {
	host, _, err := net.SplitHostPort(a.Server)
	if err != nil {
		return nil
	}
	return net.ParseIP(host)
}

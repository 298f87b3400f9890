package threatlog

import (
	"bufio"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/logparse"
	"github.com/threatstop/threatstop/plugin/pkg/logstore"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// maxLine is the longest line read; a longer one is unknown.
const maxLine = 16 << 10

// ingestStats counts the lines of one upload.
type ingestStats struct {
	Lines   int                     `json:"lines"`
	Unknown int                     `json:"unknown"`
	Events  int                     `json:"events"`
	Listed  int                     `json:"listed"`
	Formats map[logparse.Format]int `json:"formats"`
}

// matcher matches events against one policy at one snapshot.
type matcher struct {
	p    *policy.Policy
	snap *snapshot.Snapshot
	t    *Threatlog
}

// ingest parses r and matches each event, one line at a time: it calls add with each matched record
// (valid during the call only) and returns the counts. Nothing is kept per line: the caller keeps
// what it stores, in its stored form.
func (m *matcher) ingest(r io.Reader, device string, now time.Time, add func(*logstore.Record) error) (ingestStats, error) {
	return m.ingestSides(r, device, now, func(rec *logstore.Record, _ sides) error { return add(rec) })
}

// sides are an event's two sides as addresses, before the inside one is truncated for storing: what
// the sensor table is told (sensors.go).
type sides struct {
	remote netip.Addr // the remote side when it is an address (not a name); else invalid
	inside netip.Addr // the inside host; invalid when the line names none
}

// ingestSides is ingest that also gives add each event's sides.
func (m *matcher) ingestSides(r io.Reader, device string, now time.Time, add func(*logstore.Record, sides) error) (ingestStats, error) {
	st := ingestStats{Formats: map[logparse.Format]int{}}
	p := &logparse.Parser{SyncPrefix: m.t.syncPrefix, Now: now}
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, isPrefix, err := br.ReadLine()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, err
		}
		if isPrefix { // too long: skip the rest of it
			for isPrefix && err == nil {
				_, isPrefix, err = br.ReadLine()
			}
			st.Lines++
			st.Unknown++
			continue
		}
		if len(line) == 0 {
			continue
		}
		st.Lines++
		ev, ok := p.Line(string(line))
		if !ok {
			st.Unknown++
			continue
		}
		st.Formats[ev.Format]++
		rec, sd := m.record(&ev, device)
		st.Events++
		if rec.Listed() {
			st.Listed++
		}
		if err := add(&rec, sd); err != nil {
			return st, err
		}
	}
	return st, nil
}

func (m *matcher) listed(a netip.Addr) bool { return m.p.MatchAddr(m.snap, a).Listed }

// record matches one event.
func (m *matcher) record(ev *logparse.Event, device string) (logstore.Record, sides) {
	remote, inside := logparse.Orient(ev, m.listed)
	sd := sides{inside: inside}
	r := logstore.Record{
		Time: ev.Time, Device: device, Format: string(ev.Format), Dir: ev.Dir.String(), Action: ev.Action,
		Proto: ev.Proto, QName: ev.QName,
	}
	if inside.IsValid() {
		r.Inside = m.t.insideString(inside)
	}
	var v policy.Verdict
	if ev.Name != "" {
		r.Remote = ev.Name
		v = m.p.MatchName(m.snap, ev.Name)
	} else {
		r.Remote = remote.String()
		sd.remote = remote
		v = m.p.MatchAddr(m.snap, remote)
		if ev.Dir == logparse.Inbound {
			r.RemotePort = ev.SPort
		} else {
			r.RemotePort = ev.DPort
		}
	}
	r.Allowed = v.Allowed
	if v.Custom {
		r.Lists = append(r.Lists, policy.CustomList)
		r.Categories = append(r.Categories, policy.CustomList)
	}
	m.p.EachList(m.snap, v, func(id int) {
		l := m.snap.Lists[id]
		r.Lists = append(r.Lists, l.Name)
		if !slices.Contains(r.Categories, l.Category) {
			r.Categories = append(r.Categories, l.Category)
		}
	})
	return r, sd
}

// insideString is the inside address, truncated to the configured prefix (then in CIDR form).
func (t *Threatlog) insideString(a netip.Addr) string {
	bits := t.v6Bits
	if a.Is4() {
		bits = t.v4Bits
	}
	if bits >= a.BitLen() {
		return a.String()
	}
	p, _ := a.Prefix(bits)
	return p.String()
}

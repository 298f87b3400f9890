package threatlog

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gaissmai/bart"

	"github.com/threatstop/threatstop/plugin/pkg/logstore"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/sensor"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// Customers' firewalls as sensors: the uploads of a customer that opted in (share) tell the process's
// sensor table which public addresses its devices blocked inbound, under an opaque reporter ID; every
// upload, shared or not, tells it the customer's own inside hosts, which are never listed. The table
// also learns, from every State, what no customer may see listed: client networks and allowed addresses.

// sensors is the table threatlog reports to: the process's, or a test's (sensor.UseShared).
func sensors() *sensor.Table { return sensor.Shared() }

// shareOf is a share directive's choice: all the policy's devices, or the ones named.
type shareOf struct {
	line    int // of the first share line of the policy, for errors at start-up
	all     bool
	devices map[string]bool
}

// ReporterID is the sensor table's name for the customer that policy is in the threatstop block whose
// key is blockKey (state.Block.Key): the hex SHA-256 of both, stable across restarts, and not the
// policy's name.
func ReporterID(blockKey, policy string) string {
	h := sha256.Sum256([]byte("threatlog sensor\x00" + blockKey + "\x00" + policy))
	return hex.EncodeToString(h[:])
}

// reporter is the reporter ID of policy's uploads from device, "" when they are not shared.
func (t *Threatlog) reporter(policy, device string) string {
	sh := t.share[policy]
	if sh == nil || !sh.all && !sh.devices[device] {
		return ""
	}
	return ReporterID(t.blockKey, policy)
}

// reportable reports whether an event is a sensor report: inbound from an address, blocked by the
// device (an inbound packet it let through, such as a DNS answer, is no attack), and timed within the
// window before now and no later than skew after it.
func reportable(dir, action string, remote netip.Addr, at, now time.Time, window, skew time.Duration) bool {
	return dir == "in" && remote.IsValid() && !passing[action] && !at.After(now.Add(skew)) && !at.Before(now.Add(-window))
}

// sensed is what one upload tells the sensor table once it is stored.
type sensed struct {
	reporter string // "" when the upload is not shared
	now      time.Time
	window   time.Duration
	skew     time.Duration
	reports  []sensedReport
	inside   map[netip.Prefix]time.Time // public inside hosts (truncated as stored), with their latest event
	v4, v6   int                        // truncate's lengths
}

type sensedReport struct {
	remote netip.Addr
	at     time.Time
}

func (t *Threatlog) newSensed(policy, device string, now time.Time) *sensed {
	return &sensed{reporter: t.reporter(policy, device), now: now, window: sensors().Window(), skew: t.skew, v4: t.v4Bits, v6: t.v6Bits}
}

// noteInside notes an event's inside host, for every event of every customer: as its truncated
// prefix when inside hosts are stored truncated, which is what a restart reads back.
func (s *sensed) noteInside(a netip.Addr, at time.Time) {
	if !a.IsValid() {
		return
	}
	a = a.Unmap()
	bits := s.v6
	if a.Is4() {
		bits = s.v4
	}
	p := netip.PrefixFrom(a, min(bits, a.BitLen())).Masked()
	if p.IsSingleIP() && !sensor.Public(a) || !sensor.PublicPrefix(p) {
		return
	}
	if at.After(s.now.Add(s.skew)) {
		at = s.now
	}
	if s.inside == nil {
		s.inside = map[netip.Prefix]time.Time{}
	}
	if prev, ok := s.inside[p]; !ok || at.After(prev) {
		s.inside[p] = at
	}
}

// noteStored notes an event that the upload stores: a report, if it is one and the upload is shared.
func (s *sensed) noteStored(rec *logstore.Record, sd sides) {
	if s.reporter != "" && reportable(rec.Dir, rec.Action, sd.remote, rec.Time, s.now, s.window, s.skew) && sensor.Public(sd.remote) {
		s.reports = append(s.reports, sensedReport{sd.remote, rec.Time})
	}
}

// commit tells the table, once the upload's transaction committed (or the upload was stored before:
// then only its inside hosts).
func (s *sensed) commit(stored bool) {
	tbl := sensors()
	for p, at := range s.inside {
		tbl.InsidePrefix(p, at)
	}
	if !stored {
		return
	}
	for _, r := range s.reports {
		tbl.Report(r.remote, s.reporter, r.at)
	}
	sensorReports.Add(float64(len(s.reports)))
}

// rebuilt is what this process's sensor tables were given from each database, by instance of a block:
// a restart starts empty and reads the window back from the database; a reload reads only what it
// newly shares, and forgets what it no longer shares.
var rebuilt = struct {
	sync.Mutex
	m map[rebuiltKey]*rebuiltOf
}{m: map[rebuiltKey]*rebuiltOf{}}

type rebuiltKey struct {
	tbl       *sensor.Table
	db, block string
}

type rebuiltOf struct {
	reporters map[string]bool // the reporter IDs given their stored reports
	inside    map[string]bool // the policies whose stored inside hosts were given
}

// rebuildSensors gives the sensor table, at start-up, what the database holds within the window: the
// reports of sharing customers and every customer's inside hosts. A customer that stopped sharing (a
// reload) is forgotten.
func (t *Threatlog) rebuildSensors(block *state.Block) {
	tbl := sensors()
	rebuilt.Lock()
	defer rebuilt.Unlock()
	k := rebuiltKey{tbl, t.db, block.Key}
	done := rebuilt.m[k]
	if done == nil {
		done = &rebuiltOf{reporters: map[string]bool{}, inside: map[string]bool{}}
		rebuilt.m[k] = done
	}
	sharing := map[string]bool{}
	for name := range t.share {
		sharing[ReporterID(block.Key, name)] = true
	}
	for id := range done.reporters {
		if !sharing[id] {
			tbl.Forget(id)
			delete(done.reporters, id)
		}
	}
	now := clock()
	window := tbl.Window()
	start := time.Now()
	reports, events := 0, 0
	for _, p := range block.Policies {
		sh := t.share[p.Name]
		id := ReporterID(block.Key, p.Name)
		doReports, doInside := sh != nil && !done.reporters[id], !done.inside[p.Name]
		if !doReports && !doInside {
			continue
		}
		err := t.store.Each(p.Name, now.Add(-window), now.Add(t.skew).Add(time.Nanosecond), func(r *logstore.Record) error {
			events++
			if doInside && r.Inside != "" {
				if strings.IndexByte(r.Inside, '/') >= 0 {
					if pfx, err := netip.ParsePrefix(r.Inside); err == nil {
						tbl.InsidePrefix(pfx, r.Time)
					}
				} else if a, err := netip.ParseAddr(r.Inside); err == nil {
					tbl.Inside(a, r.Time)
				}
			}
			if doReports && (sh.all || sh.devices[r.Device]) {
				if a, err := netip.ParseAddr(r.Remote); err == nil && reportable(r.Dir, r.Action, a, r.Time, now, window, t.skew) {
					tbl.Report(a, id, r.Time)
					reports++
				}
			}
			return nil
		})
		if err != nil {
			log.Errorf("sensor reports of %s: %v", p.Name, err)
			continue
		}
		if doReports {
			done.reporters[id] = true
		}
		done.inside[p.Name] = true
	}
	if events > 0 {
		log.Infof("sensors: %d reports and the inside hosts of %d events of the last %s read back in %s", reports, events, window, time.Since(start).Round(time.Millisecond))
	}
}

// forgetRebuilt drops what rebuildSensors recorded for tbl (tests: a fresh table is a restart).
func forgetRebuilt(tbl *sensor.Table) {
	rebuilt.Lock()
	defer rebuilt.Unlock()
	for k := range rebuilt.m {
		if k.tbl == tbl {
			delete(rebuilt.m, k)
		}
	}
}

// exclusion is what State st says must never be listed: the client and transfer-client networks of
// every policy, and what any policy allows (its allow lists and own allow entries). It is built at its
// first use, so a State that the sensors feed never lists against costs nothing.
type exclusion struct {
	st      *state.State
	once    sync.Once
	clients *bart.Lite       // every policy's clients and transfer_clients, merged
	allow   snapshot.Bits    // every policy's allow lists
	own     []*policy.Policy // the policies with own allow entries
}

func newExclusion(st *state.State) *exclusion { return &exclusion{st: st} }

func (x *exclusion) build() {
	x.clients = new(bart.Lite)
	x.allow = snapshot.NewBits(max(len(x.st.Catalog), len(x.st.Snap.Lists)))
	for _, p := range x.st.Policies {
		if p.Clients != nil {
			x.clients.Union(p.Clients)
		}
		if p.TransferClients != nil {
			x.clients.Union(p.TransferClients)
		}
		x.allow.Or(p.Allow)
		if len(p.Config.Allowed) > 0 {
			x.own = append(x.own, p.Policy)
		}
	}
}

// excluded is the sensor table's predicate.
func (x *exclusion) excluded(a netip.Addr) bool {
	x.once.Do(x.build)
	a = a.Unmap()
	if x.clients.Contains(a) {
		return true
	}
	if !x.allow.Empty() && x.st.Snap.Set(x.st.Snap.LookupAddr(a)).Intersects(x.allow) {
		return true
	}
	for _, p := range x.own {
		if p.MatchAddr(x.st.Snap, a).Allowed {
			return true
		}
	}
	return false
}

package threatstop

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// The configuration zone config.<zone> holds the definition of every policy of the block as the State
// serves it (the Corefile's, with the edits and policies made through threatadmin's API), so that edge
// servers take them by IXFR and NOTIFY (follow) as they take the lists: a change made on the aggregator
// travels as the few records it changed. It names every customer and their own entries, so transferring
// it needs a catalog key, as the catalog does.
//
// Its records, owners relative to the apex; one TXT record is one directive, one string one word:
//
//	version                TXT "1"
//	POLICY.policies        TXT "lists" LIST...        (always, with no list too: it says the policy exists)
//	                       TXT "allow_lists" LIST...
//	                       TXT "answer" CATEGORY ADDRESS
//	                       TXT "action" CATEGORY KIND [ADDRESS...]
//	                       TXT "min_score" [CATEGORY] SCORE
//	                       TXT "max_entries" N
//	block.POLICY.policies  TXT ENTRY                  (one record per own block entry)
//	allow.POLICY.policies  TXT ENTRY
//
// Lists go by name, so an edge whose feeds are named as the aggregator's lists serves the same policies.
const (
	configLabel   = "config"
	configVersion = "1"
)

// configSteps and configStepRecords bound the differences kept for IXFR; an edge further behind gets the
// whole zone, which is small (a few records per policy).
const (
	configSteps       = 256
	configStepRecords = 100_000
)

// confRec is one TXT record of the configuration zone: its owner relative to the apex, and its strings.
type confRec struct {
	owner string
	txt   []string
}

// key is the record as one comparable string.
func (r confRec) key() string { return r.owner + "\x00" + strings.Join(r.txt, "\x00") }

// configRecords is the definition of one policy as records of the configuration zone, sorted; list IDs
// are names of cat.
func configRecords(cfg *policy.Config, cat policy.Catalog) []confRec {
	owner := cfg.Name + ".policies"
	names := func(ids []int) []string {
		out := make([]string, 0, len(ids))
		for _, id := range ids {
			if id >= 0 && id < len(cat) {
				out = append(out, cat[id].Name)
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	recs := []confRec{{owner, append([]string{"lists"}, names(cfg.Block)...)}}
	if len(cfg.Allow) > 0 {
		recs = append(recs, confRec{owner, append([]string{"allow_lists"}, names(cfg.Allow)...)})
	}
	for _, c := range slices.Sorted(maps.Keys(cfg.Answers)) {
		recs = append(recs, confRec{owner, []string{"answer", c, cfg.Answers[c]}})
	}
	for _, c := range slices.Sorted(maps.Keys(cfg.Actions)) {
		recs = append(recs, confRec{owner, append([]string{"action", c}, strings.Fields(cfg.Actions[c].String())...)})
	}
	if cfg.MinScore > 0 {
		recs = append(recs, confRec{owner, []string{"min_score", strconv.Itoa(cfg.MinScore)}})
	}
	for _, c := range slices.Sorted(maps.Keys(cfg.MinScores)) {
		recs = append(recs, confRec{owner, []string{"min_score", c, strconv.Itoa(cfg.MinScores[c])}})
	}
	if cfg.MaxEntries > 0 {
		recs = append(recs, confRec{owner, []string{"max_entries", strconv.Itoa(cfg.MaxEntries)}})
	}
	for _, e := range uniqueSorted(cfg.Blocked) {
		recs = append(recs, confRec{"block." + owner, []string{e}})
	}
	for _, e := range uniqueSorted(cfg.Allowed) {
		recs = append(recs, confRec{"allow." + owner, []string{e}})
	}
	return recs
}

// uniqueSorted is s sorted without repeats, in a copy (a Config's slices are never changed in place).
func uniqueSorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// configZone is the block's configuration zone: its serial, the definitions at that serial, and the
// differences that led there. It changes only when a definition does, not when a list refreshes.
type configZone struct {
	mu     sync.Mutex
	serial uint32
	block  *state.Block   // the definitions at serial; nil before the first State
	cat    policy.Catalog // the lists block's policies name by ID
	steps  []configStep   // oldest first
	size   int            // records in steps
}

// configStep is the difference from one serial to the next.
type configStep struct {
	from, to uint32
	del, add []confRec
}

// configZones hands a block's configuration zone over across reloads, by block key, so that an edge
// that follows it transfers nothing when a reload changed no definition.
var configZones = struct {
	sync.Mutex
	m map[string]*configZone
}{m: map[string]*configZone{}}

// takeOverConfig returns the configuration zone for the block called key: a copy of the one the
// previous configuration served, or a new one.
func takeOverConfig(key string) *configZone {
	configZones.Lock()
	defer configZones.Unlock()
	c := &configZone{}
	if prev := configZones.m[key]; prev != nil {
		prev.mu.Lock()
		c.serial, c.block, c.cat, c.steps, c.size = prev.serial, prev.block, prev.cat, slices.Clone(prev.steps), prev.size
		prev.mu.Unlock()
	}
	configZones.m[key] = c
	return c
}

func releaseConfig(key string, c *configZone) {
	configZones.Lock()
	defer configZones.Unlock()
	if configZones.m[key] == c {
		delete(configZones.m, key)
	}
}

// update takes the definitions of block b in next and reports whether the zone changed: only the
// policies that are not the very ones of the zone's last State are rendered and compared.
func (c *configZone) update(next *state.State, b int, now uint32) bool {
	nb := next.Blocks[b]
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.block == nil {
		c.serial, c.block, c.cat = now, nb, next.Catalog
		return false
	}
	if nb == c.block {
		return false
	}
	var del, add []confRec
	samePlaces := len(nb.Policies) == len(c.block.Policies) // and each name where it was, so far
	for i, p := range nb.Policies {
		// An edit leaves the others where they were: the same one at the same place is unchanged, with
		// no lookup (with 10,000 policies this runs at every edit).
		if i < len(c.block.Policies) && c.block.Policies[i].Policy == p.Policy {
			continue
		}
		samePlaces = samePlaces && c.block.Policies[i].Name == p.Name
		op := c.block.Policy(p.Name)
		if op != nil && op.Policy == p.Policy { // the same definition (a State's policies never change)
			continue
		}
		var before []confRec
		if op != nil {
			before = configRecords(&op.Config, c.cat)
		}
		d, a := diffRecords(before, configRecords(&p.Config, next.Catalog))
		del, add = append(del, d...), append(add, a...)
	}
	for _, op := range c.block.Policies {
		if samePlaces {
			break // the same names as before: none removed
		}
		if nb.Policy(op.Name) == nil {
			del = append(del, configRecords(&op.Config, c.cat)...)
		}
	}
	c.block, c.cat = nb, next.Catalog
	if len(del) == 0 && len(add) == 0 {
		return false
	}
	step := configStep{from: c.serial, to: state.NextSerial(c.serial, now), del: del, add: add}
	c.serial = step.to
	c.steps = append(c.steps, step)
	c.size += len(del) + len(add)
	for len(c.steps) > configSteps || c.size > configStepRecords && len(c.steps) > 1 {
		c.size -= len(c.steps[0].del) + len(c.steps[0].add)
		c.steps = slices.Delete(c.steps, 0, 1)
	}
	if c.size > configStepRecords { // one step too large to keep: the whole zone is as small
		c.steps, c.size = nil, 0
	}
	return true
}

// diffRecords returns the records of a that b lacks and those of b that a lacks.
func diffRecords(a, b []confRec) (del, add []confRec) {
	in := func(rs []confRec) map[string]bool {
		m := make(map[string]bool, len(rs))
		for _, r := range rs {
			m[r.key()] = true
		}
		return m
	}
	ina, inb := in(a), in(b)
	for _, r := range a {
		if !inb[r.key()] {
			del = append(del, r)
		}
	}
	for _, r := range b {
		if !ina[r.key()] {
			add = append(add, r)
		}
	}
	return del, add
}

// since returns the zone's serial and, for a client at serial, the steps from there (upToDate when it
// has the current serial or a later one); with neither, the client needs the whole zone, which block
// and cat define.
func (c *configZone) since(serial uint32) (current uint32, steps []configStep, upToDate bool, block *state.Block, cat policy.Catalog) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if serial != 0 && int32(serial-c.serial) >= 0 {
		return c.serial, nil, true, c.block, c.cat
	}
	if serial != 0 {
		for i, s := range c.steps {
			if s.from == serial {
				return c.serial, slices.Clip(c.steps[i:]), false, c.block, c.cat
			}
		}
	}
	return c.serial, nil, false, c.block, c.cat
}

func (c *configZone) current() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.serial
}

// serveConfig answers at config.<zone>: the SOA and NS at its apex, transfers for catalog keys.
func (t *Threatstop) serveConfig(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, z *zone, name string, qtype uint16) (int, error) {
	switch qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		if !t.catalogKey(ctx) {
			configRefused.Inc()
			return t.refuse(w, r)
		}
		return t.next(ctx, compressed{w}, r)
	}
	return t.apex(w, r, name, z, t.config.current(), qtype)
}

// transferConfig transfers the configuration zone: from a recent serial, its differences (RFC 1995 §4:
// one sequence per step); else whole.
func (t *Threatstop) transferConfig(z *zone, serial uint32) <-chan []dns.RR {
	apex := configLabel + "." + z.name
	current, steps, upToDate, block, cat := t.config.since(serial)
	soa := t.soa(apex, z, current, false)
	ch := make(chan []dns.RR, 4)
	rr := func(r confRec) dns.RR {
		return &dns.TXT{Hdr: t.hdr(r.owner+"."+apex, dns.TypeTXT, t.ttl), Txt: r.txt}
	}
	rrs := func(recs []confRec) []dns.RR {
		out := make([]dns.RR, len(recs))
		for i, r := range recs {
			out[i] = rr(r)
		}
		return out
	}
	go func() {
		defer close(ch)
		switch {
		case upToDate:
			ch <- []dns.RR{soa}
		case steps != nil:
			ch <- []dns.RR{soa}
			for _, s := range steps {
				ch <- []dns.RR{t.soa(apex, z, s.from, false)}
				sendBatches(ch, rrs(s.del))
				ch <- []dns.RR{t.soa(apex, z, s.to, false)}
				sendBatches(ch, rrs(s.add))
			}
			ch <- []dns.RR{soa}
		default:
			head := []dns.RR{soa}
			for _, ns := range z.ns {
				head = append(head, &dns.NS{Hdr: t.hdr(apex, dns.TypeNS, t.ttl), Ns: ns})
			}
			ch <- append(head, rr(confRec{"version", []string{configVersion}}))
			if block != nil {
				var batch []dns.RR
				for _, p := range block.Policies {
					batch = append(batch, rrs(configRecords(&p.Config, cat))...)
					if len(batch) >= 1000 {
						ch <- batch
						batch = nil
					}
				}
				if len(batch) > 0 {
					ch <- batch
				}
			}
			ch <- []dns.RR{soa}
		}
	}()
	return ch
}

package threatstop

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/peer"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/pkg/source"
	"github.com/threatstop/threatstop/plugin/pkg/state"
	"github.com/threatstop/threatstop/plugin/threatfeed"
)

// An edge follows the aggregator's configuration zone (follow): it transfers it by AXFR, then by IXFR
// when a NOTIFY comes or the SOA's refresh says so, and serves each policy it defines as defined there,
// over the edge's own lists of the same names. A policy the zone defines and the edge's Corefile does
// not is added, served like the block's first policy (its clients and transfer clients); a Corefile
// policy takes the zone's definition while the zone holds it, and its Corefile one again when the zone
// drops it. A zone that does not read, or defines no policy at all, changes nothing: the edge goes on
// serving what it served.
type follower struct {
	src    *source.AXFR
	except []string // policy name patterns (path.Match) the edge does not take
	like   string   // the policy new ones are served like: the block's first unless named
	line   int

	t      *Threatstop // the block it applies to
	prev   *follower   // the follower of the configuration before, stopped by start
	kick   chan struct{}
	loaded atomic.Bool // the zone was applied once
	cancel context.CancelFunc
	done   sync.WaitGroup
	// The run goroutine's alone:
	added  map[string]bool // policies the zone added to the block
	held   *heldZone       // the zone as last applied
	resync bool            // the last version did not apply: read the next one whole
}

// parseFollow parses "follow ZONE from ADDRESS[:PORT] [key NAME [ALGORITHM]] [{ except PATTERN...; like POLICY }]".
func parseFollow(c *caddy.Controller) (*follower, error) {
	f := &follower{line: c.Line(), kick: make(chan struct{}, 1)}
	a, err := threatfeed.ParseAXFR(c, "follow")
	if err != nil {
		return nil, err
	}
	f.src = a
	for c.NextBlock() {
		switch c.Val() {
		case "except":
			args := c.RemainingArgs()
			if len(args) == 0 {
				return nil, c.ArgErr()
			}
			for _, p := range args {
				if _, err := path.Match(p, ""); err != nil {
					return nil, c.Errf("follow: except: bad pattern %q", p)
				}
			}
			f.except = append(f.except, args...)
		case "like":
			args := c.RemainingArgs()
			if len(args) != 1 {
				return nil, c.ArgErr()
			}
			f.like = args[0]
		default:
			return nil, c.Errf("follow: unknown property %q", c.Val())
		}
	}
	return f, nil
}

// excluded reports whether the edge leaves policy name to the aggregator alone.
func (f *follower) excluded(name string) bool {
	for _, p := range f.except {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// followed hands the source of a followed zone over across reloads, by block key: the new configuration
// starts serving the definitions the last one held, with no transfer, and asks the primary when due.
var followed = struct {
	sync.Mutex
	m map[string]*follower
}{m: map[string]*follower{}}

// start runs the follower until stop. It runs in OnStartup: the zone the configuration before held, when
// it followed the same zone from the same primary with the same key, is applied before the server answers.
// The follower before stops here (the source is not for two), and starts again if this configuration
// fails to start (restartPrev).
func (f *follower) start(t *Threatstop) {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.added, f.t = cancel, map[string]bool{}, t
	followed.Lock()
	if prev := followed.m[t.block.Key]; prev != nil && prev != f && prev.src.String() == f.src.String() && prev.src.Secret == f.src.Secret && prev.src.Algo == f.src.Algo {
		prev.stop()
		f.src, f.prev = prev.src, prev
	}
	followed.m[t.block.Key] = f
	followed.Unlock()
	if body := f.src.Body(); body != nil {
		serial, _, _ := f.src.Held()
		if err := f.apply(body, serial); err != nil {
			log.Errorf("follow %s: serial %d, held before the reload: %v", f.src.Zone, serial, err)
		}
	}
	f.done.Add(1)
	go func() {
		defer f.done.Done()
		f.run(ctx)
	}()
}

func (f *follower) stop() {
	if f.cancel != nil {
		f.cancel()
		f.done.Wait()
	}
}

// restartPrev starts the follower of the configuration before again: this one failed to start, and the
// one before goes on serving.
func (f *follower) restartPrev() {
	f.stop()
	if p := f.prev; p != nil {
		f.prev = nil
		p.start(p.t)
	}
}

// followPoll is how often the follower asks its source whether the zone is due (the source answers from
// memory until the SOA's refresh, or a NOTIFY, says to ask the primary); failures back off to
// followBackoff.
const (
	followPoll    = time.Second
	followBackoff = 30 * time.Second
)

func (f *follower) run(ctx context.Context) {
	wait := followPoll
	for {
		body, err := f.src.Fetch(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			wait = followPoll
			serial, how, _ := f.src.Held()
			if err := f.apply(body, serial); err != nil {
				followErrors.Inc()
				log.Errorf("follow %s: serial %d (%s): %v; still serving the definitions before it", f.src.Zone, serial, how, err)
			} else {
				log.Infof("follow %s: serial %d by %s", f.src.Zone, serial, how)
			}
		case errors.Is(err, source.ErrNotModified):
			wait = followPoll
		default:
			followErrors.Inc()
			log.Warningf("follow %s: %v", f.src.Zone, err)
			wait = min(2*wait, followBackoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-f.kick:
		case <-time.After(wait):
		}
	}
}

// notify takes a NOTIFY for the followed zone: from its primary, the next fetch asks at once; from
// anyone else, REFUSED.
func (f *follower) notify(w dns.ResponseWriter, r *dns.Msg) (int, error) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	from := peer.Addr(w)
	if primary, ok := netip.AddrFromSlice(f.src.Host()); !ok || !from.IsValid() || primary.Unmap() != from {
		log.Warningf("NOTIFY for %s from %v refused: not the primary it is followed from", f.src.Zone, from)
		m.Rcode = dns.RcodeRefused
	} else {
		f.src.Notify()
		select {
		case f.kick <- struct{}{}:
		default: // a fetch is due already
		}
	}
	w.WriteMsg(m)
	return m.Rcode, nil
}

// heldZone is the configuration zone as the follower read it: each policy's records by their key. It
// is never changed once read: a change makes a new one that shares the policies it did not touch.
type heldZone struct {
	version string
	recs    map[string]map[string]confRec // policy → record key → record
}

// readRecord reads one record of the zone: the policy it belongs to and the record; version is set for
// the version record. A record of a later layout that this version does not know is skipped (ok false).
func readRecord(rr dns.RR, zone string) (pol string, rec confRec, version string, ok bool, err error) {
	txt, isTXT := rr.(*dns.TXT)
	if !isTXT {
		return "", confRec{}, "", false, nil // the SOA and NS at the apex
	}
	owner := strings.ToLower(txt.Hdr.Name)
	rel, in := strings.CutSuffix(owner, "."+zone)
	if !in {
		return "", confRec{}, "", false, fmt.Errorf("%s is outside the zone", owner)
	}
	if rel == "version" {
		return "", confRec{}, strings.Join(txt.Txt, " "), false, nil
	}
	labels := strings.Split(rel, ".")
	if len(labels) < 2 || len(labels) > 3 || labels[len(labels)-1] != "policies" ||
		len(labels) == 3 && labels[0] != "block" && labels[0] != "allow" {
		return "", confRec{}, "", false, nil
	}
	pol = labels[len(labels)-2]
	if !policyNameRE.MatchString(pol) || reserved[pol] {
		return "", confRec{}, "", false, fmt.Errorf("%s: %q is not a policy name", owner, pol)
	}
	return pol, confRec{strings.TrimSuffix(rel, "."), txt.Txt}, "", true, nil
}

// readConfigZone reads the body of the configuration zone (the zone as text, as source.AXFR hands it).
// Anything it cannot read fails it whole: a half-read zone would drop what it did not read.
func readConfigZone(body []byte, zone string) (*heldZone, error) {
	h := &heldZone{recs: map[string]map[string]confRec{}}
	zp := dns.NewZoneParser(strings.NewReader(string(body)), zone, "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		pol, rec, version, ok, err := readRecord(rr, zone)
		switch {
		case err != nil:
			return nil, err
		case version != "":
			h.version = version
		case ok:
			h.add(pol, rec)
		}
	}
	if err := zp.Err(); err != nil {
		return nil, err
	}
	return h, nil
}

// readable fails for a zone of another layout version than this server reads.
func (h *heldZone) readable() error {
	if h.version != configVersion {
		return fmt.Errorf("layout version %q, this server reads %q", h.version, configVersion)
	}
	return nil
}

func (h *heldZone) add(pol string, rec confRec) {
	m := h.recs[pol]
	if m == nil {
		m = map[string]confRec{}
		h.recs[pol] = m
	}
	m[rec.key()] = rec
}

// patch returns the zone with the record lines del removed and add added (source.AXFR's Change), and
// the policies they touch. The zone held is left as it was.
func (h *heldZone) patch(del, add []string, zone string) (*heldZone, []string, error) {
	next := &heldZone{version: h.version, recs: maps.Clone(h.recs)}
	touched := map[string]bool{}
	for i, lines := range [][]string{del, add} {
		for _, l := range lines {
			rr, err := dns.NewRR(l)
			if err != nil {
				return nil, nil, err
			}
			pol, rec, version, ok, err := readRecord(rr, zone)
			switch {
			case err != nil:
				return nil, nil, err
			case version != "" && i == 1:
				next.version = version
			case ok:
				if !touched[pol] { // the first change of this policy: its own copy of its records
					touched[pol] = true
					next.recs[pol] = maps.Clone(next.recs[pol])
				}
				if i == 0 {
					delete(next.recs[pol], rec.key())
					if len(next.recs[pol]) == 0 {
						delete(next.recs, pol)
					}
				} else {
					next.add(pol, rec)
				}
			}
		}
	}
	return next, slices.Sorted(maps.Keys(touched)), nil
}

// definition is one policy as the configuration zone defines it: lists by name.
type definition struct {
	lists, allowLists []string
	answers           map[string]string
	actions           map[string]policy.Action
	block, allow      []string
	minScore          int
	minScores         map[string]int
	maxEntries        int
}

// definitionOf reads the records of one policy. A record it cannot read fails the policy, and so the
// version of the zone.
func definitionOf(pol string, recs map[string]confRec) (*definition, error) {
	d := &definition{answers: map[string]string{}, actions: map[string]policy.Action{}}
	own := pol + ".policies"
	for _, r := range recs {
		owner := r.owner + "." + configLabel
		if r.owner != own { // block.POLICY.policies, allow.POLICY.policies
			if len(r.txt) != 1 {
				return nil, fmt.Errorf("%s: one entry a record", owner)
			}
			e := r.txt[0]
			if err := policy.ValidEntry(e); err != nil {
				return nil, fmt.Errorf("%s: %v", owner, err)
			}
			if strings.HasPrefix(r.owner, "block.") {
				d.block = append(d.block, e)
			} else {
				d.allow = append(d.allow, e)
			}
			continue
		}
		if len(r.txt) == 0 {
			return nil, fmt.Errorf("%s: an empty directive", owner)
		}
		args := r.txt[1:]
		switch r.txt[0] {
		case "lists":
			d.lists = append(d.lists, args...)
		case "allow_lists":
			d.allowLists = append(d.allowLists, args...)
		case "answer":
			if len(args) != 2 {
				return nil, fmt.Errorf("%s: answer needs a category and an address", owner)
			}
			if _, err := policy.ParseAnswer(args[1]); err != nil {
				return nil, fmt.Errorf("%s: %v", owner, err)
			}
			d.answers[args[0]] = args[1]
		case "action":
			if len(args) < 2 {
				return nil, fmt.Errorf("%s: action needs a category and a kind", owner)
			}
			a, err := policy.ParseAction(args[1:])
			if err != nil {
				return nil, fmt.Errorf("%s: %v", owner, err)
			}
			d.actions[args[0]] = a
		case "min_score", "max_entries":
			n, err := 0, error(nil)
			if len(args) == 1 || len(args) == 2 && r.txt[0] == "min_score" {
				n, err = strconv.Atoi(args[len(args)-1])
			} else {
				err = errors.New("wrong number of words")
			}
			if err != nil || n < 0 || r.txt[0] == "min_score" && n > policy.MaxScore {
				return nil, fmt.Errorf("%s: %s: %q does not read", owner, r.txt[0], strings.Join(args, " "))
			}
			switch {
			case r.txt[0] == "max_entries":
				d.maxEntries = n
			case len(args) == 1:
				d.minScore = n
			default:
				if d.minScores == nil {
					d.minScores = map[string]int{}
				}
				d.minScores[args[0]] = n
			}
		}
	}
	slices.Sort(d.block)
	slices.Sort(d.allow)
	return d, nil
}

// parseConfigZone reads a whole zone body into definitions by policy name.
func parseConfigZone(body []byte, zone string) (map[string]*definition, error) {
	h, err := readConfigZone(body, zone)
	if err != nil {
		return nil, err
	}
	if err := h.readable(); err != nil {
		return nil, err
	}
	defs := make(map[string]*definition, len(h.recs))
	for pol, recs := range h.recs {
		d, err := definitionOf(pol, recs)
		if err != nil {
			return nil, err
		}
		defs[pol] = d
	}
	return defs, nil
}

// config is the definition as a Config over the lists of cat; missing are the lists it names that cat
// lacks (the edge has no feed of that name), which the edge serves without.
func (d *definition) config(name string, cat policy.Catalog) (cfg policy.Config, missing []string) {
	ids := func(names []string) []int {
		var out []int
		for _, n := range names {
			i := slices.IndexFunc(cat, func(l snapshot.ListInfo) bool { return l.Name == n })
			if i < 0 {
				missing = append(missing, n)
				continue
			}
			out = append(out, i)
		}
		return out
	}
	cfg = policy.Config{Name: name, Block: ids(d.lists), Allow: ids(d.allowLists), Blocked: d.block, Allowed: d.allow, Answers: d.answers, Actions: d.actions,
		MinScore: d.minScore, MinScores: d.minScores, MaxEntries: d.maxEntries}
	return cfg, missing
}

// sameConfig reports whether two definitions over the lists of cat serve alike: they render to the same
// records.
func sameConfig(a, b *policy.Config, cat policy.Catalog) bool {
	ra, rb := configRecords(a, cat), configRecords(b, cat)
	return slices.EqualFunc(ra, rb, func(x, y confRec) bool { return x.key() == y.key() })
}

// apply makes the block serve the zone's new version, in one State: after an IXFR, only the policies its
// records touch are read again. A version that does not read changes nothing, and the next one is read
// whole.
func (f *follower) apply(body []byte, serial uint32) error {
	t := f.t
	whole, del, add := f.src.Change()
	var next *heldZone
	var touched []string // nil with a whole zone: every policy of either version
	var err error
	if whole || f.held == nil || f.resync {
		next, err = readConfigZone(body, f.src.Zone)
	} else {
		next, touched, err = f.held.patch(del, add, f.src.Zone)
	}
	f.resync = true // until this version applies
	if err != nil {
		return err
	}
	if err := next.readable(); err != nil {
		return err
	}
	if len(next.recs) == 0 {
		return errors.New("the zone defines no policy")
	}
	if touched == nil {
		names := map[string]bool{}
		for n := range next.recs {
			names[n] = true
		}
		if f.held != nil {
			for n := range f.held.recs {
				names[n] = true
			}
		}
		touched = slices.Sorted(maps.Keys(names))
	}
	st := t.store.Load()
	block := st.Blocks[t.block.Index]
	like := f.like
	var changes []state.Change
	var adds []string // policies the zone adds to the block
	missing := map[string]bool{}
	for _, name := range touched {
		if f.excluded(name) {
			continue
		}
		cur := block.Policy(name)
		recs, defined := next.recs[name]
		if !defined {
			switch {
			case f.added[name] && cur != nil:
				changes = append(changes, state.Change{Config: policy.Config{Name: name}, Remove: true})
			case cur != nil: // a Corefile policy the zone no longer defines: its own definition
				if p := t.corefilePolicy(name); p != nil && !sameConfig(&cur.Config, &p.Config, st.Catalog) {
					changes = append(changes, state.Change{Config: p.Config})
				}
			}
			continue
		}
		d, err := definitionOf(name, recs)
		if err != nil {
			return err
		}
		cfg, lack := d.config(name, st.Catalog)
		for _, l := range lack {
			missing[l] = true
		}
		if cur == nil && block.Policy(like) == nil {
			return fmt.Errorf("policy %s: no policy %q to serve it like", name, like)
		}
		if cur != nil && sameConfig(&cur.Config, &cfg, st.Catalog) {
			continue
		}
		if cur == nil {
			adds = append(adds, name)
		}
		changes = append(changes, state.Change{Config: cfg, Like: like})
	}
	if len(missing) > 0 {
		log.Warningf("follow %s: its policies name lists this server has no feed of, served without them: %s",
			f.src.Zone, strings.Join(slices.Sorted(maps.Keys(missing)), ", "))
	}
	if len(changes) > 0 {
		if _, err := t.store.Apply(t.block.Index, changes); err != nil {
			return err
		}
	}
	for _, ch := range changes {
		if ch.Remove {
			delete(f.added, ch.Config.Name)
		}
	}
	for _, name := range adds {
		f.added[name] = true
	}
	f.held, f.resync = next, false
	f.loaded.Store(true)
	followSerial.WithLabelValues(f.src.Zone).Set(float64(serial))
	return nil
}

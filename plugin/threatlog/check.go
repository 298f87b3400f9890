package threatlog

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/domain"
	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
)

// CheckResult says which shared feeds hold an indicator now, and what one policy does with it.
type CheckResult struct {
	IOC     string        `json:"ioc"`
	Kind    string        `json:"kind"` // address, prefix or name
	Matches []Match       `json:"matches"`
	Explain *Explain      `json:"explain,omitempty"` // when a feed or the sensors hold it
	Policy  *PolicyResult `json:"policy,omitempty"`
}

// Explain is why the indicator ranks where it does in the active list: its score and what it comes from.
type Explain struct {
	// Score (0 to 100) is the highest score of the entries that hold the whole indicator: how strongly
	// the feeds that hold that entry vouch for it, as independent sources.
	Score int `json:"score"`
	// Sources is the number of feeds holding the indicator (an entry that covers it).
	Sources int `json:"sources"`
	// Sensors is the number of distinct customers whose firewalls reported the address attacking them
	// within the sensors' window; never who, and 0 while fewer than the sensors feed's min_reporters.
	Sensors int `json:"sensors"`
	// FirstSeen is the earliest of the entries' since and the first sensor report in the window;
	// LastSeen the latest of the sensor reports and the loading of the feed versions that hold it.
	FirstSeen *time.Time `json:"first_seen,omitempty"`
	LastSeen  *time.Time `json:"last_seen,omitempty"`
}

// Match is one shared list's entry that holds the indicator.
type Match struct {
	List     string `json:"list"`
	Category string `json:"category"`
	Entry    string `json:"entry"`
	// Relation: "covers" (the entry holds the whole indicator: the address, the prefix, the name, also a
	// covering prefix or *.parent), "within" (a prefix query: entries inside it, Count of them), or
	// "parent" (a parent name is listed, but not its subdomains: the indicator itself is not listed).
	Relation string `json:"relation"`
	Count    int    `json:"count,omitempty"`
	// Score is the entry's (relation covers), Confidence and Severity the feed's.
	Score      int    `json:"score"`
	Confidence int    `json:"confidence"`
	Severity   string `json:"severity,omitempty"`
	// Since: when threatlog first saw this entry in the list (first_seen), or, before it did, when the
	// list's current version was loaded (loaded): listed at least since then.
	Since       *time.Time `json:"since,omitempty"`
	SinceSource string     `json:"since_source,omitempty"`
}

// PolicyResult is a policy's decision.
type PolicyResult struct {
	Name    string   `json:"name"`
	Verdict string   `json:"verdict"` // blocked, allowed, not-listed
	Lists   []string `json:"lists,omitempty"`
}

// parseIOC reads an address, a CIDR prefix or a domain name; err says what is wrong with ioc.
func parseIOC(s string) (kind string, a netip.Addr, p netip.Prefix, name string, err error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return "", a, p, "", errors.New("ioc is an address, a CIDR prefix or a domain name")
		}
		if p.Addr().Is4In6() {
			// ::ffff:a.b.c.d/n is a.b.c.d/(n-96); shorter than /96 it holds more than IPv4 addresses.
			if p.Bits() < 96 {
				return "", a, p, "", fmt.Errorf("ioc %s: an IPv4-mapped prefix needs at least /96 (::ffff:a.b.c.d/n is a.b.c.d/n-96)", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		if p.Bits() == p.Addr().BitLen() {
			return "address", p.Addr(), p, "", nil
		}
		return "prefix", p.Addr(), p, "", nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return "address", a, netip.PrefixFrom(a, a.BitLen()), "", nil
	}
	n, ok := domain.Normalize(strings.TrimPrefix(s, "*."))
	if !ok {
		return "", a, p, "", errors.New("ioc is an address, a CIDR prefix or a domain name")
	}
	return "name", a, p, n, nil
}

// check looks ioc up in every shared list and, when polName is not "", in that policy of the block.
func (t *Threatlog) check(ioc string, polName string) (*CheckResult, error) {
	kind, a, pfx, name, err := parseIOC(ioc)
	if err != nil {
		return nil, err
	}
	st := t.state.Load()
	s := st.Snap
	var pol *policy.Policy
	ps := s // what the policy answers from: its choice by score, when it makes one
	if sp := st.Blocks[t.block].Policy(polName); polName != "" && sp != nil {
		pol, ps = sp.Policy, st.SnapOf(sp)
	}
	res := &CheckResult{IOC: ioc, Kind: kind, Matches: []Match{}}
	switch kind {
	case "name":
		res.IOC = name
	default:
		res.IOC = prefixString(pfx)
	}
	loaded := t.loadedTimes()
	for id, l := range s.Lists {
		if l.Withheld {
			continue
		}
		add := func(entry, key, rel string, count int, score uint8) {
			m := Match{List: l.Name, Category: l.Category, Entry: entry, Relation: rel, Count: count,
				Score: int(score), Confidence: int(l.Confidence), Severity: l.Severity}
			if key != "" {
				if ts, ok := t.store.FirstSeen(l.Name, key); ok {
					m.Since, m.SinceSource = &ts, "first_seen"
				}
			}
			if m.Since == nil {
				if ts, ok := loaded[l.Name]; ok {
					m.Since, m.SinceSource = &ts, "loaded"
				}
			}
			res.Matches = append(res.Matches, m)
		}
		switch kind {
		case "name":
			if e, ok := s.EntryName(id, name); ok {
				sc, _ := s.ScoreName(id, strings.TrimPrefix(e, "*."), strings.HasPrefix(e, "*."))
				add(e, e, "covers", 0, sc)
				continue
			}
			if parent := listedParent(s.Entries(id), name); parent != "" {
				add(parent, parent, "parent", 0, 0)
			}
		default:
			if e, ok := covering(s.Entries(id), pfx); ok {
				sc, _ := s.ScorePrefix(id, e)
				add(prefixString(e), e.String(), "covers", 0, sc)
				continue
			}
			if kind == "prefix" {
				if first, n := within(s.Entries(id), pfx); n > 0 {
					add(prefixString(first), first.String(), "within", n, 0)
				}
			}
		}
	}
	res.Explain = t.explain(res, kind, a, loaded)
	if pol != nil {
		var v policy.Verdict
		if kind == "name" {
			v = pol.MatchName(ps, name)
		} else {
			v = pol.MatchAddr(ps, a)
		}
		pr := &PolicyResult{Name: pol.Name, Verdict: "not-listed"}
		switch {
		case v.Listed:
			pr.Verdict = "blocked"
			if v.Custom {
				pr.Lists = append(pr.Lists, policy.CustomList)
			}
			pol.EachList(ps, v, func(id int) { pr.Lists = append(pr.Lists, ps.Lists[id].Name) })
		case v.Allowed:
			pr.Verdict = "allowed"
		}
		res.Policy = pr
	}
	return res, nil
}

// explain sums the matches up, with what the sensors say of an address; nil when nothing holds it.
func (t *Threatlog) explain(res *CheckResult, kind string, a netip.Addr, loaded map[string]time.Time) *Explain {
	e := &Explain{}
	var first, last time.Time
	see := func(at time.Time) {
		if at.IsZero() {
			return
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	for _, m := range res.Matches {
		if m.Relation != "covers" {
			continue
		}
		e.Sources++
		e.Score = max(e.Score, m.Score)
		if m.Since != nil {
			see(*m.Since)
		}
		see(loaded[m.List])
	}
	if kind == "address" {
		// A count below the sensors feed's min_reporters is not told, nor its times: it would say that
		// one customer or two saw the address, which may be the asker's neighbour.
		if n, f, l := sensors().Lookup(a, clock(), 0); sensors().Disclosed(n) > 0 {
			e.Sensors = n
			see(f)
			see(l)
		}
	}
	if e.Sources == 0 && e.Sensors == 0 {
		return nil
	}
	if !first.IsZero() {
		f, l := first.UTC().Truncate(time.Second), last.UTC().Truncate(time.Second)
		e.FirstSeen, e.LastSeen = &f, &l
	}
	return e
}

// listedParent is the closest parent of name that set lists exactly (without its subdomains).
func listedParent(set *entryset.Set, name string) string {
	for n := name; ; {
		i := strings.IndexByte(n, '.')
		if i < 0 {
			return ""
		}
		n = n[i+1:]
		if _, ok := set.Names.Search(n); ok {
			return n
		}
	}
}

// covering returns the most specific entry of set that holds all of p.
func covering(set *entryset.Set, p netip.Prefix) (netip.Prefix, bool) {
	for bits := p.Bits(); bits >= 0; bits-- {
		q := netip.PrefixFrom(p.Addr(), bits).Masked()
		if q.Addr().Is4() {
			if _, ok := slices.BinarySearch(set.V4, entryset.PackV4(q)); ok {
				return q, true
			}
		} else if _, ok := slices.BinarySearchFunc(set.V6, entryset.PackV6(q), entryset.V6.Compare); ok {
			return q, true
		}
	}
	return netip.Prefix{}, false
}

// within returns the first entry of set inside prefix p and how many there are.
func within(set *entryset.Set, p netip.Prefix) (netip.Prefix, int) {
	var first netip.Prefix
	n := 0
	if p.Addr().Is4() {
		i, _ := slices.BinarySearch(set.V4, entryset.PackV4(p))
		for ; i < len(set.V4); i++ {
			e := entryset.UnpackV4(set.V4[i])
			if !p.Contains(e.Addr()) {
				break
			}
			if n == 0 {
				first = e
			}
			n++
		}
		return first, n
	}
	i, _ := slices.BinarySearchFunc(set.V6, entryset.PackV6(p), entryset.V6.Compare)
	for ; i < len(set.V6); i++ {
		e := set.V6[i].Prefix()
		if !p.Contains(e.Addr()) {
			break
		}
		if n == 0 {
			first = e
		}
		n++
	}
	return first, n
}

// loadedTimes is when each feed's current version was loaded.
func (t *Threatlog) loadedTimes() map[string]time.Time {
	out := map[string]time.Time{}
	st := t.state.Load()
	for id, at := range st.Loaded {
		if !at.IsZero() && id < len(st.Snap.Lists) {
			out[st.Snap.Lists[id].Name] = at.UTC()
		}
	}
	return out
}

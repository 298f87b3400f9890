// Package policy holds a customer's view of the shared snapshot: which lists block, which lists allow,
// the customer's own block and allow entries, and the answer for each category. A policy is small and
// fixed at start-up; it never copies feed entries, so 1,000 policies over the same feeds cost about as
// much memory as one. Allow always wins: an address or name covered by any allow entry or allow list is
// never listed, except for the RFC 5782 test points, which behave the same in every policy.
package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/threatstop/threatstop/plugin/pkg/domain"
	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// CustomList is the list name under which a policy's own block entries are reported, and the category
// its `answer` keyword uses for them.
const CustomList = "custom"

// DefaultAnswer is the A record of a listed entry whose category has no answer of its own (RFC 5782 §2.1).
var DefaultAnswer = netip.AddrFrom4([4]byte{127, 0, 0, 2})

// own-entry lists of a policy's private snapshot.
const (
	ownBlock = 0
	ownAllow = 1
)

// Policy is immutable once built.
type Policy struct {
	Name  string
	Block snapshot.Bits // shared lists whose entries are listed
	Allow snapshot.Bits // shared lists whose entries are never listed

	own      *snapshot.Snapshot // own entries: list ownBlock and list ownAllow
	answers  []netip.Addr       // A record per shared list ID, from its category
	custom   [4]byte            // A record for own block entries (an IPv4 address: 4 bytes, not netip's 24)
	defaultA [4]byte

	actions      []Action // firewall action per shared list ID, from its category
	customAction Action   // for own block entries

	minScore   []uint8 // per shared list ID, from its category; nil when the policy does not choose by score
	maxEntries int
	choice     string // what its choice depends on besides the snapshot (ChoiceKey)

	// Def is a digest of the definition as it bears on answers: the names of the lists it uses, its own
	// entries, and the answer and action of each list. Two policies with the same Def answer alike from
	// lists of the same content, whatever their list IDs, so a reload or a restart that changes neither
	// keeps the policy's serial (package state).
	Def [sha256.Size]byte
}

// Catalog describes the shared lists a policy can refer to; list IDs are the indices.
type Catalog []snapshot.ListInfo

// Config is a policy as written in the Corefile, with list references already resolved to list IDs.
type Config struct {
	Name    string
	Block   []int             // list IDs
	Allow   []int             // list IDs
	Blocked []string          // own entries: addresses, prefixes, names, *.names
	Allowed []string          // own entries
	Answers map[string]string // category (or "default") → IPv4 address in 127.0.0.0/8
	Actions map[string]Action // category (or "default", or CustomList) → firewall action

	// Choosing by score (select.go): entries of the blocking lists scored below MinScore (or below their
	// category's MinScores) are not listed; MaxEntries > 0 keeps only that many of the highest scored.
	MinScore   int
	MinScores  map[string]int // category → minimum score
	MaxEntries int
}

// Clone returns a copy of c that shares nothing with it.
func (c Config) Clone() Config {
	c.Block, c.Allow = slices.Clone(c.Block), slices.Clone(c.Allow)
	c.Blocked, c.Allowed = slices.Clone(c.Blocked), slices.Clone(c.Allowed)
	c.Answers, c.Actions = maps.Clone(c.Answers), maps.Clone(c.Actions)
	c.MinScores = maps.Clone(c.MinScores)
	return c
}

// New builds a policy over the lists of cat.
func New(cfg Config, cat Catalog) (*Policy, error) {
	p := &Policy{
		Name:     cfg.Name,
		Block:    snapshot.NewBits(len(cat)),
		Allow:    snapshot.NewBits(len(cat)),
		defaultA: DefaultAnswer.As4(),
	}
	for _, id := range cfg.Block {
		p.Block.Add(id)
	}
	for _, id := range cfg.Allow {
		p.Allow.Add(id)
	}
	answers := map[string]netip.Addr{}
	for cat, s := range cfg.Answers {
		a, err := ParseAnswer(s)
		if err != nil {
			return nil, err
		}
		answers[cat] = a
	}
	if a, ok := answers["default"]; ok {
		p.defaultA = a.As4()
	}
	p.answers = make([]netip.Addr, len(cat))
	for i, l := range cat {
		p.answers[i] = netip.AddrFrom4(p.defaultA)
		if a, ok := answers[l.Category]; ok {
			p.answers[i] = a
		}
	}
	p.custom = p.defaultA
	if a, ok := answers[CustomList]; ok {
		p.custom = a.As4()
	}
	def := DefaultAction
	if a, ok := cfg.Actions["default"]; ok {
		def = a
	}
	p.actions = make([]Action, len(cat))
	for i, l := range cat {
		p.actions[i] = def
		if a, ok := cfg.Actions[l.Category]; ok {
			p.actions[i] = a
		}
	}
	p.customAction = def
	if a, ok := cfg.Actions[CustomList]; ok {
		p.customAction = a
	}
	// Thousands of policies made like one share its answers and actions: the slices are never changed.
	p.answers, p.actions = interned(p.answers, p.actions)
	var block, allow entryset.Builder
	for _, e := range cfg.Blocked {
		if err := AddEntry(&block, e); err != nil {
			return nil, err
		}
	}
	for _, e := range cfg.Allowed {
		if err := AddEntry(&allow, e); err != nil {
			return nil, err
		}
	}
	if len(cfg.Blocked)+len(cfg.Allowed) == 0 {
		p.own = noOwn // most policies made by the thousand have none: one snapshot for all (about 1 KB each)
	} else {
		p.own = ownSnapshot(block.Set(), allow.Set())
	}
	if err := p.chooses(cfg, cat); err != nil {
		return nil, err
	}
	p.Def = p.digest(cat)
	return p, nil
}

// internedSlices are answers and actions by their content, at most maxInterned of them (beyond that
// a policy keeps its own: memory, not correctness).
var (
	internedSlices sync.Map // string → answersActions
	internedCount  atomic.Int32
)

const maxInterned = 4096

type answersActions struct {
	answers []netip.Addr
	actions []Action
}

// interned returns slices equal to answers and actions, shared with every other policy that has the
// same ones.
func interned(answers []netip.Addr, actions []Action) ([]netip.Addr, []Action) {
	var k strings.Builder
	for _, a := range answers {
		k.WriteString(a.String())
		k.WriteByte(',')
	}
	k.WriteByte('|')
	for _, a := range actions {
		k.WriteString(a.String())
		k.WriteByte(',')
	}
	if v, ok := internedSlices.Load(k.String()); ok {
		aa := v.(answersActions)
		return aa.answers, aa.actions
	}
	if internedCount.Add(1) <= maxInterned {
		v, _ := internedSlices.LoadOrStore(k.String(), answersActions{answers, actions})
		aa := v.(answersActions)
		return aa.answers, aa.actions
	}
	return answers, actions
}

// ownSnapshot compiles a policy's own block and allow entries.
func ownSnapshot(block, allow *entryset.Set) *snapshot.Snapshot {
	return snapshot.Build([]snapshot.List{
		ownBlock: {Name: CustomList, Category: CustomList, Set: block},
		ownAllow: {Name: "allow", Category: "allow", Set: allow},
	}, nil)
}

// noOwn is the own snapshot of every policy without own entries; snapshots are immutable.
var noOwn = ownSnapshot(new(entryset.Builder).Set(), new(entryset.Builder).Set())

// digest computes Def: every field is written with its length, lists in name order, so the digest
// depends on what the policy says and not on the order of the Corefile's lines or the list IDs.
func (p *Policy) digest(cat Catalog) [sha256.Size]byte {
	h := sha256.New()
	put := func(s string) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	action := func(a Action) string {
		s := a.Kind.String()
		for _, r := range a.Redirect {
			s += " " + r.String()
		}
		return s
	}
	type use struct{ name, how string }
	var uses []use
	for id, l := range cat {
		switch {
		case p.Block.Has(id):
			uses = append(uses, use{l.Name, "block " + p.answers[id].String() + " " + action(p.actions[id])})
		case p.Allow.Has(id):
			uses = append(uses, use{l.Name, "allow"})
		}
	}
	slices.SortFunc(uses, func(a, b use) int { return strings.Compare(a.name, b.name) })
	put(p.Name)
	for _, u := range uses {
		put(u.name)
		put(u.how)
	}
	put(p.CustomAnswer().String())
	put(action(p.customAction))
	put(p.choice)
	for _, set := range []*entryset.Set{p.own.Entries(ownBlock), p.own.Entries(ownAllow)} {
		sum := set.Sum()
		h.Write(sum[:])
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// ParseAnswer parses the A record of a category; RFC 5782 §2.1 puts DNSxL answers in 127.0.0.0/8.
func ParseAnswer(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() || a.As4()[0] != 127 {
		return netip.Addr{}, fmt.Errorf("answer %q is not an IPv4 address in 127.0.0.0/8", s)
	}
	return a, nil
}

// AddEntry adds one own entry: an address, a CIDR prefix, a domain name, or *.name for a name and all its
// subdomains. Unlike feed entries, a single-label name (a whole top-level domain) is accepted.
func AddEntry(b *entryset.Builder, e string) error {
	if strings.IndexByte(e, '/') >= 0 {
		p, err := netip.ParsePrefix(e)
		if err != nil || !b.AddPrefix(p) {
			return fmt.Errorf("%q is not a valid prefix", e)
		}
		return nil
	}
	if a, err := netip.ParseAddr(e); err == nil {
		if !b.AddAddr(a) {
			return fmt.Errorf("%q is not a valid address", e)
		}
		return nil
	}
	sub := strings.HasPrefix(e, "*.")
	name, ok := domain.Normalize(strings.TrimPrefix(e, "*."))
	if !ok {
		return fmt.Errorf("%q is not an address, a prefix, a domain name or *.domain", e)
	}
	b.AddName(name, sub)
	return nil
}

// Canonical is the one form of an own entry, the one AddEntry stores: an address as netip writes it (an
// IPv4-mapped one as IPv4), a prefix with its host bits cleared (IPv4-mapped as IPv4, a
// full-length one as its address), a name normalised as feeds' names are (lowercase, IDNA, no trailing
// dot), with "*." in front for the name and its subdomains. Two spellings of one entry have one form.
func Canonical(e string) (string, error) {
	e = strings.TrimSpace(e)
	if err := ValidEntry(e); err != nil {
		return "", err
	}
	if strings.IndexByte(e, '/') >= 0 {
		p := netip.MustParsePrefix(e).Masked() // ValidEntry parsed it
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Bits() == p.Addr().BitLen() {
			return p.Addr().String(), nil
		}
		return p.String(), nil
	}
	if a, err := netip.ParseAddr(e); err == nil {
		return a.Unmap().String(), nil
	}
	sub := strings.HasPrefix(e, "*.")
	name, _ := domain.Normalize(strings.TrimPrefix(e, "*."))
	if sub {
		return "*." + name, nil
	}
	return name, nil
}

// ValidEntry checks an own entry as AddEntry would add it.
func ValidEntry(e string) error {
	var b entryset.Builder
	return AddEntry(&b, e)
}

// Verdict is the outcome of one lookup.
type Verdict struct {
	Listed  bool
	Allowed bool           // an allow entry or allow list covered it (and it is not listed)
	Custom  bool           // one of the policy's own block entries covers it
	Shared  snapshot.SetID // the shared lists at the entry, before the policy's mask
}

// MatchAddr decides an address: listed (by a blocking list or an own block entry) unless an allow entry
// or allow list covers it. The DNSBL's RFC 5782 test points are the DNSBL answer code's, not a policy's.
func (p *Policy) MatchAddr(s *snapshot.Snapshot, a netip.Addr) Verdict {
	a = a.Unmap()
	return p.decide(s, p.own.Set(p.own.LookupAddr(a)), s.LookupAddr(a))
}

// MatchName decides a normalised domain name, as MatchAddr an address.
func (p *Policy) MatchName(s *snapshot.Snapshot, name string) Verdict {
	return p.decide(s, p.own.Set(p.own.LookupName(name)), s.LookupName(name))
}

func (p *Policy) decide(s *snapshot.Snapshot, own snapshot.Bits, shared snapshot.SetID) Verdict {
	lists := s.Set(shared)
	if own.Has(ownAllow) || lists.Intersects(p.Allow) {
		return Verdict{Allowed: true, Shared: shared}
	}
	custom := own.Has(ownBlock)
	return Verdict{Listed: custom || lists.Intersects(p.Block), Custom: custom, Shared: shared}
}

// EachList calls fn with the ID of each of the policy's blocking lists that hold a listed verdict's entry.
func (p *Policy) EachList(s *snapshot.Snapshot, v Verdict, fn func(id int)) {
	if v.Listed && v.Shared != 0 {
		s.Set(v.Shared).EachAnd(p.Block, fn)
	}
}

// Answer is the A record for entries of shared list id.
func (p *Policy) Answer(id int) netip.Addr { return p.answers[id] }

// CustomAnswer is the A record for the policy's own block entries.
func (p *Policy) CustomAnswer() netip.Addr { return netip.AddrFrom4(p.custom) }

// DefaultAnswer is the policy's A record for categories without one of their own (and test points).
func (p *Policy) DefaultAnswer() netip.Addr { return netip.AddrFrom4(p.defaultA) }

// Uses reports whether shared list id matters to the policy, as a blocking or an allowing list.
func (p *Policy) Uses(id int) bool { return p.Block.Has(id) || p.Allow.Has(id) }

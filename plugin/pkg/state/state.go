// Package state holds the one immutable State that every threatstop plugin answers from: the snapshot
// compiled from the feeds, the compiled policies of every threatstop block with their keys and client
// networks, and the serials that go with that snapshot. One Store per CoreDNS instance (in caddy's instance
// storage) builds each State once, when threatfeed hands it a new snapshot, and swaps it in with one
// atomic store; the handlers (DNSBL, RPZ, list pages, catalog, firewall, threatlog) only Load it, so they
// agree on one version whatever they answer.
//
// Cost: a State is a few slices of the number of policies; building one compares list versions (no
// entry is touched): about 15 µs and 4 KB for 1,000 policies (BenchmarkPublish), next to a snapshot build
// of tenths of a second.
package state

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/rpz"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// Policy is a compiled policy with what serving it needs beside its content. It is immutable.
type Policy struct {
	*policy.Policy
	Index int // in State.Policies
	Block int // in State.Blocks
	Line  int // Corefile line of its policy keyword

	Keys            map[string]bool // TSIG key names (lowercase, fully qualified) that may transfer its RPZ zone
	Clients         *bart.Lite      // nil: every client may ask
	TransferClients *bart.Lite      // networks that may transfer its zone without a key; nil: none

	// Config is the definition the policy was built from, so that Edit can build the next one.
	Config policy.Config

	// RPZSuffixes are what follows the policy's name in the origins of its RPZ zones (".rpz.ZONE.", fully
	// qualified), one slice shared by the block's policies: a trigger whose owner would be too long under
	// the longest origin is reported in State.Omitted.
	RPZSuffixes *[]string

	// Render is a digest of what the serving plugin adds to the policy's answers (TTLs, SOA and NS
	// names), shared by the block's policies; with the definition and the lists' entries it makes the
	// policy's content sum. Nil is the zero digest.
	Render *[sha256.Size]byte
}

// RPZOrigins are the origins of the policy's RPZ zones.
func (p *Policy) RPZOrigins() []string {
	if p.RPZSuffixes == nil {
		return nil
	}
	out := make([]string, len(*p.RPZSuffixes))
	for i, s := range *p.RPZSuffixes {
		out[i] = p.Name + s
	}
	return out
}

// RenderSum is Render's digest.
func (p *Policy) RenderSum() [sha256.Size]byte {
	if p.Render == nil {
		return [sha256.Size]byte{}
	}
	return *p.Render
}

// KeyNames returns the policy's TSIG key names, sorted.
func (p *Policy) KeyNames() []string {
	keys := make([]string, 0, len(p.Keys))
	for k := range p.Keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Block is the policies of one threatstop block (one server block). Policy names are unique in a block;
// two blocks may each define a policy of the same name (servers on other ports, other customers).
type Block struct {
	Index       int
	ServerBlock int    // caddy's server block index
	Key         string // what identifies the block across reloads and restarts: its addresses and zones
	Policies    []*Policy
	byName      map[string]*Policy
}

// Policy returns the block's policy called name, or nil.
func (b *Block) Policy(name string) *Policy { return b.byName[name] }

// State is one version of everything served. It is immutable: a change builds a new State.
type State struct {
	Version     uint64             // counts the States of this Store, from 1
	Snap        *snapshot.Snapshot // never nil
	Loaded      []time.Time        // by list ID: when the version served was loaded; zero when none
	Catalog     policy.Catalog     // every list by ID
	Blocks      []*Block
	Policies    []*Policy // of every block, in Corefile order
	Serials     []uint32  // by policy index: a serial moves on when the policy's content changed
	ZoneSerials []uint32  // by block: moves on when a serial of the block's policies moved

	Sums [][sha256.Size]byte // by policy index: digest of its content (definition, rendering, lists' entries)

	// Omitted holds, by policy index, the triggers its RPZ zone under its longest origin leaves out: names
	// too long to be an owner there (rpz.Omitted). DNSBL lookups and the firewall still list them; zone
	// transfers, and edges that copy the zone, cannot. Nearly always nil.
	Omitted [][]policy.Entry

	// Views holds, by policy index, what a policy that chooses by score (policy.Select) answers from
	// instead of Snap; nil for the others. Policies with the same choice share one.
	Views []*snapshot.Snapshot

	placeholder bool // the empty State that Load gives before the first Publish: its serials mean nothing
}

// PolicyNames returns the names of every block's policies, in Corefile order: the label values of the
// per-policy metric series this configuration exports.
func (s *State) PolicyNames() []string {
	names := make([]string, len(s.Policies))
	for i, p := range s.Policies {
		names[i] = p.Name
	}
	return names
}

// Placeholder reports whether s is the empty State that Load gives before the first Publish, whose
// serials mean nothing yet.
func (s *State) Placeholder() bool { return s.placeholder }

// SnapOf is the snapshot policy p answers from: its choice by score when it makes one, else Snap.
func (s *State) SnapOf(p *Policy) *snapshot.Snapshot {
	if p.Index < len(s.Views) && s.Views[p.Index] != nil {
		return s.Views[p.Index]
	}
	return s.Snap
}

// Serial is the serial of policy p in s.
func (s *State) Serial(p *Policy) uint32 { return s.Serials[p.Index] }

// Ready reports whether the snapshot holds a loaded version of every list of the catalog.
func (s *State) Ready() bool {
	if len(s.Snap.Lists) != len(s.Catalog) {
		return false
	}
	for _, l := range s.Snap.Lists {
		if l.Version == 0 {
			return false
		}
	}
	return true
}

// Unique returns the one policy called name among blocks, or nil when none or more than one block defines
// it (ambiguous reports the latter).
func Unique(name string, blocks []*Block) (p *Policy, ambiguous bool) {
	for _, b := range blocks {
		if q := b.Policy(name); q != nil {
			if p != nil {
				return nil, true
			}
			p = q
		}
	}
	return p, false
}

// Store builds and holds the State of one CoreDNS instance. Lists and policy blocks are added while the
// Corefile is parsed; Publish swaps in a new snapshot; Load is what the query path calls.
type Store struct {
	cur atomic.Pointer[State]

	mu       sync.Mutex // orders builds and subscriber calls
	catalog  policy.Catalog
	blocks   []*Block
	policies []*Policy
	subs     []func(old, next *State)
	now      func() time.Time

	gen     uint64                              // order of creation: a newer Store's serials win
	sums    map[*entryset.Set][sha256.Size]byte // digests of the current lists' entries
	file    string                              // where the serials persist; "" none
	written bool                                // the file holds this Store's serials
	reg     *registry                           // the process's serials, by block key and policy name
	choices map[string]*snapshot.Snapshot       // the last choice by score, by policy.ChoiceKey: ties keep it
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{now: time.Now, gen: storeGen.Add(1), reg: processSerials, sums: map[*entryset.Set][sha256.Size]byte{}}
}

// AddList adds a list to the catalog and returns its ID.
func (st *Store) AddList(info snapshot.ListInfo) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.catalog = append(st.catalog, info)
	return len(st.catalog) - 1
}

// Catalog returns every list added so far, by ID.
func (st *Store) Catalog() policy.Catalog {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Clone(st.catalog)
}

// ListID returns the ID of the list called name.
func (st *Store) ListID(name string) (int, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, l := range st.catalog {
		if l.Name == name {
			return i, true
		}
	}
	return 0, false
}

// Category returns the IDs of every list of a category.
func (st *Store) Category(category string) []int {
	st.mu.Lock()
	defer st.mu.Unlock()
	var ids []int
	for i, l := range st.catalog {
		if l.Category == category {
			ids = append(ids, i)
		}
	}
	return ids
}

// AddBlock adds the policies of one threatstop block (their Index and Block are set here) and returns the
// block. It is called while the Corefile is parsed, before any State is loaded.
func (st *Store) AddBlock(serverBlock int, key string, policies []*Policy) *Block {
	st.mu.Lock()
	defer st.mu.Unlock()
	b := &Block{Index: len(st.blocks), ServerBlock: serverBlock, Key: key, Policies: policies, byName: map[string]*Policy{}}
	for _, p := range policies {
		p.Index, p.Block = len(st.policies), b.Index
		st.policies = append(st.policies, p)
		b.byName[p.Name] = p
	}
	st.blocks = append(st.blocks, b)
	if old := st.cur.Load(); old != nil { // not while parsing; keep the State whole anyway
		st.swap(old.Snap, old.Loaded, old.placeholder)
	}
	return b
}

// Edit changes the definition of policy name of block b while it is served: fn edits a copy of its Config
// (own block and allow entries, lists, answers, actions), the policy is built anew over the catalog, and a
// State of the current snapshot with it is published. Only that policy's sum is computed again, so only
// its serial moves (when its content changed), and the subscribers see it as a change of that policy
// alone: its secondaries get a NOTIFY, the others nothing. An error from fn or from building the policy
// changes nothing. fn runs with the Store locked: it must not call the Store.
func (st *Store) Edit(b int, name string, fn func(*policy.Config) error) (*State, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if b < 0 || b >= len(st.blocks) || st.blocks[b].byName[name] == nil {
		return nil, fmt.Errorf("no policy %q in block %d", name, b)
	}
	old := st.blocks[b].byName[name]
	cfg := old.Config.Clone()
	if err := fn(&cfg); err != nil {
		return nil, err
	}
	pol, err := policy.New(cfg, st.catalog)
	if err != nil {
		return nil, err
	}
	st.replaceLocked(b, old, old.redefined(pol, cfg))
	return st.publishLocked(), nil
}

// redefined is p with another definition, served as p is (keys, clients, rendering).
func (p *Policy) redefined(pol *policy.Policy, cfg policy.Config) *Policy {
	next := *p
	next.Policy, next.Config = pol, cfg
	return &next
}

// servedLike is a new policy, pol built from cfg at index i, served like p: its clients, transfer
// clients and rendering, not its keys (a TSIG key authenticates one policy).
func (p *Policy) servedLike(pol *policy.Policy, cfg policy.Config, i int) *Policy {
	next := *p
	next.Policy, next.Config, next.Index, next.Keys = pol, cfg, i, nil
	return &next
}

// replaceLocked puts next in the place of policy old of block b; st.mu is held. Blocks are shared by the
// States that hold them: the changed one is a new Block.
func (st *Store) replaceLocked(b int, old, next *Policy) {
	st.policies = slices.Clone(st.policies)
	st.policies[old.Index] = next
	nb := *st.blocks[b]
	nb.Policies, nb.byName = slices.Clone(nb.Policies), maps.Clone(nb.byName)
	for i, p := range nb.Policies {
		if p == old {
			nb.Policies[i] = next
		}
	}
	nb.byName[next.Name] = next
	st.blocks = slices.Clone(st.blocks)
	st.blocks[b] = &nb
}

// AddKeys lets the TSIG keys named keys (fully qualified, lowercase) transfer policy name of block b, as
// the policy's own keys do: threatadmin's devices, whose secrets the server learns when it (re)starts. The
// content, and so the serial, does not change. It publishes a State when one was published before.
func (st *Store) AddKeys(b int, name string, keys []string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if b < 0 || b >= len(st.blocks) || st.blocks[b].byName[name] == nil {
		return fmt.Errorf("no policy %q in block %d", name, b)
	}
	old := st.blocks[b].byName[name]
	next := *old
	next.Keys = maps.Clone(old.Keys)
	if next.Keys == nil {
		next.Keys = map[string]bool{}
	}
	for _, k := range keys {
		next.Keys[k] = true
	}
	st.replaceLocked(b, old, &next)
	st.publishLocked()
	return nil
}

// AddPolicy adds a policy to block b while it is served: named cfg.Name, built from cfg, served like the
// block's policy like (its clients, transfer clients and rendering; not its keys, since a TSIG key
// authenticates one policy: the new one is transferred by catalog keys and transfer clients). Its serial is the one the
// process or the serial file remembers for it when its content is the same (a restart re-adding it), else
// the current time. It publishes a State over the current snapshot.
func (st *Store) AddPolicy(b int, like string, cfg policy.Config) (*State, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if b < 0 || b >= len(st.blocks) || st.blocks[b].byName[like] == nil {
		return nil, fmt.Errorf("no policy %q in block %d", like, b)
	}
	if st.blocks[b].byName[cfg.Name] != nil {
		return nil, fmt.Errorf("policy %q exists", cfg.Name)
	}
	pol, err := policy.New(cfg, st.catalog)
	if err != nil {
		return nil, err
	}
	st.addLocked(b, like, cfg, pol)
	return st.publishLocked(), nil
}

// addLocked adds policy pol, built from cfg, to block b, served like its policy like; st.mu is held.
func (st *Store) addLocked(b int, like string, cfg policy.Config, pol *policy.Policy) {
	p := st.blocks[b].byName[like].servedLike(pol, cfg, len(st.policies))
	st.policies = append(slices.Clip(st.policies), p)
	nb := *st.blocks[b]
	nb.Policies, nb.byName = append(slices.Clip(nb.Policies), p), maps.Clone(nb.byName)
	nb.byName[cfg.Name] = p
	st.blocks = slices.Clone(st.blocks)
	st.blocks[b] = &nb
}

// RemovePolicy removes policy name from block b while it is served, and publishes a State without it.
// The policies after it in the Store take the next lower index (as new Policy values: a State's are
// never changed).
func (st *Store) RemovePolicy(b int, name string) (*State, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if b < 0 || b >= len(st.blocks) || st.blocks[b].byName[name] == nil {
		return nil, fmt.Errorf("no policy %q in block %d", name, b)
	}
	st.removeLocked(b, name)
	return st.publishLocked(), nil
}

// removeLocked removes policy name from block b; st.mu is held.
func (st *Store) removeLocked(b int, name string) {
	gone := st.blocks[b].byName[name]
	moved := map[*Policy]*Policy{}
	var policies []*Policy
	for _, p := range st.policies {
		switch {
		case p == gone:
		case p.Index > gone.Index:
			q := *p
			q.Index = len(policies)
			moved[p] = &q
			policies = append(policies, &q)
		default:
			policies = append(policies, p)
		}
	}
	st.policies = policies
	blocks := make([]*Block, len(st.blocks))
	for i, ob := range st.blocks {
		nb := *ob
		nb.Policies, nb.byName = nil, map[string]*Policy{}
		for _, p := range ob.Policies {
			if p == gone {
				continue
			}
			if q := moved[p]; q != nil {
				p = q
			}
			nb.Policies = append(nb.Policies, p)
			nb.byName[p.Name] = p
		}
		blocks[i] = &nb
	}
	st.blocks = blocks
}

// Change is one policy of a batch (Apply): Config is its whole definition, and a policy the block lacks
// is added, served like its policy Like (as AddPolicy does); with Remove, the policy goes instead.
type Change struct {
	Config policy.Config
	Like   string
	Remove bool
}

// Apply makes the changes to the policies of block b and publishes one State with them all: what a
// server that follows another's definitions needs, where thousands may come in one transfer and a State
// each would cost a build each. Removals go first, then the others in order (a policy added may serve
// as Like of a later one). Every definition is built first: an error changes nothing.
func (st *Store) Apply(b int, changes []Change) (*State, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if b < 0 || b >= len(st.blocks) {
		return nil, fmt.Errorf("no block %d", b)
	}
	names := map[string]bool{} // the block's policies once the removals are done, and as the adds go
	for n := range st.blocks[b].byName {
		names[n] = true
	}
	for _, ch := range changes {
		if ch.Remove {
			if !names[ch.Config.Name] {
				return nil, fmt.Errorf("no policy %q in block %d", ch.Config.Name, b)
			}
			delete(names, ch.Config.Name)
		}
	}
	built := make([]*policy.Policy, len(changes))
	for i, ch := range changes {
		name := ch.Config.Name
		if ch.Remove {
			continue
		}
		if !names[name] && !names[ch.Like] {
			return nil, fmt.Errorf("policy %s: no policy %q in block %d to serve it like", name, ch.Like, b)
		}
		pol, err := policy.New(ch.Config, st.catalog)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", name, err)
		}
		built[i], names[name] = pol, true
	}
	for _, ch := range changes {
		if ch.Remove {
			st.removeLocked(b, ch.Config.Name)
		}
	}
	// One copy of the policies and of the block for all the others, not one each: with thousands of
	// policies, a copy per change would make a large batch quadratic.
	st.policies = slices.Clone(st.policies)
	nb := *st.blocks[b]
	nb.Policies, nb.byName = slices.Clone(nb.Policies), maps.Clone(nb.byName)
	var pos map[string]int // by name, in nb.Policies; made at the first replacement
	for i, ch := range changes {
		if ch.Remove {
			continue
		}
		name := ch.Config.Name
		if old := nb.byName[name]; old != nil {
			if pos == nil {
				pos = make(map[string]int, len(nb.Policies))
				for k, p := range nb.Policies {
					pos[p.Name] = k
				}
			}
			next := old.redefined(built[i], ch.Config)
			st.policies[old.Index], nb.Policies[pos[name]], nb.byName[name] = next, next, next
			continue
		}
		p := nb.byName[ch.Like].servedLike(built[i], ch.Config, len(st.policies))
		if pos != nil {
			pos[name] = len(nb.Policies)
		}
		st.policies = append(st.policies, p)
		nb.Policies = append(nb.Policies, p)
		nb.byName[name] = p
	}
	st.blocks = slices.Clone(st.blocks)
	st.blocks[b] = &nb
	return st.publishLocked(), nil
}

// publishLocked publishes a State of the current snapshot with the Store's policies; st.mu is held.
func (st *Store) publishLocked() *State {
	cur := st.cur.Load()
	if cur == nil {
		return nil
	}
	return st.swap(cur.Snap, cur.Loaded, cur.placeholder)
}

// Blocks returns the blocks added so far.
func (st *Store) Blocks() []*Block {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Clone(st.blocks)
}

// Load returns the current State; it is never nil (before the first Publish, a State of an empty
// snapshot).
func (st *Store) Load() *State {
	if s := st.cur.Load(); s != nil {
		return s
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if s := st.cur.Load(); s != nil {
		return s
	}
	return st.swap(snapshot.Build(nil, nil), nil, true)
}

// Publish builds the State of a new snapshot, swaps it in and calls the subscribers with the old and the
// new State, in order. loaded is by list ID (may be nil).
func (st *Store) Publish(s *snapshot.Snapshot, loaded []time.Time) *State {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.swap(s, loaded, false)
}

// Subscribe calls fn(nil, current) now and fn(old, next) after every swap, from one goroutine at a time.
func (st *Store) Subscribe(fn func(old, next *State)) {
	cur := st.Load()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.subs = append(st.subs, fn)
	fn(nil, cur)
}

// lastChoices are the choices by score of the Store that built last, by policy.ChoiceKey: a reload's
// new Store keeps their ties, so it transfers nothing that the old configuration would not have.
var lastChoices choiceMemo

type choiceMemo struct {
	mu sync.Mutex
	m  map[string]*snapshot.Snapshot
}

func (c *choiceMemo) get(k string) *snapshot.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

func (c *choiceMemo) set(m map[string]*snapshot.Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = m
}

// swap builds the next State; st.mu is held. A placeholder (the State before the first snapshot) is
// neither remembered nor followed: the first real State takes its serials from the registry.
func (st *Store) swap(s *snapshot.Snapshot, loaded []time.Time, placeholder bool) *State {
	old := st.cur.Load()
	prev := old
	if prev != nil && prev.placeholder {
		prev = nil
	}
	next := st.build(prev, s, loaded, uint32(st.now().Unix()), placeholder)
	next.placeholder = placeholder
	st.cur.Store(next)
	if !placeholder {
		st.remember(prev, next)
	}
	for _, fn := range st.subs {
		fn(old, next)
	}
	return next
}

// build computes the sums and serials of s. A policy's serial moves on when its content sum changes;
// the sum is computed again only for policies a list of which has another version (or was withheld or
// served again). A policy new to this Store takes the serial the process or the serial file remembers
// for it, when its content is the same, so a reload or restart costs secondaries nothing. A block's zone
// serial moves on when a serial of its policies did.
func (st *Store) build(old *State, s *snapshot.Snapshot, loaded []time.Time, now uint32, placeholder bool) *State {
	next := &State{
		Version: 1, Snap: s, Loaded: loaded, Catalog: slices.Clip(st.catalog), Blocks: slices.Clip(st.blocks), Policies: slices.Clip(st.policies),
		Serials: make([]uint32, len(st.policies)), ZoneSerials: make([]uint32, len(st.blocks)), Sums: make([][sha256.Size]byte, len(st.policies)),
		Omitted: make([][]policy.Entry, len(st.policies)), Views: make([]*snapshot.Snapshot, len(st.policies)),
	}
	if old != nil {
		next.Version = old.Version + 1
	}
	// Scores depend on every list: a choice by score is made again when any list changed.
	listsChanged := old == nil || len(old.Snap.Lists) != len(s.Lists)
	for i := 0; !listsChanged && i < len(s.Lists); i++ {
		listsChanged = old.Snap.Lists[i].Version != s.Lists[i].Version || old.Snap.Lists[i].Withheld != s.Lists[i].Withheld
	}
	choices := map[string]*snapshot.Snapshot{}
	// view is the policy's choice: this Store's last one when no list changed, else made again with ties
	// kept from the last choice of its key, or (a reload, or an edit that changed the key) from the
	// process's last choice of that key or from the policy's own last view.
	view := func(p *Policy, hint *snapshot.Snapshot) *snapshot.Snapshot {
		k := p.ChoiceKey()
		if v, ok := choices[k]; ok {
			return v
		}
		v, ok := st.choices[k]
		switch {
		case ok && !listsChanged:
		case ok:
			v = p.Select(s, v)
		default:
			if prev := lastChoices.get(k); prev != nil {
				hint = prev
			}
			v = p.Select(s, hint)
		}
		choices[k] = v
		return v
	}
	sums := make(map[*entryset.Set][sha256.Size]byte, len(s.Lists))
	setSum := func(set *entryset.Set) [sha256.Size]byte {
		d, ok := sums[set]
		if !ok {
			if d, ok = st.sums[set]; !ok {
				d = set.Sum()
			}
			sums[set] = d
		}
		return d
	}
	lengths := map[*entryset.Set]int{}
	longest := func(set *entryset.Set) int {
		n, ok := lengths[set]
		if !ok {
			n = max(set.Names.Longest(), set.Wildcards.Longest())
			lengths[set] = n
		}
		return n
	}
	changed := make([]bool, len(st.blocks))
	for b := range st.blocks {
		// A policy added or removed while serving changes the block's zone (and catalog).
		changed[b] = old != nil && b < len(old.Blocks) && len(old.Blocks[b].Policies) != len(st.blocks[b].Policies)
	}
	for i, p := range st.policies {
		// The same policy in the old State, by block and name: an index moves when a policy before it goes.
		var op *Policy
		switch {
		case old != nil && i < len(old.Policies) && old.Policies[i] == p:
			op = p // where it was (an edit leaves the others there): no lookup among thousands
		case old != nil && p.Block < len(old.Blocks):
			op = old.Blocks[p.Block].Policy(p.Name)
		}
		vs := s
		if p.Chooses() && !placeholder { // a placeholder's empty lists have nothing to choose from
			var hint *snapshot.Snapshot
			if op != nil {
				hint = old.Views[op.Index]
			}
			vs = view(p, hint)
			next.Views[i] = vs
		}
		if op != nil {
			j := op.Index
			if op == p && !usesChanged(p.Policy, old.Snap, s) && !(p.Chooses() && listsChanged) {
				next.Sums[i], next.Serials[i], next.Omitted[i] = old.Sums[j], old.Serials[j], old.Omitted[j]
				continue
			}
			next.Sums[i] = contentSum(p, vs, setSum)
			if next.Sums[i] == old.Sums[j] {
				next.Serials[i], next.Omitted[i] = old.Serials[j], old.Omitted[j]
				continue
			}
			next.Serials[i] = NextSerial(old.Serials[j], now)
		} else {
			next.Sums[i] = contentSum(p, vs, setSum)
			next.Serials[i] = st.reg.serial(policyKey(st.blocks[p.Block], p.Name), next.Sums[i], now)
		}
		next.Omitted[i] = omitted(p, vs, longest)
		changed[p.Block] = true
	}
	for id := range s.Lists { // keep the digests of the current lists, and only those
		if d, ok := st.sums[s.Entries(id)]; ok {
			sums[s.Entries(id)] = d
		}
	}
	for _, v := range choices {
		for id := range v.Lists {
			if d, ok := st.sums[v.Entries(id)]; ok {
				sums[v.Entries(id)] = d
			}
		}
	}
	st.sums = sums
	if !placeholder {
		st.choices = choices
		lastChoices.set(choices) // even none: the last build's, and no older snapshot held on to
	}
	for i, b := range st.blocks {
		switch {
		case old != nil && i < len(old.ZoneSerials) && !changed[i]:
			next.ZoneSerials[i] = old.ZoneSerials[i]
		case old != nil && i < len(old.ZoneSerials):
			next.ZoneSerials[i] = NextSerial(old.ZoneSerials[i], now)
		default:
			next.ZoneSerials[i] = st.reg.serial(zoneKey(b), blockSum(b, next.Sums), now)
		}
	}
	return next
}

// omitted is rpz.Omitted under the policy's longest RPZ origin, without walking its names when none of
// its sets holds a name longer than fits there: the common case, one pass over each set's name ends
// (0.56 ms per million names, BenchmarkLongest).
func omitted(p *Policy, s *snapshot.Snapshot, longest func(*entryset.Set) int) []policy.Entry {
	if p.RPZSuffixes == nil || len(*p.RPZSuffixes) == 0 {
		return nil
	}
	suffix := ""
	for _, s := range *p.RPZSuffixes {
		if len(s) > len(suffix) {
			suffix = s
		}
	}
	origin := p.Name + suffix
	n := 0
	for _, set := range p.Sets(s) {
		n = max(n, longest(set))
	}
	if n <= rpz.MaxName(origin) {
		return nil
	}
	return rpz.Omitted(p.Policy, s, origin)
}

// contentSum is the digest of what policy p answers from s: its definition, how it is rendered, and the
// entries of each list it uses (in name order, as the definition lists them).
func contentSum(p *Policy, s *snapshot.Snapshot, setSum func(*entryset.Set) [sha256.Size]byte) [sha256.Size]byte {
	type list struct {
		name string
		sum  [sha256.Size]byte
	}
	var lists []list
	for id, l := range s.Lists {
		if !p.Uses(id) {
			continue
		}
		d := setSum(s.Entries(id))
		if l.Withheld {
			d[0] ^= 1 // a withheld list serves nothing, whatever it holds
		}
		lists = append(lists, list{l.Name, d})
	}
	slices.SortFunc(lists, func(a, b list) int { return strings.Compare(a.name, b.name) })
	h := sha256.New()
	h.Write(p.Def[:])
	render := p.RenderSum()
	h.Write(render[:])
	for _, l := range lists {
		h.Write(l.sum[:])
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// blockSum is the digest of a block's policies: their names and sums.
func blockSum(b *Block, sums [][sha256.Size]byte) [sha256.Size]byte {
	// One buffer, hashed once: thousands of small writes cost more than the hashing.
	buf := make([]byte, 0, len(b.Policies)*(sha256.Size+16))
	for _, p := range b.Policies {
		buf = append(append(append(buf, p.Name...), 0), sums[p.Index][:]...)
	}
	return sha256.Sum256(buf)
}

// usesChanged reports whether a list that p uses has another version in b than in a.
func usesChanged(p *policy.Policy, a, b *snapshot.Snapshot) bool {
	if len(a.Lists) != len(b.Lists) {
		return true
	}
	for i := range b.Lists {
		if p.Uses(i) && (a.Lists[i].Version != b.Lists[i].Version || a.Lists[i].Withheld != b.Lists[i].Withheld) {
			return true
		}
	}
	return false
}

// NextSerial is the serial after old: the current time when that is later in RFC 1982 arithmetic, which
// keeps serials increasing across restarts, else old+1.
func NextSerial(old, now uint32) uint32 {
	if int32(now-old) > 0 {
		return now
	}
	return old + 1
}

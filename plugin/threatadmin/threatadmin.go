// Package threatadmin is the management plugin: an HTTP API under /api/v1/ with which a customer edits
// the own block and allow entries of its policies while they are served. An edit is applied with one
// state.Store.Edit (a new State in which only that policy changed: its serial moves, its secondaries get a
// NOTIFY and an IXFR, the others nothing) and kept in a bbolt database, with an audit record, so a reload
// or a restart starts the policies with their edits and their serials.
//
// Cost: nothing on the query path; an edit rebuilds the policy's own entries (a few microseconds for a
// few entries) and publishes one State.
package threatadmin

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/caddy"

	"github.com/threatstop/threatstop/plugin/pkg/httplisten"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/pkg/state"
	"github.com/threatstop/threatstop/plugin/threatfeed"
	"github.com/threatstop/threatstop/plugin/threatlog"
)

// Admin is one threatadmin block.
type Admin struct {
	line      int
	listen    string
	db        string
	customers []*customer
	operators []string
	feeds     *threatfeed.Feeds    // the status of the instance's feeds, for operators
	logs      *threatlog.Threatlog // the block\'s uploaded logs, for reports; nil: none
	primary   string               // HOST:PORT the snippets name: the block's DNS address, or primary
	secrets   map[string]string    // the Corefile's TSIG secrets of the block, for the snippets
	// deviceSecrets is the block's map of TSIG secrets (the tsig plugin's) with the devices' keys added at
	// setup, what the servers were made with; nil: the block has no tsig plugin.
	deviceSecrets map[string]string
	inst          atomic.Pointer[caddy.Instance] // the instance, to restart when devices' keys change
	zone          string                         // the block's first threatstop zone
	tls           *httplisten.CertFiles          // nil: plain HTTP (loopback, or behind a proxy that terminates TLS)
	tokens        map[[sha256.Size]byte]grant    // by the token's SHA-256: the tokens themselves are not kept
	users         map[string]*user               // the portal's, by name

	store   *state.Store
	block   int
	base    map[string]ownLists // the Corefile policies' own entries as it gives them, canonical (none: a created policy's)
	defined map[string]bool     // the Corefile's policies: edited, never removed, through the API
	bolt    *adminDB            // shared with the other instances of a reload: its lock orders every edit
	release func() error
	lease   *httplisten.Lease
	opts    httplisten.Options
	once    sync.Once
	now     func() time.Time
}

// customer owns some policies of the block.
type customer struct {
	name     string
	line     int
	policies []string
}

func (c *customer) owns(p string) bool { return slices.Contains(c.policies, p) }

// grant is what a token allows: a customer's policies, or for an operator every policy of the block, the
// customers and the feeds.
type grant struct {
	customer *customer // nil for an operator
	operator string    // the operator's name
	write    bool
}

// owns reports whether g covers policy p (which the caller checks exists): an operator every policy, a
// customer those the Corefile gives it and those it created.
func (a *Admin) owns(g grant, p string) bool {
	return g.operator != "" || a.ownerOf(p) == g.customer.name
}

// who names the grant's holder in the audit log.
func (g grant) who() string {
	if g.operator != "" {
		return "operator " + g.operator
	}
	return "customer " + g.customer.name
}

// ownerOf is the customer that owns policy p, "" for none.
func (a *Admin) ownerOf(p string) string {
	a.bolt.mu.Lock()
	defer a.bolt.mu.Unlock()
	return a.ownerLocked(p)
}

// ownerLocked is ownerOf with a.bolt.mu held.
func (a *Admin) ownerLocked(p string) string {
	for _, cu := range a.customers {
		if cu.owns(p) {
			return cu.name
		}
	}
	return a.bolt.created[p].Customer
}

// Lists a customer edits.
const (
	listBlock = "block"
	listAllow = "allow"
)

// delta is what the API changed of a policy's own entries, against the Corefile's: a reload that changes
// the Corefile's entries keeps them, and the customer's edits still apply.
type delta struct {
	Owner     string     `json:"owner,omitempty"` // the customer whose policy it was edited as
	Block     change     `json:"block"`
	Allow     change     `json:"allow"`
	Selection *selection `json:"selection,omitempty"` // nil: the Corefile's
	Uses      *uses      `json:"uses,omitempty"`      // the customer's own lists it takes in; nil: none
}

// uses names the user-defined lists (of the policy's customer) whose entries a policy blocks and allows,
// beside its own.
type uses struct {
	Block []string `json:"block"`
	Allow []string `json:"allow"`
}

func (u *uses) of(list string) []string {
	if u == nil {
		return nil
	}
	if list == listAllow {
		return u.Allow
	}
	return u.Block
}

// selection is what a policy takes from the feeds, by name, as the customer chose it: on a reload or a
// restart it is resolved again, so a category takes in the feeds of that category added since.
type selection struct {
	Lists      []string          `json:"lists"`                 // feeds whose entries are listed
	Categories []string          `json:"categories"`            // every feed of these categories
	AllowLists []string          `json:"allow_lists"`           // feeds whose entries are never listed
	Answers    map[string]string `json:"answers"`               // category, default or custom → 127.0.0.x
	Actions    map[string]string `json:"actions"`               // category, default or custom → action, as in the Corefile
	MinScore   int               `json:"min_score,omitempty"`   // entries scored below are not listed
	MinScores  map[string]int    `json:"min_scores,omitempty"`  // category → its own minimum score
	MaxEntries int               `json:"max_entries,omitempty"` // only this many, the highest scored
}

// resolved is a selection in the terms of a policy.Config.
type resolved struct {
	block, allow []int
	answers      map[string]string
	actions      map[string]policy.Action
	minScore     int
	minScores    map[string]int
	maxEntries   int
}

// apply writes r into cfg. It reads no store: Store.Edit calls it with the store locked.
func (r resolved) apply(cfg *policy.Config) error {
	cfg.Block, cfg.Allow, cfg.Answers, cfg.Actions = r.block, r.allow, r.answers, r.actions
	cfg.MinScore, cfg.MinScores, cfg.MaxEntries = r.minScore, r.minScores, r.maxEntries
	return nil
}

// resolve checks sel against the store's feeds.
func (sel *selection) resolve(st *state.Store) (resolved, error) {
	var none resolved
	cat := st.Catalog()
	known := func(c string) bool {
		return c == "default" || c == policy.CustomList || slices.ContainsFunc(cat, func(l snapshot.ListInfo) bool { return l.Category == c })
	}
	ids := func(names []string) ([]int, error) {
		var out []int
		for _, n := range names {
			id, ok := st.ListID(n)
			if !ok {
				return nil, fmt.Errorf("no feed %q", n)
			}
			out = append(out, id)
		}
		return out, nil
	}
	block, err := ids(sel.Lists)
	if err != nil {
		return none, err
	}
	for _, c := range sel.Categories {
		got := st.Category(c)
		if len(got) == 0 {
			return none, fmt.Errorf("no feed of category %q", c)
		}
		block = append(block, got...)
	}
	allow, err := ids(sel.AllowLists)
	if err != nil {
		return none, err
	}
	answers := map[string]string{}
	for c, a := range sel.Answers {
		if !known(c) {
			return none, fmt.Errorf("answer for category %q, which no feed has", c)
		}
		if _, err := policy.ParseAnswer(a); err != nil {
			return none, err
		}
		answers[c] = a
	}
	actions := map[string]policy.Action{}
	for c, a := range sel.Actions {
		if !known(c) {
			return none, fmt.Errorf("action for category %q, which no feed has", c)
		}
		act, err := policy.ParseAction(strings.Fields(a))
		if err != nil {
			return none, fmt.Errorf("action for %s: %w", c, err)
		}
		actions[c] = act
	}
	if sel.MinScore < 0 || sel.MinScore > policy.MaxScore || sel.MaxEntries < 0 {
		return none, fmt.Errorf("min_score is from 0 to %d, max_entries 0 (none) or more", policy.MaxScore)
	}
	var minScores map[string]int
	for c, n := range sel.MinScores {
		if c == "default" || c == policy.CustomList || !known(c) {
			return none, fmt.Errorf("min_scores for category %q, which no feed has", c)
		}
		if n < 0 || n > policy.MaxScore {
			return none, fmt.Errorf("min_scores for %s: %d is not from 0 to %d", c, n, policy.MaxScore)
		}
		if minScores == nil {
			minScores = map[string]int{}
		}
		minScores[c] = n
	}
	slices.Sort(block)
	return resolved{block: slices.Compact(block), allow: allow, answers: answers, actions: actions,
		minScore: sel.MinScore, minScores: minScores, maxEntries: sel.MaxEntries}, nil
}

type change struct {
	Add []string `json:"add,omitempty"`
	Del []string `json:"del,omitempty"`
}

func (d *delta) of(list string) *change {
	if list == listAllow {
		return &d.Allow
	}
	return &d.Block
}

// entries is the own list named list of cfg.
func entries(cfg *policy.Config, list string) *[]string {
	if list == listAllow {
		return &cfg.Allowed
	}
	return &cfg.Blocked
}

// ownLists are a policy's own entries, canonical.
type ownLists struct{ block, allow []string }

func (o ownLists) of(list string) []string {
	if list == listAllow {
		return o.allow
	}
	return o.block
}

func canonicalAll(es []string) []string {
	out := make([]string, 0, len(es))
	seen := make(map[string]bool, len(es))
	for _, e := range es {
		if c := canonicalOr(e); !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// against is the change that makes base the list now (both canonical).
func against(base, now []string) change {
	var ch change
	inBase, inNow := setOf(base), setOf(now)
	for _, e := range now {
		if !inBase[e] {
			ch.Add = append(ch.Add, e)
		}
	}
	for _, e := range base {
		if !inNow[e] {
			ch.Del = append(ch.Del, e)
		}
	}
	return ch
}

// apply makes the Corefile's entries base what ch says. Linear: it runs on every edit, and a policy's
// own list may hold hundreds of thousands of entries.
func (ch change) apply(base []string) []string {
	del := setOf(ch.Del)
	out := make([]string, 0, len(base)+len(ch.Add))
	seen := make(map[string]bool, len(base)+len(ch.Add))
	for _, e := range base {
		c := canonicalOr(e)
		if del[c] || seen[c] {
			continue
		}
		seen[c] = true
		out = append(out, e)
	}
	for _, e := range ch.Add {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

func setOf(es []string) map[string]bool {
	m := make(map[string]bool, len(es))
	for _, e := range es {
		m[e] = true
	}
	return m
}

// canonicalOr is canonical, or e itself when it is not an entry.
func canonicalOr(e string) string {
	if c, err := policy.Canonical(e); err == nil {
		return c
	}
	return e
}

// start opens the database, applies the stored edits of the block's policies and serves the API.
func (a *Admin) start(store *state.Store, block *state.Block) error {
	a.store, a.block, a.now = store, block.Index, time.Now
	db, release, err := dbs.Acquire(a.db)
	if err != nil {
		return fmt.Errorf("db %s: %w", a.db, err)
	}
	a.bolt, a.release = db, release
	// From here on this configuration's edits are the ones served; the old one's are refused.
	db.mu.Lock()
	defer db.mu.Unlock()
	db.cur = a
	// Every policy of the block, owned or not (an operator edits those too), from the Corefile's entries.
	a.base, a.defined = map[string]ownLists{}, map[string]bool{}
	for _, sp := range block.Policies {
		a.base[sp.Name] = ownLists{block: canonicalAll(sp.Config.Blocked), allow: canonicalAll(sp.Config.Allowed)}
		a.defined[sp.Name] = true
	}
	if len(block.Policies) > 0 && len(block.Policies[0].RPZOrigins()) > 0 {
		o := block.Policies[0].RPZOrigins()[0] // POLICY.rpz.ZONE
		a.zone = o[strings.Index(o, ".rpz.")+len(".rpz."):]
	}
	// The policies created through the API, in the order they came, and then every policy's stored
	// edits, as one batch (state.Store.Apply): with 10,000 policies, one add or edit each would copy the
	// block each time. The Corefile's win over a created policy of the same name.
	var changes []state.Change
	cfgs := map[string]policy.Config{} // the definitions as the batch leaves them
	for _, sp := range block.Policies {
		cfgs[sp.Name] = sp.Config
	}
	at := map[string]int{} // the change of each policy in the batch
	cat := store.Catalog()
	names := slices.SortedFunc(maps.Keys(db.created), func(x, y string) int { return db.created[x].Created.Compare(db.created[y].Created) })
	for _, p := range names {
		c := db.created[p]
		switch {
		case block.Policy(p) != nil:
			log.Warningf("policy %s: the Corefile defines it, so customer %s's policy of that name, created through the API, is not served", p, c.Customer)
			continue
		case !slices.ContainsFunc(a.customers, func(cu *customer) bool { return cu.name == c.Customer }):
			log.Warningf("policy %s: customer %s, who created it, is no longer in the Corefile; not served", p, c.Customer)
			continue
		}
		// The template may be a policy created before this one.
		tmpl, ok := cfgs[c.Like]
		if !ok {
			log.Errorf("policy %s: the policy it was made like, %s, is gone; not served", p, c.Like)
			continue
		}
		cfg := tmpl // shared, not cloned: a Config's slices and maps are never changed in place
		cfg.Name, cfg.Blocked, cfg.Allowed = p, nil, nil
		if _, err := policy.New(cfg, cat); err != nil {
			log.Errorf("policy %s: %v; not served", p, err)
			continue
		}
		cfgs[p], at[p] = cfg, len(changes)
		changes = append(changes, state.Change{Config: cfg, Like: c.Like})
		// No entry in a.base: a created policy's own entries are all its delta's, against none.
	}
	resolvedOf := map[*selection]*resolved{} // one resolution of a selection that policies share
	edited := make([]string, 0, len(block.Policies)+len(at))
	for _, sp := range block.Policies {
		edited = append(edited, sp.Name)
	}
	for _, p := range names {
		if _, ok := at[p]; ok {
			edited = append(edited, p)
		}
	}
	for _, p := range edited {
		dp, ok := db.deltas[p]
		base, served := cfgs[p]
		if !ok || !served {
			continue
		}
		d := *dp
		if d.Owner != "" && d.Owner != a.ownerLocked(p) {
			log.Warningf("policy %s: its stored edits are customer %s's, and it is now %q's: not applied", p, d.Owner, a.ownerLocked(p))
			continue
		}
		sel, done := resolvedOf[d.Selection]
		if d.Selection != nil && !done {
			r, err := d.Selection.resolve(store)
			if err != nil {
				log.Errorf("policy %s: its stored choice of feeds does not apply (%v); served with the Corefile's", p, err)
			} else {
				sel = &r
			}
			resolvedOf[d.Selection] = sel
		}
		cfg := base
		cfg.Blocked, cfg.Allowed = d.Block.apply(cfg.Blocked), d.Allow.apply(cfg.Allowed)
		if d.Uses != nil {
			cfg.Blocked = a.withLists(a.ownerLocked(p), d.Uses, listBlock, cfg.Blocked)
			cfg.Allowed = a.withLists(a.ownerLocked(p), d.Uses, listAllow, cfg.Allowed)
		}
		if sel != nil {
			sel.apply(&cfg)
		}
		if _, err := policy.New(cfg, cat); err != nil {
			log.Errorf("policy %s: its stored edits do not apply (%v); served without them", p, err)
			continue
		}
		cfgs[p] = cfg
		if k, ok := at[p]; ok {
			changes[k].Config = cfg
		} else {
			at[p] = len(changes)
			changes = append(changes, state.Change{Config: cfg})
		}
	}
	if len(changes) > 0 {
		if _, err := store.Apply(a.block, changes); err != nil { // every definition was built above
			log.Errorf("the policies created and edited through the API: %v; served without them", err)
		}
	}
	a.startDevices(store)
	opts := httplisten.Options{
		Unavailable: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusServiceUnavailable, "shutting down")
		}),
	}
	opts.Certs = a.tls // the listener outlives a reload with the TLS settings it was opened with
	a.opts = opts
	l, err := httplisten.Acquire(pluginName, a.listen, a.handler(), opts)
	if err != nil {
		db.cur = nil
		release()
		return err
	}
	a.lease = l
	return nil
}

// restore takes the API back after a reload failed (caddy's OnRestartFailed): the new configuration's
// Admin, which caddy drops without stopping it, gives up the listener and the database, and the edits
// are this configuration's again.
func (a *Admin) restore() error {
	if a.bolt == nil {
		return nil
	}
	a.bolt.mu.Lock()
	dead := a.bolt.cur
	a.bolt.cur = a
	a.bolt.mu.Unlock()
	if l, err := httplisten.Acquire(pluginName, a.listen, a.handler(), a.opts); err == nil {
		a.lease.Release()
		a.lease = l // the newest lease: its handler is served
	} else {
		log.Errorf("after a failed reload: %v", err)
	}
	if dead != nil && dead != a {
		dead.stop()
	}
	return nil
}

func (a *Admin) stop() error {
	a.once.Do(func() {
		if a.bolt != nil {
			a.bolt.mu.Lock()
			if a.bolt.cur == a {
				a.bolt.cur = nil
			}
			a.bolt.mu.Unlock()
		}
		if a.lease != nil {
			a.lease.Release()
		}
		if a.release != nil {
			if err := a.release(); err != nil {
				log.Errorf("close %s: %v", a.db, err)
			}
		}
	})
	return nil
}

// Errors of an edit.
var (
	errNoEntry    = errors.New("no such entry")
	errSuperseded = errors.New("the configuration is being reloaded: try again")
)

// edit adds (or with remove, removes) value to list of policy p, for who from the address from. It
// reports whether anything changed; removing an entry the list does not hold is errNoEntry.
func (a *Admin) edit(who grant, from, p, list, value string, remove bool) (changed bool, serial uint32, err error) {
	action, add, del := "add", []string{value}, []string(nil)
	if remove {
		action, add, del = "remove", nil, []string{value}
	}
	res, err := a.change(who, from, p, list, add, del, false, action, value)
	if err == nil && remove && res.removed == 0 {
		err = errNoEntry
	}
	return res.added+res.removed > 0, res.serial, err
}

// changeResult is what a change did.
type changeResult struct {
	added, present, removed int
	serial                  uint32
}

// change adds the canonical entries add to list of policy p and removes del (with replace, every entry
// not in add), as one edit: one State, one serial, one audit record (action, value), for who from the
// address from.
func (a *Admin) change(who grant, from, p, list string, add, del []string, replace bool, action, value string) (changeResult, error) {
	a.bolt.mu.Lock()
	defer a.bolt.mu.Unlock()
	var res changeResult
	if a.bolt.cur != a {
		return res, errSuperseded
	}
	cur := a.store.Load().Blocks[a.block].Policy(p)
	own := a.ownLocked(p, list)
	adds, gone, present := planChange(own, add, del, replace)
	res.present = present
	if len(adds)+len(gone) == 0 {
		res.serial = a.store.Load().Serial(cur)
		return res, nil
	}
	nextOwn := append(slices.DeleteFunc(slices.Clone(own), func(e string) bool { return gone[e] }), adds...)
	d := a.deltaOf(p)
	served := a.withLists(d.Owner, d.Uses, list, nextOwn) // with the entries of the user-defined lists it takes in
	op := func(cfg *policy.Config) error {
		*entries(cfg, list) = served
		return nil
	}
	// Built before it is saved: what is saved is served.
	next := cur.Config.Clone()
	op(&next)
	if _, err := policy.New(next, a.store.Catalog()); err != nil {
		return res, err
	}
	// The delta is the list against the Corefile's, whatever the Corefile said when the entries came.
	*d.of(list) = against(a.base[p].of(list), nextOwn)
	rec := audit{Time: a.now().UTC(), Customer: a.ownerLocked(p), By: who.who(), From: from, Action: action, Policy: p, List: list, Value: value}
	st, err := a.commit(p, d, rec, op)
	if err != nil {
		return res, err
	}
	res.added, res.removed = len(adds), len(gone)
	res.serial = st.Serial(st.Blocks[a.block].Policy(p))
	return res, nil
}

// planChange is what adding the canonical entries add to the list have and removing del (with replace,
// every entry not in add) changes: the entries to add, in order and once each, those to remove, and how
// many of add the list has already.
func planChange(have, add, del []string, replace bool) (adds []string, gone map[string]bool, present int) {
	in := setOf(have)
	want := make(map[string]bool, len(add))
	for _, e := range add {
		switch {
		case want[e]:
		case in[e]:
			present++
		default:
			adds = append(adds, e)
		}
		want[e] = true
	}
	gone = map[string]bool{}
	for _, e := range del {
		if in[e] {
			gone[e] = true
		}
	}
	if replace {
		for e := range in {
			if !want[e] {
				gone[e] = true
			}
		}
	}
	return adds, gone, present
}

// choose replaces policy p's selection of feeds, answers and actions, for who from the address from.
func (a *Admin) choose(who grant, from, p string, sel selection) (uint32, error) {
	a.bolt.mu.Lock()
	defer a.bolt.mu.Unlock()
	if a.bolt.cur != a {
		return 0, errSuperseded
	}
	r, err := sel.resolve(a.store)
	if err != nil {
		return 0, errBadSelection{err}
	}
	d := a.deltaOf(p)
	d.Selection = &sel
	summary, _ := json.Marshal(sel)
	rec := audit{Time: a.now().UTC(), Customer: a.ownerLocked(p), By: who.who(), From: from, Action: "select", Policy: p, List: "selection", Value: string(summary)}
	st, err := a.commit(p, d, rec, r.apply)
	var saved errNotSaved
	switch {
	case errors.As(err, &saved):
		return 0, err
	case err != nil:
		return 0, errBadSelection{err}
	}
	return st.Serial(st.Blocks[a.block].Policy(p)), nil
}

// ownLocked is policy p's own entries of list (canonical): the Corefile's with the API's edits, without
// those of the user-defined lists it takes in. a.bolt.mu is held.
func (a *Admin) ownLocked(p, list string) []string {
	d := a.deltaOf(p)
	return d.of(list).apply(a.base[p].of(list))
}

// withLists is own, entries of list of a policy of customer owner, with those of the user-defined lists
// u names for list added once each. a.bolt.mu is held (or start runs, which holds it).
func (a *Admin) withLists(owner string, u *uses, list string, own []string) []string {
	names := u.of(list)
	if len(names) == 0 {
		return own
	}
	seen := make(map[string]bool, len(own))
	out := slices.Clone(own)
	for _, e := range own {
		seen[canonicalOr(e)] = true
	}
	for _, n := range names {
		for _, e := range a.bolt.lists[listID(owner, n)].Entries {
			if !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	}
	return out
}

// deltaOf is policy p's stored delta to change, or a new one when it was made for another customer
// (before the Corefile took the name): never carried over to this one. a.bolt.mu is held.
func (a *Admin) deltaOf(p string) delta {
	d := a.bolt.delta(p)
	if owner := a.ownerLocked(p); d.Owner != owner {
		d = delta{Owner: owner}
	}
	return d
}

// errNotSaved is an edit the database did not keep: neither kept nor served.
type errNotSaved struct{ error }

func (e errNotSaved) Unwrap() error { return e.error }

// commit keeps policy p's delta d with the audit record rec, then serves op (one state.Store.Edit). The
// database comes first, so an edit that is not kept is not served; an edit that the Store refuses sets
// the database back. a.bolt.mu is held.
func (a *Admin) commit(p string, d delta, rec audit, op func(*policy.Config) error) (*state.State, error) {
	if err := saveDelta(a.bolt.DB, p, d, rec); err != nil {
		return nil, errNotSaved{fmt.Errorf("not saved: %w", err)}
	}
	st, err := a.store.Edit(a.block, p, op)
	if err != nil {
		rec.Action = "revert"
		if rerr := saveDelta(a.bolt.DB, p, a.bolt.delta(p), rec); rerr != nil {
			log.Errorf("policy %s: an edit that failed (%v) stays in %s (%v): a restart applies it", p, err, a.db, rerr)
		}
		return nil, err
	}
	a.bolt.deltas[p] = &d
	return st, nil
}

// errBadSelection is a selection that does not fit the feeds: the client's mistake.
type errBadSelection struct{ error }

// Errors of creating and removing policies.
var (
	errExists   = errors.New("a policy of that name exists")
	errNoKey    = errors.New("the policy has no TSIG key, which this device needs")
	errNoKind   = errors.New("no such device: bind, unbound, powerdns, threatstop-sync or nftables")
	errCorefile = errors.New("the Corefile defines this policy: it can be edited, not removed")
)

// create adds policy name for customer owner, served like policy like (a copy of its lists, answers and
// actions; its clients and transfer clients, not its keys: state.Store.AddPolicy), with the own entries
// block and allow (canonical).
func (a *Admin) create(who grant, from, owner, name, like string, block, allow []string) (uint32, error) {
	a.bolt.mu.Lock()
	defer a.bolt.mu.Unlock()
	if a.bolt.cur != a {
		return 0, errSuperseded
	}
	st := a.store.Load()
	b := st.Blocks[a.block]
	if b.Policy(name) != nil {
		return 0, errExists
	}
	tmpl := b.Policy(like)
	if tmpl == nil {
		return 0, errBadSelection{fmt.Errorf("like: no policy %q", like)}
	}
	// The template's lists, answers and actions are shared, not copied (thousands of policies are made
	// like one): a Config's slices and maps are never changed in place, every edit changes a Clone.
	cfg := tmpl.Config
	cfg.Name, cfg.Blocked, cfg.Allowed = name, block, allow
	if _, err := policy.New(cfg, a.store.Catalog()); err != nil {
		return 0, errBadSelection{err}
	}
	c := createdPolicy{Customer: owner, Like: like, Created: a.now().UTC()}
	// Its choice of feeds is its own from now on, by name, whatever becomes of like's. Policies made one
	// after another like the same version of a policy share one (a selection is never changed in place:
	// choose sets a new one).
	sel := a.bolt.lastSel
	if a.bolt.lastTmpl != tmpl || sel == nil {
		sel = &selection{Lists: make([]string, 0, len(cfg.Block)), AllowLists: make([]string, 0, len(cfg.Allow)), Answers: cfg.Answers}
		for _, id := range cfg.Block {
			sel.Lists = append(sel.Lists, st.Catalog[id].Name)
		}
		for _, id := range cfg.Allow {
			sel.AllowLists = append(sel.AllowLists, st.Catalog[id].Name)
		}
		for k, act := range cfg.Actions {
			if sel.Actions == nil {
				sel.Actions = map[string]string{}
			}
			sel.Actions[k] = act.String()
		}
		a.bolt.lastTmpl, a.bolt.lastSel = tmpl, sel
	}
	d := delta{Owner: owner, Block: change{Add: block}, Allow: change{Add: allow}, Selection: sel}
	rec := audit{Time: c.Created, Customer: owner, By: who.who(), From: from, Action: "create", Policy: name, List: "policy", Value: "like " + like}
	if err := saveCreated(a.bolt.DB, name, &c, &d, rec); err != nil {
		return 0, fmt.Errorf("not saved: %w", err)
	}
	next, err := a.store.AddPolicy(a.block, like, cfg)
	if err != nil {
		rec.Action = "revert"
		if rerr := saveCreated(a.bolt.DB, name, nil, nil, rec); rerr != nil {
			log.Errorf("policy %s: a creation that failed (%v) stays in %s (%v): a restart applies it", name, err, a.db, rerr)
		}
		return 0, err
	}
	// Policies made one after another alike, without own entries, share one delta (10,000 such cost
	// 200 bytes a policy less); an edit sets its own.
	dp := &d
	if last := a.bolt.lastDelta; len(block) == 0 && len(allow) == 0 {
		if last != nil && last.Owner == d.Owner && last.Selection == d.Selection && last.Uses == nil &&
			len(last.Block.Add)+len(last.Block.Del)+len(last.Allow.Add)+len(last.Allow.Del) == 0 {
			dp = last
		}
		a.bolt.lastDelta = dp
	}
	a.bolt.created[name], a.bolt.deltas[name] = c, dp // and no a.base entry: its base is empty
	return next.Serial(next.Blocks[a.block].Policy(name)), nil
}

// remove removes policy name, one created through the API.
func (a *Admin) remove(who grant, from, name string) error {
	a.bolt.mu.Lock()
	defer a.bolt.mu.Unlock()
	if a.bolt.cur != a {
		return errSuperseded
	}
	c, ok := a.bolt.created[name]
	if !ok || a.defined[name] {
		return errCorefile
	}
	rec := audit{Time: a.now().UTC(), Customer: a.ownerLocked(name), By: who.who(), From: from, Action: "delete", Policy: name, List: "policy"}
	if err := saveCreated(a.bolt.DB, name, nil, nil, rec); err != nil {
		return fmt.Errorf("not saved: %w", err)
	}
	if _, err := a.store.RemovePolicy(a.block, name); err != nil {
		d := a.bolt.delta(name)
		rec.Action = "revert"
		if rerr := saveCreated(a.bolt.DB, name, &c, &d, rec); rerr != nil {
			log.Errorf("policy %s: a removal that failed (%v) stays in %s (%v)", name, err, a.db, rerr)
		}
		return err
	}
	delete(a.bolt.created, name)
	delete(a.bolt.deltas, name)
	delete(a.base, name)
	return nil
}

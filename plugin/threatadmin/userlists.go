package threatadmin

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
)

// User-defined lists: a customer's own lists of entries, kept once and taken in by any of its policies,
// as block or as allow entries (PUT /api/v1/policies/POLICY/lists). A policy serves its own entries with
// those of the lists it takes in; a change of a list is one edit of each policy that takes it in (their
// serials move, their secondaries get an IXFR of the change), the others are untouched.

// userList is one list, as the database keeps it.
type userList struct {
	Customer string    `json:"customer"`
	Name     string    `json:"name"`
	Entries  []string  `json:"entries"` // canonical, in the order they came
	Updated  time.Time `json:"updated"`
}

// listID keys a list in the database and in adminDB.lists.
func listID(customer, name string) string { return customer + "/" + name }

// Errors of user-defined lists.
var (
	errNoList     = errors.New("no such list")
	errListExists = errors.New("the customer has a list of that name")
	errListInUse  = errors.New("a policy takes this list in: take it out first (PUT /api/v1/policies/POLICY/lists)")
)

// usersOf are the policies of the block that take in list name of customer, by name.
func (a *Admin) usersOf(customer, name string) []string {
	var out []string
	for _, p := range a.store.Load().Blocks[a.block].Policies {
		d, ok := a.bolt.deltas[p.Name]
		if !ok || d.Owner != customer || a.ownerLocked(p.Name) != customer {
			continue
		}
		if slices.Contains(d.Uses.of(listBlock), name) || slices.Contains(d.Uses.of(listAllow), name) {
			out = append(out, p.Name)
		}
	}
	return out
}

// listChange is what a change of a list did.
type listChange struct {
	added, present, removed int
	policies                []string // those that take it in, each edited
}

// changeList makes list name of customer: with create a new one (errListExists if it is there), else an
// existing one (errNoList if not); adds the canonical entries add and removes del (with replace, every
// entry not in add); then serves the change in every policy that takes the list in. One audit record.
func (a *Admin) changeList(who grant, from, customer, name string, create bool, add, del []string, replace bool, action, value string) (listChange, error) {
	a.bolt.mu.Lock()
	defer a.bolt.mu.Unlock()
	var res listChange
	if a.bolt.cur != a {
		return res, errSuperseded
	}
	id := listID(customer, name)
	l, had := a.bolt.lists[id]
	switch {
	case create && had:
		return res, errListExists
	case !create && !had:
		return res, errNoList
	}
	adds, gone, present := planChange(l.Entries, add, del, replace)
	res.present = present
	res.added, res.removed = len(adds), len(gone)
	if !create && res.added+res.removed == 0 {
		res.policies = a.usersOf(customer, name)
		return res, nil
	}
	next := userList{Customer: customer, Name: name, Updated: a.now().UTC(),
		Entries: append(slices.DeleteFunc(slices.Clone(l.Entries), func(e string) bool { return gone[e] }), adds...)}
	rec := audit{Time: next.Updated, Customer: customer, By: who.who(), From: from, Action: action, List: "list " + name, Value: value}
	if err := save(a.bolt.DB, id, rec, write{bucketLists, next}); err != nil {
		return res, errNotSaved{fmt.Errorf("not saved: %w", err)}
	}
	a.bolt.lists[id] = next
	res.policies = a.usersOf(customer, name)
	a.reserveLocked(res.policies)
	return res, nil
}

// reserveLocked serves again the entries of policies ps (after a change of a list they take in): one
// Store.Edit each. a.bolt.mu is held.
func (a *Admin) reserveLocked(ps []string) {
	for _, p := range ps {
		d := a.deltaOf(p)
		block := a.withLists(d.Owner, d.Uses, listBlock, a.ownLocked(p, listBlock))
		allow := a.withLists(d.Owner, d.Uses, listAllow, a.ownLocked(p, listAllow))
		if _, err := a.store.Edit(a.block, p, func(cfg *policy.Config) error {
			cfg.Blocked, cfg.Allowed = block, allow
			return nil
		}); err != nil {
			log.Errorf("policy %s: the change of a list it takes in is not served: %v", p, err)
		}
	}
}

// deleteList removes list name of customer, which no policy may take in.
func (a *Admin) deleteList(who grant, from, customer, name string) error {
	a.bolt.mu.Lock()
	defer a.bolt.mu.Unlock()
	if a.bolt.cur != a {
		return errSuperseded
	}
	id := listID(customer, name)
	if _, ok := a.bolt.lists[id]; !ok {
		return errNoList
	}
	if len(a.usersOf(customer, name)) > 0 {
		return errListInUse
	}
	rec := audit{Time: a.now().UTC(), Customer: customer, By: who.who(), From: from, Action: "delete", List: "list " + name}
	if err := save(a.bolt.DB, id, rec, write{bucket: bucketLists}); err != nil {
		return errNotSaved{fmt.Errorf("not saved: %w", err)}
	}
	delete(a.bolt.lists, id)
	return nil
}

// use makes policy p take in the user-defined lists u (of its customer), for who from the address from.
func (a *Admin) use(who grant, from, p string, u uses) (uint32, error) {
	a.bolt.mu.Lock()
	defer a.bolt.mu.Unlock()
	if a.bolt.cur != a {
		return 0, errSuperseded
	}
	owner := a.ownerLocked(p)
	for _, n := range append(slices.Clone(u.Block), u.Allow...) {
		if _, ok := a.bolt.lists[listID(owner, n)]; !ok {
			return 0, errBadSelection{fmt.Errorf("no list %q of customer %s", n, owner)}
		}
	}
	u.Block, u.Allow = compact(u.Block), compact(u.Allow)
	d := a.deltaOf(p)
	d.Uses = &u
	if len(u.Block)+len(u.Allow) == 0 {
		d.Uses = nil
	}
	block := a.withLists(owner, d.Uses, listBlock, a.ownLocked(p, listBlock))
	allow := a.withLists(owner, d.Uses, listAllow, a.ownLocked(p, listAllow))
	rec := audit{Time: a.now().UTC(), Customer: owner, By: who.who(), From: from, Action: "use", Policy: p, List: "lists",
		Value: "block " + strconv.Quote(fmt.Sprint(u.Block)) + " allow " + strconv.Quote(fmt.Sprint(u.Allow))}
	st, err := a.commit(p, d, rec, func(cfg *policy.Config) error {
		cfg.Blocked, cfg.Allowed = block, allow
		return nil
	})
	if err != nil {
		return 0, err
	}
	return st.Serial(st.Blocks[a.block].Policy(p)), nil
}

// compact is names sorted, each once.
func compact(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

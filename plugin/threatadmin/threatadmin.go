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
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/httplisten"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/state"

	bolt "go.etcd.io/bbolt"
)

// Admin is one threatadmin block.
type Admin struct {
	line      int
	listen    string
	db        string
	customers []*customer
	tokens    map[[sha256.Size]byte]grant // by the token's SHA-256: the tokens themselves are not kept

	store   *state.Store
	block   int
	mu      sync.Mutex // one edit at a time: the store's Edit, the database and the deltas agree
	deltas  map[string]delta
	bolt    *bolt.DB
	release func() error
	lease   *httplisten.Lease
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

// grant is what a token allows.
type grant struct {
	customer *customer
	write    bool
}

// Lists a customer edits.
const (
	listBlock = "block"
	listAllow = "allow"
)

// delta is what the API changed of a policy's own entries, against the Corefile's: a reload that changes
// the Corefile's entries keeps them, and the customer's edits still apply.
type delta struct {
	Block change `json:"block"`
	Allow change `json:"allow"`
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

// apply makes the Corefile's entries base what ch says.
func (ch change) apply(base []string) []string {
	out := slices.DeleteFunc(slices.Clone(base), func(e string) bool { return slices.Contains(ch.Del, canonicalOr(e)) })
	for _, e := range ch.Add {
		if !slices.ContainsFunc(out, func(o string) bool { return canonicalOr(o) == e }) {
			out = append(out, e)
		}
	}
	return out
}

// canonical is the form an entry is kept and compared in: an address as netip writes it, a prefix with
// its host bits cleared (a full-length one as its address), a name in lowercase without a trailing dot,
// *.name for a name and its subdomains.
func canonical(e string) (string, error) {
	e = strings.TrimSpace(e)
	if err := policy.ValidEntry(e); err != nil {
		return "", err
	}
	if a, err := netip.ParseAddr(e); err == nil {
		return a.Unmap().String(), nil
	}
	if p, err := netip.ParsePrefix(e); err == nil {
		p = p.Masked()
		if p.Bits() == p.Addr().BitLen() {
			return p.Addr().Unmap().String(), nil
		}
		return p.String(), nil
	}
	return strings.TrimSuffix(strings.ToLower(e), "."), nil
}

// canonicalOr is canonical, or e itself when it is not an entry.
func canonicalOr(e string) string {
	if c, err := canonical(e); err == nil {
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
	if a.deltas, err = loadDeltas(db); err != nil {
		release()
		return fmt.Errorf("db %s: %w", a.db, err)
	}
	for _, cu := range a.customers {
		for _, p := range cu.policies {
			d, ok := a.deltas[p]
			if !ok {
				continue
			}
			if _, err := store.Edit(a.block, p, func(cfg *policy.Config) error {
				cfg.Blocked, cfg.Allowed = d.Block.apply(cfg.Blocked), d.Allow.apply(cfg.Allowed)
				return nil
			}); err != nil {
				log.Errorf("policy %s: its stored edits do not apply (%v); served without them", p, err)
			}
		}
	}
	l, err := httplisten.Acquire(pluginName, a.listen, a.handler(), httplisten.Options{
		Unavailable: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusServiceUnavailable, "shutting down")
		}),
	})
	if err != nil {
		release()
		return err
	}
	a.lease = l
	return nil
}

func (a *Admin) stop() error {
	a.once.Do(func() {
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
	errNoEntry = errors.New("no such entry")
)

// edit adds (or with remove, removes) value to list of policy p, for who from the address from. It
// reports whether anything changed.
func (a *Admin) edit(who grant, from, p, list, value string, remove bool) (changed bool, serial uint32, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.deltas[p]
	ch := d.of(list)
	cur := a.store.Load().Blocks[a.block].Policy(p)
	have := slices.ContainsFunc(*entries(&cur.Config, list), func(e string) bool { return canonicalOr(e) == value })
	switch {
	case remove && !have:
		return false, 0, errNoEntry
	case !remove && have:
		return false, a.store.Load().Serial(cur), nil
	case remove:
		if i := slices.Index(ch.Add, value); i >= 0 {
			ch.Add = slices.Delete(slices.Clone(ch.Add), i, i+1)
		} else {
			ch.Del = append(slices.Clone(ch.Del), value)
		}
	default:
		if i := slices.Index(ch.Del, value); i >= 0 {
			ch.Del = slices.Delete(slices.Clone(ch.Del), i, i+1)
		} else {
			ch.Add = append(slices.Clone(ch.Add), value)
		}
	}
	op := func(cfg *policy.Config) error {
		l := entries(cfg, list)
		if remove {
			*l = slices.DeleteFunc(*l, func(e string) bool { return canonicalOr(e) == value })
		} else {
			*l = append(*l, value)
		}
		return nil
	}
	undo := func(cfg *policy.Config) error {
		l := entries(cfg, list)
		*l = slices.Clone(*entries(&cur.Config, list))
		return nil
	}
	action := "add"
	if remove {
		action = "remove"
	}
	rec := audit{Time: a.now().UTC(), Customer: who.customer.name, From: from, Action: action, Policy: p, List: list, Value: value}
	// The database first: an edit that is not kept is not served either.
	if err := saveDelta(a.bolt, p, d, rec); err != nil {
		return false, 0, fmt.Errorf("not saved: %w", err)
	}
	st, err := a.store.Edit(a.block, p, op)
	if err != nil {
		_ = saveDelta(a.bolt, p, a.deltas[p], audit{Time: a.now().UTC(), Customer: who.customer.name, From: from, Action: "revert", Policy: p, List: list, Value: value})
		_, _ = a.store.Edit(a.block, p, undo)
		return false, 0, err
	}
	a.deltas[p] = d
	return true, st.Serial(st.Blocks[a.block].Policy(p)), nil
}

package state

import "github.com/coredns/caddy"

// storageKey keys the Store of one CoreDNS instance in caddy's instance storage: every plugin block of a
// Corefile shares it, and a reload starts a fresh one.
type storageKey struct{}

// FromController returns the Store of the controller's instance, creating it on first use.
func FromController(c *caddy.Controller) *Store {
	if st, ok := c.Get(storageKey{}).(*Store); ok {
		return st
	}
	st := NewStore()
	c.Set(storageKey{}, st)
	return st
}

// FromInstance returns the Store of a running instance, nil when none was created: for what reaches an
// instance from outside a Corefile (tests, a management API started with it).
func FromInstance(inst *caddy.Instance) *Store {
	inst.StorageMu.RLock()
	defer inst.StorageMu.RUnlock()
	st, _ := inst.Storage[storageKey{}].(*Store)
	return st
}

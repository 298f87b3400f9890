package threatstop

import (
	"slices"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// Accessors for the threatlog plugin, which matches uploaded logs against the policies of the same
// server block and authenticates customers by their policies' TSIG keys.

// Policies returns the policies this block defines, in the order of the Corefile.
func (t *Threatstop) Policies() []*policy.Policy {
	out := make([]*policy.Policy, len(t.order))
	for i, p := range t.order {
		out[i] = p.Policy
	}
	return out
}

// PolicyKeys returns the TSIG key names (lowercase, fully qualified) of the policy called name, sorted.
func (t *Threatstop) PolicyKeys(name string) []string {
	p := t.policies[name]
	if p == nil {
		return nil
	}
	keys := make([]string, 0, len(p.keys))
	for k := range p.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Snapshot returns the snapshot the policies answer from now.
func (t *Threatstop) Snapshot() *snapshot.Snapshot { return t.state.Load().snap }

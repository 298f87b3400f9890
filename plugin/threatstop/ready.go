package threatstop

// Ready implements ready.Readiness: not ready until every feed has loaded once (the State's snapshot holds
// a version of each), so that a threatstop server block reports readiness even when the threatfeed block
// sits in another server block.
func (t *Threatstop) Ready() bool { return t.store.Load().Ready() }

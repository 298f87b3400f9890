package threatstop

// Ready implements ready.Readiness: not ready until every feed has loaded once (the State's snapshot holds
// a version of each), so that a threatstop server block reports readiness even when the threatfeed block
// sits in another server block; an edge that follows a configuration zone, not until it applied it once.
func (t *Threatstop) Ready() bool {
	return t.store.Load().Ready() && (t.follow == nil || t.follow.loaded.Load())
}

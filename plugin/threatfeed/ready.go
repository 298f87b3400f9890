package threatfeed

// Ready implements ready.Readiness: not ready until every feed has loaded once.
func (t *Threatfeed) Ready() bool { return t.Feeds.Ready() }

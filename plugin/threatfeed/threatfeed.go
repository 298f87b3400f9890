// Package threatfeed is a CoreDNS plugin that keeps named threat feeds current and compiles them into
// one shared, immutable snapshot (package snapshot) that the threatstop plugin answers from. Feeds are
// polled on their own jittered schedules; a change triggers a rebuild off the query path, and rebuilds
// that pile up while one is running coalesce into one. The new snapshot replaces the old with one atomic
// store.
package threatfeed

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/feed"
	"github.com/threatstop/threatstop/plugin/pkg/feedcache"
	"github.com/threatstop/threatstop/plugin/pkg/sensor"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/pkg/source"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// Threatfeed is the plugin handler. It answers nothing itself; it is in the chain so that the ready
// plugin can ask whether every feed has loaded.
type Threatfeed struct {
	Next  plugin.Handler
	Feeds *Feeds
}

// ServeDNS implements plugin.Handler: threatfeed is in the chain to report readiness and to take the NOTIFY
// of the zones its axfr feeds transfer; it passes every other query on directly, without
// plugin.NextOrFailure's frame on the stack of every query.
func (t *Threatfeed) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if r.Opcode == dns.OpcodeNotify {
		if rcode, done := t.Feeds.notify(w, r); done {
			return rcode, nil
		}
	}
	if t.Next == nil {
		return plugin.NextOrFailure(t.Name(), nil, ctx, w, r)
	}
	return t.Next.ServeDNS(ctx, w, r)
}

// Name implements plugin.Handler.
func (t *Threatfeed) Name() string { return pluginName }

// Feeds is the set of feeds of one CoreDNS instance and the snapshot compiled from them.
type Feeds struct {
	feeds  []*feed.Feed
	byName map[string]int

	cache         *feedcache.Dir // nil: no on-disk cache
	statusAddr    string         // "": no status endpoint
	maxConcurrent int            // remote fetches at once
	limiter       chan struct{}

	snap  atomic.Pointer[snapshot.Snapshot] // the last one built, which the next build shares parts of
	store *state.Store                      // where each snapshot is published
	mu    sync.Mutex                        // one rebuild at a time

	dirty   chan struct{}
	kick    []chan struct{} // per feed: fetch now (a NOTIFY came)
	start   sync.Once
	stop    sync.Once
	cancel  context.CancelFunc
	running sync.WaitGroup
	status  *statusServer

	// The sensors feeds' settings of the shared sensor table, applied at start-up (a reload that fails
	// changes nothing): the longest window, and the fewest reporters Check IoC may tell a count of,
	// the lowest min_reporters (0: no sensors feed; the table's default then).
	sensorTable    *sensor.Table
	sensorWindow   time.Duration
	sensorDisclose int

	logMu   sync.Mutex
	lastErr []string // per feed, the last error logged, so a lasting failure is logged once
	stale   []bool   // per feed, whether it was stale at its last check
}

func newFeeds(store *state.Store) *Feeds {
	f := &Feeds{byName: map[string]int{}, dirty: make(chan struct{}, 1), maxConcurrent: DefaultMaxConcurrent, store: store}
	f.snap.Store(snapshot.Build(nil, nil))
	return f
}

func (f *Feeds) add(fd *feed.Feed) {
	if id := f.store.AddList(snapshot.ListInfo{Name: fd.Name, Category: fd.Category}); id != len(f.feeds) {
		panic("threatfeed: list IDs out of step with the state's catalog")
	}
	f.byName[fd.Name] = len(f.feeds)
	f.feeds = append(f.feeds, fd)
	f.lastErr = append(f.lastErr, "")
	f.kick = append(f.kick, make(chan struct{}, 1))
	f.stale = append(f.stale, false)
}

func (f *Feeds) has(name string) bool { _, ok := f.byName[name]; return ok }

// Snapshot returns the current snapshot; it is never nil.
func (f *Feeds) Snapshot() *snapshot.Snapshot { return f.snap.Load() }

// Ready reports whether the State being served holds a loaded version of every feed (from its source or
// from the on-disk cache). It asks the State, not the feeds, because a feed's first version is only
// answered from once the rebuild that follows it has been swapped in.
func (f *Feeds) Ready() bool { return f.store.Load().Ready() }

// local reports whether a feed's source answers at once (a file), so start-up may wait for it.
func local(fd *feed.Feed) bool {
	_, ok := fd.Source.(*source.File)
	return ok
}

// Start loads every feed's cached version, then every local feed from its source, compiles the first
// snapshot and starts the refresh loops. It runs in OnStartup, before the servers listen, so the first
// query already sees the feeds. Remote feeds are fetched in the background from the start, so a restart
// with the network down serves the cached data at once. A feed that cannot be loaded is logged and
// retried on its schedule; the others are served meanwhile.
func (f *Feeds) Start() error {
	var err error
	f.start.Do(func() {
		names := make([]string, len(f.feeds))
		for i, fd := range f.feeds {
			names[i] = fd.Name
		}
		feedSeries.Replace(names) // the series of feeds a reload removed go
		if f.sensorTable != nil {
			f.sensorTable.SetWindow(f.sensorWindow)
			f.sensorTable.SetDisclosed(f.sensorDisclose)
		} else {
			sensor.Shared().SetDisclosed(sensor.DefaultMinReporters)
		}
		for _, fd := range f.feeds {
			loadErrors.WithLabelValues(fd.Name) // export 0 from the start, so alerts on increase work
			staleGauge.WithLabelValues(fd.Name) // and fresh (0) until checkStale says otherwise
			fd.Cache = f.cache
		}
		if f.cache != nil {
			// Serials beside the feed cache: a restart that serves the cached data keeps them.
			f.store.Persist(filepath.Join(f.cache.Path, "serials.json"))
		}
		f.limiter = make(chan struct{}, f.maxConcurrent)
		for _, fd := range f.feeds {
			if h, ok := fd.Source.(*source.HTTP); ok {
				h.Limiter = f.limiter
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		f.cancel = cancel
		f.loadCaches()
		var wg sync.WaitGroup
		work := make(chan int)
		for range min(runtime.GOMAXPROCS(0), len(f.feeds)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					f.update(ctx, i)
				}
			}()
		}
		for i, fd := range f.feeds {
			if local(fd) {
				work <- i
			}
		}
		close(work)
		wg.Wait()
		f.rebuild()
		// Loading every feed at once leaves its file buffers and parse arrays behind as garbage, the
		// largest heap the process will have; hand it back to the kernel now rather than as the scavenger
		// gets to it, so the resident memory from the start is the data's.
		debug.FreeOSMemory()

		f.running.Add(1 + len(f.feeds))
		go f.rebuilder(ctx)
		for i := range f.feeds {
			go f.poll(ctx, i)
		}
		if f.statusAddr != "" {
			f.status, err = startStatus(f.statusAddr, f)
		}
	})
	return err
}

// loadCaches serves each feed's cached version until its source answers.
func (f *Feeds) loadCaches() {
	if f.cache == nil {
		return
	}
	for _, fd := range f.feeds {
		switch err := fd.LoadCache(); {
		case errors.Is(err, feedcache.ErrNone):
		case err != nil:
			cacheErrors.WithLabelValues(fd.Name, "load").Inc()
			log.Warningf("feed %s: cache ignored: %v", fd.Name, err)
		default:
			c := fd.Content()
			log.Infof("feed %s: serving the cached version of %s, %d entries", fd.Name, c.Loaded.Format(time.RFC3339), c.Set.Len())
			f.record(fd, c)
		}
	}
}

// Stop ends the refresh loops and the status endpoint, and waits for them.
func (f *Feeds) Stop() error {
	f.stop.Do(func() {
		if f.cancel != nil {
			f.cancel()
			f.running.Wait()
		}
		if f.status != nil {
			f.status.release(f)
		}
	})
	return nil
}

// jitter spreads d by ±10%, so that many servers polling one source do not ask in the same second.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

func (f *Feeds) poll(ctx context.Context, i int) {
	defer f.running.Done()
	fd := f.feeds[i]
	wait := jitter(fd.Refresh)
	if !local(fd) {
		wait = 0 // remote feeds were not fetched during start-up
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.kick[i]:
			t.Stop()
		}
		changed := f.update(ctx, i)
		if f.checkStale(i) && fd.DropStale {
			changed = true // a stale feed enters or leaves the snapshot
		}
		if changed {
			select {
			case f.dirty <- struct{}{}:
			default: // a rebuild is already pending; it will read this feed's new content
			}
		}
		t.Reset(jitter(fd.Refresh))
	}
}

func (f *Feeds) rebuilder(ctx context.Context) {
	defer f.running.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.dirty:
			f.rebuild()
		}
	}
}

// checkStale records whether feed i is stale now and reports whether that changed.
func (f *Feeds) checkStale(i int) bool {
	fd := f.feeds[i]
	stale := fd.Stale(time.Now())
	f.logMu.Lock()
	defer f.logMu.Unlock()
	if stale == f.stale[i] {
		return false
	}
	f.stale[i] = stale
	staleGauge.WithLabelValues(fd.Name).Set(b2f(stale))
	switch {
	case stale && fd.DropStale:
		log.Errorf("feed %s (%s): not refreshed for more than %s; no longer served", fd.Name, fd.Source, fd.MaxAge)
	case stale:
		log.Errorf("feed %s (%s): not refreshed for more than %s; still served", fd.Name, fd.Source, fd.MaxAge)
	default:
		log.Infof("feed %s (%s): fresh again", fd.Name, fd.Source)
	}
	return true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// update refreshes feed i, logs and records the outcome, and reports whether its content changed.
func (f *Feeds) update(ctx context.Context, i int) bool {
	fd := f.feeds[i]
	wasHeld := fd.Held()
	changed, stats, err := fd.Update(ctx)
	st := fd.Status()
	f.logMu.Lock()
	switch {
	case err != nil:
		loadErrors.WithLabelValues(fd.Name).Inc()
		if msg := err.Error(); msg != f.lastErr[i] {
			log.Errorf("feed %s (%s): %s", fd.Name, fd.Source, msg)
			f.lastErr[i] = msg
		}
	case st.LastError != nil:
		// The rejected version is still there, unchanged: already reported.
	default:
		if f.lastErr[i] != "" {
			log.Infof("feed %s (%s): loading again", fd.Name, fd.Source)
		}
		f.lastErr[i] = ""
		lastSuccess.WithLabelValues(fd.Name).Set(float64(st.LastSuccess.Unix()))
	}
	f.logMu.Unlock()
	if st.CacheError != nil && changed {
		cacheErrors.WithLabelValues(fd.Name, "save").Inc()
		log.Warningf("feed %s: writing the cache: %v", fd.Name, st.CacheError)
	}
	recordHeld(fd)
	if changed || err != nil && stats.Lines > 0 {
		invalidLines.WithLabelValues(fd.Name).Set(float64(stats.Invalid))
		skippedLines.WithLabelValues(fd.Name).Set(float64(stats.Skipped))
		for _, s := range stats.Samples {
			log.Warningf("feed %s (%s): %s", fd.Name, fd.Source, s)
		}
		if stats.Invalid > len(stats.Samples) {
			log.Warningf("feed %s (%s): %d invalid lines in all", fd.Name, fd.Source, stats.Invalid)
		}
	}
	if changed {
		c := fd.Content()
		if wasHeld != nil && !wasHeld.NeedsOperator && c.Set.Equal(wasHeld.Set) {
			log.Warningf("feed %s (%s): the version held since %s is served now: the source served it for %s (max_shrink_hold %s) and on %d fetches; %s",
				fd.Name, fd.Source, wasHeld.Since.Format(time.RFC3339), time.Since(wasHeld.Since).Round(time.Second), fd.MaxShrinkHold, wasHeld.Fetches+1, wasHeld.Reason)
		}
		f.record(fd, c)
		log.Infof("feed %s (%s): version %d, %d entries", fd.Name, fd.Source, c.Version, c.Set.Len())
		if a, ok := fd.Source.(*source.AXFR); ok {
			serial, how, n := a.Held()
			log.Infof("feed %s: zone %s at serial %d by %s, %d records", fd.Name, a.Zone, serial, how, n)
		}
	}
	return changed
}

// recordHeld exports what the feed holds back now.
func recordHeld(fd *feed.Feed) {
	h := fd.Held()
	heldGauge.WithLabelValues(fd.Name).Set(b2f(h != nil))
	var since, release float64
	if h != nil {
		since = float64(h.Since.Unix())
		if !h.NeedsOperator {
			release = float64(h.ReleaseAfter.Unix())
		}
	}
	heldSince.WithLabelValues(fd.Name).Set(since)
	heldRelease.WithLabelValues(fd.Name).Set(release)
}

// record exports the metrics and logs of a version being served.
func (f *Feeds) record(fd *feed.Feed, c *feed.Content) {
	entries.WithLabelValues(fd.Name).Set(float64(c.Set.Len()))
	lastChange.WithLabelValues(fd.Name).Set(float64(c.Loaded.Unix()))
	for _, why := range []string{"reserved", "private", "broad"} {
		guardDropped.WithLabelValues(fd.Name, why).Set(float64(c.Dropped.Count[why]))
	}
	if n := c.Dropped.Total(); n > 0 {
		log.Infof("feed %s: %d entries dropped or trimmed because they must never be blocked, e.g. %v", fd.Name, n, c.Dropped.Samples)
	}
	if feed.AllSkipped(c.Stats) {
		// An empty version taken because the feed may be empty, or one after an empty version: served,
		// but a format that does not fit the source looks the same.
		log.Warningf("feed %s (%s): version %d has no entries: every line skipped (%s); serving it empty", fd.Name, fd.Source, c.Version, feed.SkipSummary(c.Stats, fd.Format))
	}
}

// rebuild compiles what each feed serves now into a new snapshot and publishes it: the state store
// builds the State of it (serials) and swaps that in.
func (f *Feeds) rebuild() {
	f.mu.Lock()
	defer f.mu.Unlock()
	start := time.Now()
	lists := make([]snapshot.List, len(f.feeds))
	loaded := make([]time.Time, len(f.feeds))
	for i, fd := range f.feeds {
		lists[i] = snapshot.List{Name: fd.Name, Category: fd.Category, Confidence: fd.Confidence, Severity: fd.Severity}
		if c := fd.Serving(start); c != nil {
			lists[i].Version, lists[i].Set = c.Version, c.Entries()
			loaded[i] = c.Loaded
		} else if c := fd.Content(); c != nil {
			lists[i].Version, lists[i].Withheld = c.Version, true // stale and dropped: loaded, not served
			loaded[i] = c.Loaded
		}
	}
	s := snapshot.Build(lists, f.snap.Load())
	took := time.Since(start)
	buildDuration.Observe(took.Seconds())
	snapshotPrefixes.Set(float64(s.Prefixes()))
	snapshotNames.Set(float64(s.Names()))
	log.Debugf("snapshot: %d prefixes, %d names, %d list sets, built in %s", s.Prefixes(), s.Names(), s.Sets(), took)

	f.snap.Store(s)
	f.store.Publish(s, loaded)
}

// notify answers a NOTIFY (RFC 1996) for the zone of an axfr feed and has the feed check its primary at
// once. Only the primary the feed transfers from may send it; from anyone else it is REFUSED. A NOTIFY
// for another zone is not ours (done is false).
func (f *Feeds) notify(w dns.ResponseWriter, r *dns.Msg) (rcode int, done bool) {
	if len(r.Question) != 1 {
		return 0, false
	}
	zone := strings.ToLower(dns.Fqdn(r.Question[0].Name))
	var from net.IP
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		from = a.IP
	case *net.TCPAddr:
		from = a.IP
	}
	matched, accepted := false, false
	for i, fd := range f.feeds {
		a, ok := fd.Source.(*source.AXFR)
		if !ok || a.Zone != zone {
			continue
		}
		matched = true
		if from == nil || !a.Host().Equal(from) {
			continue
		}
		accepted = true
		a.Notify()
		select {
		case f.kick[i] <- struct{}{}:
		default: // a fetch is already due
		}
	}
	if !matched {
		return 0, false
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if !accepted {
		log.Warningf("NOTIFY for %s from %v refused: not the primary of any feed of that zone", zone, from)
		m.Rcode = dns.RcodeRefused
	}
	w.WriteMsg(m)
	return m.Rcode, true
}

// Package threatfeed is a CoreDNS plugin that keeps named threat feeds current and compiles them into
// one shared, immutable snapshot (package snapshot) that the threatstop plugin answers from. Feeds are
// polled on their own schedules; a change triggers a rebuild off the query path, and rebuilds that pile
// up while one is running coalesce into one. The new snapshot replaces the old with one atomic store.
package threatfeed

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/feed"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// Threatfeed is the plugin handler. It answers nothing itself; it is in the chain so that the ready
// plugin can ask whether every feed has loaded.
type Threatfeed struct {
	Next  plugin.Handler
	Feeds *Feeds
}

// ServeDNS implements plugin.Handler.
func (t *Threatfeed) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	return plugin.NextOrFailure(t.Name(), t.Next, ctx, w, r)
}

// Name implements plugin.Handler.
func (t *Threatfeed) Name() string { return pluginName }

// Feeds is the set of feeds of one CoreDNS instance and the snapshot compiled from them.
type Feeds struct {
	feeds  []*feed.Feed
	byName map[string]int

	snap atomic.Pointer[snapshot.Snapshot]

	mu   sync.Mutex // orders snapshot swaps and subscriber calls
	subs []func(*snapshot.Snapshot)

	dirty   chan struct{}
	start   sync.Once
	stop    sync.Once
	cancel  context.CancelFunc
	running sync.WaitGroup

	lastErr []string // per feed, the last error logged, so a lasting failure is logged once
}

func newFeeds() *Feeds {
	f := &Feeds{byName: map[string]int{}, dirty: make(chan struct{}, 1)}
	f.snap.Store(snapshot.Build(nil))
	return f
}

func (f *Feeds) add(fd *feed.Feed) {
	f.byName[fd.Name] = len(f.feeds)
	f.feeds = append(f.feeds, fd)
	f.lastErr = append(f.lastErr, "")
}

func (f *Feeds) has(name string) bool { _, ok := f.byName[name]; return ok }

// ListID returns the list ID of the feed called name.
func (f *Feeds) ListID(name string) (int, bool) {
	id, ok := f.byName[name]
	return id, ok
}

// Category returns the list IDs of every feed of a category.
func (f *Feeds) Category(category string) []int {
	var ids []int
	for i, fd := range f.feeds {
		if fd.Category == category {
			ids = append(ids, i)
		}
	}
	return ids
}

// Catalog describes every list by ID, for building policies.
func (f *Feeds) Catalog() policy.Catalog {
	cat := make(policy.Catalog, len(f.feeds))
	for i, fd := range f.feeds {
		cat[i] = snapshot.ListInfo{Name: fd.Name, Category: fd.Category}
	}
	return cat
}

// Snapshot returns the current snapshot; it is never nil.
func (f *Feeds) Snapshot() *snapshot.Snapshot { return f.snap.Load() }

// Subscribe calls fn with the current snapshot now and with every new one after it is swapped in, in
// order, from one goroutine at a time.
func (f *Feeds) Subscribe(fn func(*snapshot.Snapshot)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, fn)
	fn(f.snap.Load())
}

// Ready reports whether the snapshot being served holds a loaded version of every feed. It asks the
// snapshot, not the feeds, because a feed's first version is only answered from once the rebuild that
// follows it has been swapped in.
func (f *Feeds) Ready() bool {
	s := f.snap.Load()
	if len(s.Lists) != len(f.feeds) {
		return false
	}
	for _, l := range s.Lists {
		if l.Version == 0 {
			return false
		}
	}
	return true
}

// Start loads every feed once, compiles the first snapshot, and starts the refresh loops. It runs in
// OnStartup, before the servers listen, so the first query already sees the feeds. A feed that cannot be
// loaded is logged and retried on its schedule; the others are served meanwhile.
func (f *Feeds) Start() error {
	f.start.Do(func() {
		for _, fd := range f.feeds {
			loadErrors.WithLabelValues(fd.Name) // export 0 from the start, so alerts on increase work
		}
		ctx, cancel := context.WithCancel(context.Background())
		f.cancel = cancel
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
		for i := range f.feeds {
			work <- i
		}
		close(work)
		wg.Wait()
		f.rebuild()

		f.running.Add(1 + len(f.feeds))
		go f.rebuilder(ctx)
		for i := range f.feeds {
			go f.poll(ctx, i)
		}
	})
	return nil
}

// Stop ends the refresh loops and waits for them.
func (f *Feeds) Stop() error {
	f.stop.Do(func() {
		if f.cancel != nil {
			f.cancel()
			f.running.Wait()
		}
	})
	return nil
}

func (f *Feeds) poll(ctx context.Context, i int) {
	defer f.running.Done()
	t := time.NewTicker(f.feeds[i].Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if f.update(ctx, i) {
				select {
				case f.dirty <- struct{}{}:
				default: // a rebuild is already pending; it will read this feed's new content
				}
			}
		}
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

// update refreshes feed i, logs and records the outcome, and reports whether its content changed.
func (f *Feeds) update(ctx context.Context, i int) bool {
	fd := f.feeds[i]
	changed, stats, err := fd.Update(ctx)
	st := fd.Status()
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
		entries.WithLabelValues(fd.Name).Set(float64(c.Set.Len()))
		lastChange.WithLabelValues(fd.Name).Set(float64(c.Loaded.Unix()))
		log.Infof("feed %s (%s): version %d, %d entries", fd.Name, fd.Source, c.Version, c.Set.Len())
	}
	return changed
}

// rebuild compiles the feeds' current contents into a new snapshot and swaps it in.
func (f *Feeds) rebuild() {
	start := time.Now()
	lists := make([]snapshot.List, len(f.feeds))
	for i, fd := range f.feeds {
		lists[i] = snapshot.List{Name: fd.Name, Category: fd.Category}
		if c := fd.Content(); c != nil {
			lists[i].Version, lists[i].Set = c.Version, c.Set
		}
	}
	s := snapshot.Build(lists)
	took := time.Since(start)
	buildDuration.Observe(took.Seconds())
	snapshotPrefixes.Set(float64(s.Prefixes()))
	snapshotNames.Set(float64(s.Names()))
	log.Debugf("snapshot: %d prefixes, %d names, %d list sets, built in %s", s.Prefixes(), s.Names(), s.Sets(), took)

	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap.Store(s)
	for _, fn := range f.subs {
		fn(s)
	}
}

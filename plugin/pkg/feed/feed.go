// Package feed keeps one named threat feed current: it fetches the source, parses it, removes what must
// never be blocked, checks that the result is believable, and only then replaces the last good content.
// Nothing a source does can make the feed serve less than its last good version without a second look:
//
//   - a version that cannot be read, or that has more invalid lines than entries, is rejected;
//   - a version with no entries after a version with entries is held until an operator accepts it;
//   - a version that loses more than MaxShrink of the entries is held until it has been seen for
//     MaxShrinkHold and on ShrinkFetches fetches (a source that lost most of its list for a day says so
//     on purpose; a glitch, even one repeated for a few fetches, does not last that long) or an operator
//     accepts it; a version with other entries starts the hold again;
//   - a first version with no entries whose every line was skipped (a format that does not fit the
//     source) is rejected, unless AllowEmpty says the feed may be empty.
//
// Rejections and holds are returned as errors for the log and the metrics; the last good version keeps
// being served. Accepted versions are written to the on-disk cache, which a restart loads first; a hold
// is not, so a restart starts it again.
package feed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/feedcache"
	"github.com/threatstop/threatstop/plugin/pkg/format"
	"github.com/threatstop/threatstop/plugin/pkg/guard"
	"github.com/threatstop/threatstop/plugin/pkg/source"
)

// Errors that reject or hold a new version and keep the last good one.
var (
	ErrGarbage = errors.New("more invalid lines than entries")
	ErrEmpty   = errors.New("no entries, after having had entries before")
	ErrShrink  = errors.New("lost too many entries")
	// ErrAllSkipped rejects a first version that has no entries because every data line was skipped.
	ErrAllSkipped = errors.New("no entries: every line skipped")
	// ErrNotHeld and ErrOtherHeld refuse an operator's accept.
	ErrNotHeld   = errors.New("no version is held back")
	ErrOtherHeld = errors.New("another version is held back now")
)

// DefaultMaxShrink is the share of entries a new version may lose before it is held back.
const DefaultMaxShrink = 0.5

// DefaultMaxShrinkHold is how long a version that lost more than MaxShrink is held back while the
// source keeps serving it.
const DefaultMaxShrinkHold = 24 * time.Hour

// ShrinkFetches is how many fetches, the first included, must have seen a shrunk version before it is
// served, however long it was held: with a refresh as long as the hold, two sightings are not yet a
// pattern.
const ShrinkFetches = 3

// Feed is one named list. Its configuration fields are set before the first Update and never change.
type Feed struct {
	Name      string
	Category  string
	Format    string // the format's name, for the cache and the status
	Source    source.Source
	Parser    format.Parser
	Refresh   time.Duration
	Guard     guard.Guard
	MaxShrink float64 // share of entries a version may lose without being held; 1 turns the check off
	// MaxShrinkHold is how long a shrunk version must keep being seen (and on ShrinkFetches fetches)
	// before it is served; 0 leaves the fetches alone to decide.
	MaxShrinkHold time.Duration
	AllowEmpty    bool             // a first version whose every line was skipped is a valid empty feed
	MayEmpty      bool             // a computed list (sensors): empty and shrunk versions are served like any other
	MaxAge        time.Duration    // older than this since the last successful check is stale; 0: never
	DropStale     bool             // a stale feed stops being served (else it keeps being served, and is reported)
	Cache         *feedcache.Dir   // nil: no on-disk cache
	Confidence    uint8            // 0 to 100: what one entry vouches for (decay.go)
	Severity      string           // how bad what it lists is, as the operator grades it: shown, not scored
	Decay         time.Duration    // an entry the source drops lingers this long, fading; 0: dropped at once
	Now           func() time.Time // the clock of holds and checks; nil: time.Now

	mu      sync.Mutex        // serialises Update, LoadCache and Accept
	judged  error             // the verdict on the last body fetched: nil when it is served, else why not
	lastSum [sha256.Size]byte // of the last body fetched: what "not modified" vouches for
	content atomic.Pointer[Content]
	held    atomic.Pointer[Held]
	status  atomic.Pointer[Status]
}

// Content is one accepted version of a feed.
type Content struct {
	Set       *entryset.Set
	Version   uint64 // 1 for the first accepted version, then one more per accepted change
	Sum       [sha256.Size]byte
	Stats     format.Stats  // of the parse that produced Set
	Dropped   guard.Dropped // what the guard removed from it
	Loaded    time.Time     // when this version was accepted
	FromCache bool          // loaded from the on-disk cache, not yet confirmed by the source

	// With Decay: what is served (Set and what lingers, with their confidences) and when each of its
	// entries was last seen (Unix seconds), in Served's order, 0 for Set's entries: those were last seen
	// at Confirmed, when the source last served Set. Nil without Decay.
	Served    *entryset.Set
	Seen      []uint32
	Confirmed uint32
}

// Held is a version held back by the shrink or emptiness check. A Held is never changed once stored: a
// fetch that sees it again stores a copy.
type Held struct {
	Content
	Reason        string
	Since         time.Time // the fetch that first saw it
	Seen          time.Time // the latest fetch that saw it
	Fetches       int       // fetches that saw it, the first included
	ReleaseAfter  time.Time // a shrunk version is served by the first fetch that sees it from then on, once ShrinkFetches have; zero when NeedsOperator
	NeedsOperator bool      // an empty version is never confirmed by fetching it again

	err        error // the hold, as first reported
	body       []byte
	validators map[string]string
}

// due reports whether a shrunk version seen again at now has been held long enough.
func (h *Held) due(now time.Time) bool {
	return !h.NeedsOperator && h.Fetches >= ShrinkFetches && !now.Before(h.ReleaseAfter)
}

// Status is the outcome of the latest attempts.
type Status struct {
	LastAttempt time.Time
	LastSuccess time.Time // last fetch after which the served content is the source's, changed or not
	LastError   error     // of the latest attempt that judged a version; nil when it succeeded
	CacheError  error     // of the latest attempt to write the cache
	Stats       format.Stats
}

// Content returns the last good version, nil before the first one.
func (f *Feed) Content() *Content { return f.content.Load() }

// Held returns the version held back, nil when there is none.
func (f *Feed) Held() *Held { return f.held.Load() }

func (f *Feed) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// Status returns the outcome of the latest attempts; the zero Status before the first.
func (f *Feed) Status() Status {
	if s := f.status.Load(); s != nil {
		return *s
	}
	return Status{}
}

// Stale reports whether the feed has not been checked successfully for longer than MaxAge. A feed with
// no successful check yet counts from its cached version's load, if any.
func (f *Feed) Stale(now time.Time) bool {
	if f.MaxAge <= 0 {
		return false
	}
	last := f.Status().LastSuccess
	if last.IsZero() {
		c := f.Content()
		if c == nil {
			return false // nothing to be stale
		}
		last = c.Loaded
	}
	return now.Sub(last) > f.MaxAge
}

// Serving returns the entries the snapshot should hold for this feed now: the last good version, or
// nothing when it is stale and DropStale is set.
func (f *Feed) Serving(now time.Time) *Content {
	if f.DropStale && f.Stale(now) {
		return nil
	}
	return f.Content()
}

// Update fetches and judges the source's current version, and reports whether the served content changed.
// The returned Stats are those of the parse, if one happened, so the caller can log invalid lines even
// when the version is rejected.
func (f *Feed) Update(ctx context.Context) (changed bool, stats format.Stats, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	st := f.Status()
	st.LastAttempt = now
	data, err := f.Source.Fetch(ctx)
	if errors.Is(err, source.ErrNotModified) {
		// The same bytes as last time, which were judged then. A held version seen again counts a fetch
		// towards its release; a rejected one stays rejected without being reported again.
		if h := f.held.Load(); h != nil && !h.NeedsOperator && f.lastSum == h.Sum {
			if h = f.seenAgain(h, h.Content, h.body, h.validators, now); h.due(now) {
				f.accept(&st, h.Content, h.body, h.validators, now)
				f.judged = nil
				st.LastError, st.LastSuccess = nil, now
				f.status.Store(&st)
				return true, h.Stats, nil
			}
		}
		st.LastError = f.judged
		if f.judged == nil {
			st.LastSuccess = now
		}
		f.status.Store(&st)
		return f.reage(now, f.judged == nil), st.Stats, nil
	}
	defer func() {
		st.LastError = err
		if err == nil {
			st.LastSuccess = now
		}
		f.status.Store(&st)
	}()
	if err != nil {
		return f.reage(now, false), st.Stats, err // a failed fetch judges no body
	}
	defer func() { f.judged = err }()
	validators := validatorsOf(f.Source)
	old := f.content.Load()
	sum := sha256.Sum256(data)
	f.lastSum = sum
	if old != nil && sum == old.Sum {
		// Back to (or still at) the served version: a held version was a glitch.
		f.held.Store(nil)
		if old.FromCache {
			c := *old
			c.FromCache = false
			f.content.Store(&c)
		}
		return f.reage(now, true), old.Stats, nil
	}
	if h := f.held.Load(); h != nil && sum == h.Sum {
		if h.NeedsOperator {
			return f.reage(now, false), h.Stats, fmt.Errorf("%s; held until an operator accepts it", h.Reason)
		}
		if h = f.seenAgain(h, h.Content, data, validators, now); !h.due(now) {
			return f.reage(now, false), h.Stats, h.err
		}
		f.accept(&st, h.Content, data, validators, now)
		return true, h.Stats, nil
	}

	c, err := f.parse(data, sum, now)
	if err != nil {
		return f.reage(now, false), c.Stats, err
	}
	st.Stats = c.Stats
	if old == nil && !f.AllowEmpty && AllSkipped(c.Stats) {
		return false, c.Stats, f.allSkipped(c.Stats)
	}
	if old != nil {
		if h := f.held.Load(); h != nil && !h.NeedsOperator && c.Set.Equal(h.Set) {
			// The held entries in other bytes (a new date in a header): the same version seen again.
			if h = f.seenAgain(h, c, data, validators, now); !h.due(now) {
				return f.reage(now, false), c.Stats, h.err
			}
			f.accept(&st, h.Content, data, validators, now)
			return true, c.Stats, nil
		}
		if held, why := f.check(old, c); held != nil {
			held.Since, held.Seen, held.Fetches, held.body, held.validators = now, now, 1, data, validators
			if !held.NeedsOperator {
				held.ReleaseAfter = now.Add(f.MaxShrinkHold)
			}
			held.err = fmt.Errorf("%w: %s; %s", why, held.Reason, f.heldUntil(held))
			f.held.Store(held)
			return f.reage(now, false), c.Stats, held.err
		}
		if c.Set.Equal(old.Set) && slices.Equal(c.Set.Conf, old.Set.Conf) {
			// Same entries in other bytes (comments, order): remember the bytes, keep the version.
			c.Version, c.Loaded = old.Version, old.Loaded
			changed := f.age(&c, old, now, true)
			if changed {
				c.Version++
			}
			f.content.Store(&c)
			f.held.Store(nil)
			f.save(&st, data, validators, now)
			return changed, c.Stats, nil
		}
	}
	f.accept(&st, c, data, validators, now)
	return true, c.Stats, nil
}

// seenAgain stores and returns a copy of h that counts one more fetch, at now, of the version c (h's
// entries, in these bytes).
func (f *Feed) seenAgain(h *Held, c Content, body []byte, validators map[string]string, now time.Time) *Held {
	n := *h
	n.Content, n.body, n.validators = c, body, validators
	n.Seen = now
	n.Fetches++
	f.held.Store(&n)
	return &n
}

// AllSkipped reports whether a parse found no entries because it skipped every data line it read.
func AllSkipped(st format.Stats) bool { return st.Entries == 0 && st.Skipped > 0 }

// SkipSummary says how many lines a parse skipped, with the format's name and the most common reason
// when the parser named one: "120 lines skipped by format adblock, 118 as \"option\"".
func SkipSummary(st format.Stats, formatName string) string {
	s := fmt.Sprintf("%d lines skipped", st.Skipped)
	if formatName != "" {
		s += " by format " + formatName
	}
	if reason, n := st.TopSkip(); reason != "" {
		s += fmt.Sprintf(", %d as %q", n, reason)
	}
	return s
}

func (f *Feed) allSkipped(st format.Stats) error {
	return fmt.Errorf("%w (%s); not loaded: the format may not fit the source (set allow_empty if the feed may be empty)", ErrAllSkipped, SkipSummary(st, f.Format))
}

// parse turns a body into a candidate version, or rejects it as garbage.
func (f *Feed) parse(data []byte, sum [sha256.Size]byte, now time.Time) (Content, error) {
	var b entryset.Builder
	if old := f.content.Load(); old != nil && old.Set != nil {
		// A new version is usually about the size of the last: a little more room than it took.
		o := old.Set
		b.Grow(len(o.V4)+len(o.V4)/16, len(o.V6)+len(o.V6)/16, o.Names.Len()+o.Names.Len()/16,
			o.Names.Bytes()+o.Wildcards.Bytes())
	}
	c := Content{Sum: sum, Loaded: now}
	// The body is never written after a fetch returns it, so the parser may read it as a string without
	// a copy; entries that outlive the parse are copied out by Builder.Set.
	f.Parser.Parse(unsafe.String(unsafe.SliceData(data), len(data)), &b, &c.Stats)
	if c.Stats.Invalid > c.Stats.Entries {
		return c, fmt.Errorf("%w (%d invalid, %d entries); keeping the last good version", ErrGarbage, c.Stats.Invalid, c.Stats.Entries)
	}
	c.Set, c.Dropped = f.Guard.Apply(b.Set())
	if w, ok := f.Source.(source.Weigher); ok {
		c.Set.Conf = w.Weigh(c.Set, f.conf255())
	}
	return c, nil
}

// check returns the candidate as a held version, with the reason as an error, when it must not replace
// old without a second look.
func (f *Feed) check(old *Content, c Content) (*Held, error) {
	n, was := c.Set.Len(), old.Set.Len()
	switch {
	case f.MayEmpty:
	case n == 0 && was > 0:
		reason := fmt.Sprintf("no entries, after %d", was)
		if AllSkipped(c.Stats) {
			reason = fmt.Sprintf("no entries (every line skipped: %s), after %d", SkipSummary(c.Stats, f.Format), was)
		}
		return &Held{Content: c, Reason: reason, NeedsOperator: true}, ErrEmpty
	case f.MaxShrink < 1 && float64(n) < float64(was)*(1-f.MaxShrink):
		return &Held{Content: c, Reason: fmt.Sprintf("%d entries, down from %d (more than %.0f%% lost)", n, was, 100*f.MaxShrink)}, ErrShrink
	}
	return nil, nil
}

func (f *Feed) heldUntil(h *Held) string {
	if h.NeedsOperator {
		return "keeping the last good version until an operator accepts this one"
	}
	if f.MaxShrinkHold <= 0 {
		return fmt.Sprintf("keeping the last good version until the source has served this one on %d fetches, or an operator accepts it", ShrinkFetches)
	}
	return fmt.Sprintf("keeping the last good version until the source has served this one for %s and on %d fetches, or an operator accepts it", f.MaxShrinkHold, ShrinkFetches)
}

// reage ages what lingers at now and serves the result as a new version when it changed (an entry left,
// or a confidence moved on); the served version's own entries are the same. confirmed says whether the
// source served them now: else (a failed fetch, a rejected or held version) they keep their last sighting
// and their confidence, and only what already lingered ages, so a bad feed unblocks nothing it vouched for.
func (f *Feed) reage(now time.Time, confirmed bool) bool {
	old := f.content.Load()
	if f.Decay <= 0 || old == nil {
		return false
	}
	c := *old
	changed := f.age(&c, old, now, confirmed)
	if changed {
		c.Version = old.Version + 1
	}
	if changed || c.Confirmed != old.Confirmed {
		f.content.Store(&c)
	}
	return changed
}

// Accept makes the held version the served one, on an operator's word. It reports whether there was one.
func (f *Feed) Accept() bool {
	_, err := f.AcceptHeld(nil)
	return err == nil
}

// AcceptHeld makes the held version the served one, on an operator's word, and returns it. With sum, it
// accepts only the version of that SHA-256 (ErrOtherHeld when another is held now), so that an operator
// who looked at one held version does not accept the next one by mistake.
func (f *Feed) AcceptHeld(sum []byte) (*Held, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.held.Load()
	switch {
	case h == nil:
		return nil, ErrNotHeld
	case sum != nil && !bytes.Equal(sum, h.Sum[:]):
		return nil, ErrOtherHeld
	}
	st := f.Status()
	f.accept(&st, h.Content, h.body, h.validators, f.now())
	if c := f.content.Load(); c.Served != nil && !h.Seen.IsZero() {
		// The source last served these entries when the held version was last fetched, not now.
		n := *c
		n.Confirmed = min(n.Confirmed, uint32(h.Seen.Unix()))
		f.content.Store(&n)
	}
	f.judged, st.LastError = nil, nil
	f.status.Store(&st)
	return h, nil
}

// accept serves c and writes it to the cache.
func (f *Feed) accept(st *Status, c Content, body []byte, validators map[string]string, now time.Time) {
	c.Version = 1
	if old := f.content.Load(); old != nil {
		c.Version = old.Version + 1
	}
	c.Loaded, c.FromCache = now, false
	f.age(&c, f.content.Load(), now, true)
	f.content.Store(&c)
	f.held.Store(nil)
	st.Stats = c.Stats
	f.save(st, body, validators, now)
}

func (f *Feed) save(st *Status, body []byte, validators map[string]string, now time.Time) {
	if f.Cache == nil {
		return
	}
	st.CacheError = f.Cache.Save(feedcache.Meta{
		Feed: f.Name, Source: f.Source.String(), Format: f.Format, Fetched: now, Validators: validators,
	}, body)
}

// LoadCache serves the cached version, if there is an intact one written for the same source and format,
// and restores the source's validators so that its first fetch can be conditional. It returns
// feedcache.ErrNone when there is nothing to load.
func (f *Feed) LoadCache() error {
	if f.Cache == nil {
		return feedcache.ErrNone
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m, body, err := f.Cache.Load(f.Name)
	if err != nil {
		return err
	}
	if m.Source != f.Source.String() || m.Format != f.Format {
		return fmt.Errorf("cached version is of %s (format %s), not of the configured source; ignored", m.Source, m.Format)
	}
	c, err := f.parse(body, sha256.Sum256(body), m.Fetched)
	if err == nil && !f.AllowEmpty && AllSkipped(c.Stats) {
		err = f.allSkipped(c.Stats)
	}
	if err != nil {
		return fmt.Errorf("cached version: %w", err)
	}
	c.Version, c.FromCache = 1, true
	f.age(&c, nil, m.Fetched, true)
	f.content.Store(&c)
	f.lastSum = c.Sum
	if r, ok := f.Source.(source.Revalidator); ok && m.Validators != nil {
		r.SetValidators(m.Validators)
	}
	return nil
}

func validatorsOf(s source.Source) map[string]string {
	if r, ok := s.(source.Revalidator); ok {
		return r.Validators()
	}
	return nil
}

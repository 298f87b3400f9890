package feed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/feedcache"
	"github.com/threatstop/threatstop/plugin/pkg/format"
	"github.com/threatstop/threatstop/plugin/pkg/guard"
	"github.com/threatstop/threatstop/plugin/pkg/source"
)

const good = "1.10.16.1\n5.188.10.0/24\nbad.example\n"

func newFeed(t *testing.T, body string) (*Feed, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "feed.txt")
	write(t, path, body)
	p, err := format.New("plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Feed{Name: "f", Category: "c", Format: "plain", Source: &source.File{Path: path}, Parser: p,
		Guard: guard.Default(), MaxShrink: DefaultMaxShrink}, path
}

// write replaces the file the way feed publishers do: a temporary file renamed over the old one.
func write(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func update(t *testing.T, f *Feed) (bool, error) {
	t.Helper()
	changed, _, err := f.Update(context.Background())
	return changed, err
}

func entries(f *Feed) int { return f.Content().Set.Len() }

// lines returns n distinct public addresses, one a line.
func lines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "5.%d.%d.1\n", 100+i/250, i%250)
	}
	return b.String()
}

func TestUpdate(t *testing.T) {
	f, path := newFeed(t, good)
	if changed, err := update(t, f); !changed || err != nil {
		t.Fatalf("first load: changed=%v err=%v", changed, err)
	}
	if entries(f) != 3 || f.Content().Version != 1 {
		t.Fatalf("first load: %d entries, version %d", entries(f), f.Content().Version)
	}
	if changed, err := update(t, f); changed || err != nil {
		t.Fatalf("unchanged file: changed=%v err=%v", changed, err)
	}
	// The same entries in other bytes keep the version; other entries make a new one.
	write(t, path, "# reordered\nbad.example\n5.188.10.0/24\n1.10.16.1\n")
	if changed, err := update(t, f); changed || err != nil || f.Content().Version != 1 {
		t.Fatalf("same entries: changed=%v err=%v version=%d", changed, err, f.Content().Version)
	}
	write(t, path, "1.10.16.1\n1.10.16.2\n")
	if changed, err := update(t, f); !changed || err != nil || f.Content().Version != 2 || entries(f) != 2 {
		t.Fatalf("new entries: changed=%v err=%v version=%d entries=%d", changed, err, f.Content().Version, entries(f))
	}
}

func TestKeepsLastGood(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(path string) error
		want   error
	}{
		{"empty", func(p string) error { return os.WriteFile(p, nil, 0o644) }, ErrEmpty},
		{"only comments", func(p string) error { return os.WriteFile(p, []byte("# nothing today\n"), 0o644) }, ErrEmpty},
		{"only reserved space", func(p string) error { return os.WriteFile(p, []byte("10.0.0.1\n127.0.0.1\n"), 0o644) }, ErrEmpty},
		{"html error page", func(p string) error {
			return os.WriteFile(p, []byte("<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<h1>502</h1>\n</body>\n</html>\n"), 0o644)
		}, ErrGarbage},
		{"mostly garbage", func(p string) error {
			return os.WriteFile(p, []byte("1.10.16.9\nfoo bar\nbaz qux\n%%%\n"), 0o644)
		}, ErrGarbage},
		{"binary", func(p string) error { return os.WriteFile(p, []byte("\x00\x01\xff\xfe\n\x89PNG\r\n\x1a\n"), 0o644) }, ErrGarbage},
		{"shrunk", func(p string) error { return os.WriteFile(p, []byte("1.10.16.1\n"), 0o644) }, ErrShrink},
		{"deleted", os.Remove, os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, path := newFeed(t, good)
			if _, err := update(t, f); err != nil {
				t.Fatal(err)
			}
			served := f.Content()
			if err := tc.break_(path); err != nil {
				t.Fatal(err)
			}
			changed, err := update(t, f)
			if changed || !errors.Is(err, tc.want) {
				t.Fatalf("changed=%v err=%v, want %v", changed, err, tc.want)
			}
			if f.Content() != served {
				t.Fatal("the last good content was replaced")
			}
			st := f.Status()
			if st.LastError == nil || !st.LastSuccess.Before(st.LastAttempt) {
				t.Fatalf("status after failure: %+v", st)
			}
			// A good file again is taken, and whatever was held is dropped.
			write(t, path, "1.10.16.7\n1.10.16.8\n1.10.16.9\n")
			if changed, err := update(t, f); !changed || err != nil || entries(f) != 3 || f.Status().LastError != nil || f.Held() != nil {
				t.Fatalf("recovery: changed=%v err=%v entries=%d", changed, err, entries(f))
			}
		})
	}
}

// TestRejectedStaysRejected: a rejected version seen again unchanged is not accepted, nor reported anew.
func TestRejectedStaysRejected(t *testing.T) {
	f, path := newFeed(t, good)
	update(t, f)
	os.WriteFile(path, []byte("<html>\n<body>oops</body>\n</html>\n"), 0o644)
	if _, err := update(t, f); !errors.Is(err, ErrGarbage) {
		t.Fatal(err)
	}
	if changed, err := update(t, f); changed || err != nil || f.Status().LastError == nil {
		t.Fatalf("second look: changed=%v err=%v status=%v", changed, err, f.Status().LastError)
	}
}

// clock is a test clock that moves only when told to.
type clock struct{ t time.Time }

func (c *clock) now() time.Time            { return c.t }
func (c *clock) add(d time.Duration)       { c.t = c.t.Add(d) }
func newClock() *clock                     { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }
func body(b string) func() ([]byte, error) { return func() ([]byte, error) { return []byte(b), nil } }

// queue is a Source that returns what a test pushes, one body (or error) per Fetch, and "not modified"
// when nothing is pushed.
type queue struct{ next []func() ([]byte, error) }

func (q *queue) push(steps ...func() ([]byte, error)) { q.next = append(q.next, steps...) }
func (q *queue) Fetch(context.Context) ([]byte, error) {
	if len(q.next) == 0 {
		return nil, source.ErrNotModified
	}
	step := q.next[0]
	q.next = q.next[1:]
	return step()
}
func (q *queue) String() string { return "queue" }

// heldFeed is a feed with a test clock and a queue source, serving lines(100).
func heldFeed(t *testing.T) (*Feed, *queue, *clock) {
	t.Helper()
	p, _ := format.New("plain", nil)
	q, c := &queue{}, newClock()
	f := &Feed{Name: "f", Format: "plain", Parser: p, Guard: guard.Default(), MaxShrink: DefaultMaxShrink,
		MaxShrinkHold: DefaultMaxShrinkHold, Source: q, Now: c.now}
	q.push(body(lines(100)))
	if changed, err := update(t, f); !changed || err != nil {
		t.Fatalf("first load: changed=%v err=%v", changed, err)
	}
	return f, q, c
}

// wantHeld fails unless the feed still serves lines(100) and holds a version with the given entries,
// first seen at since and seen on fetches fetches.
func wantHeld(t *testing.T, f *Feed, what string, n int, since time.Time, fetches int) {
	t.Helper()
	h := f.Held()
	switch {
	case entries(f) != 100:
		t.Fatalf("%s: %d entries served, want the last good 100", what, entries(f))
	case h == nil:
		t.Fatalf("%s: nothing held", what)
	case h.Set.Len() != n || !h.Since.Equal(since) || h.Fetches != fetches || h.NeedsOperator:
		t.Fatalf("%s: held %d entries since %s on %d fetches (needs operator %v), want %d since %s on %d",
			what, h.Set.Len(), h.Since, h.Fetches, h.NeedsOperator, n, since, fetches)
	case !h.ReleaseAfter.Equal(since.Add(f.MaxShrinkHold)):
		t.Fatalf("%s: release after %s, want %s", what, h.ReleaseAfter, since.Add(f.MaxShrinkHold))
	}
}

// TestShrinkHeldForMaxShrinkHold: a source that keeps serving a tenth of its list is not believed on its
// second fetch: the shrunk version is served only once it has been seen for max_shrink_hold and on
// ShrinkFetches fetches, whichever comes last.
func TestShrinkHeldForMaxShrinkHold(t *testing.T) {
	f, q, c := heldFeed(t)
	t0 := c.now()
	q.push(body(lines(10)))
	if changed, err := update(t, f); changed || !errors.Is(err, ErrShrink) {
		t.Fatalf("shrink: changed=%v err=%v", changed, err)
	}
	wantHeld(t, f, "first sighting", 10, t0, 1)
	// Seen again five minutes later (not modified) and an hour later (the same bytes again): still held.
	c.add(5 * time.Minute)
	if changed, _ := update(t, f); changed {
		t.Fatal("served on its second fetch")
	}
	wantHeld(t, f, "second sighting", 10, t0, 2)
	c.add(time.Hour)
	q.push(body(lines(10)))
	if changed, err := update(t, f); changed || !errors.Is(err, ErrShrink) {
		t.Fatalf("third sighting: changed=%v err=%v", changed, err)
	}
	wantHeld(t, f, "third sighting, before the hold ends", 10, t0, 3)
	c.add(f.MaxShrinkHold - time.Hour - 5*time.Minute - time.Second)
	update(t, f)
	wantHeld(t, f, "a second before the hold ends", 10, t0, 4)
	c.add(time.Second)
	if changed, err := update(t, f); !changed || err != nil || entries(f) != 10 || f.Held() != nil || f.Content().Version != 2 {
		t.Fatalf("hold over: changed=%v err=%v entries=%d held=%v", changed, err, entries(f), f.Held())
	}
	if f.Status().LastError != nil {
		t.Fatalf("status after the release: %v", f.Status().LastError)
	}
}

// TestShrinkHoldNeedsFetches: with a refresh as long as the hold, the time alone does not release a
// shrunk version; ShrinkFetches fetches must have seen it.
func TestShrinkHoldNeedsFetches(t *testing.T) {
	f, q, c := heldFeed(t)
	t0 := c.now()
	q.push(body(lines(10)))
	update(t, f)
	c.add(f.MaxShrinkHold)
	update(t, f)
	wantHeld(t, f, "seen twice, the hold's time over", 10, t0, 2)
	c.add(f.MaxShrinkHold)
	if changed, err := update(t, f); !changed || err != nil || entries(f) != 10 {
		t.Fatalf("third fetch: changed=%v err=%v entries=%d", changed, err, entries(f))
	}

	// With max_shrink_hold 0, the fetches alone decide.
	f, q, c = heldFeed(t)
	f.MaxShrinkHold = 0
	q.push(body(lines(10)))
	update(t, f)
	update(t, f)
	wantHeld(t, f, "hold 0, seen twice", 10, c.now(), 2)
	if changed, _ := update(t, f); !changed || entries(f) != 10 {
		t.Fatalf("hold 0, third fetch: changed=%v entries=%d", changed, entries(f))
	}
}

// TestShrinkHoldRestarts: another shrunk version starts the hold again; the full version again ends it;
// the held entries in other bytes (a new date in the header) are the same version seen again; a body
// rejected in between is no sighting.
func TestShrinkHoldRestarts(t *testing.T) {
	f, q, c := heldFeed(t)
	q.push(body(lines(10)))
	update(t, f)
	c.add(23 * time.Hour)
	update(t, f)
	// Another shrunk version, nearly a day on: held from now, its own fetches.
	t1 := c.now()
	q.push(body(lines(20)))
	if _, err := update(t, f); !errors.Is(err, ErrShrink) {
		t.Fatalf("another shrunk version: %v", err)
	}
	wantHeld(t, f, "another shrunk version", 20, t1, 1)
	c.add(2 * time.Hour)
	update(t, f)
	c.add(time.Hour)
	update(t, f)
	wantHeld(t, f, "another shrunk version, three fetches, a day from the first", 20, t1, 3)

	// The same entries with a new header line: seen again, not restarted.
	c.add(time.Hour)
	q.push(body("# generated later\n" + lines(20)))
	if _, err := update(t, f); !errors.Is(err, ErrShrink) {
		t.Fatalf("same entries, other bytes: %v", err)
	}
	wantHeld(t, f, "same entries, other bytes", 20, t1, 4)

	// A rejected body and its "not modified" are no sighting, nor do they end the hold.
	c.add(f.MaxShrinkHold)
	q.push(body("<html>\n<body>maintenance</body>\n</html>\n"))
	if _, err := update(t, f); !errors.Is(err, ErrGarbage) {
		t.Fatalf("html: %v", err)
	}
	update(t, f)
	wantHeld(t, f, "after a rejected body", 20, t1, 4)

	// The full version again: the hold is over; a shrink after that starts from the beginning.
	q.push(body(lines(100)))
	if changed, err := update(t, f); changed || err != nil || f.Held() != nil || entries(f) != 100 {
		t.Fatalf("back to normal: changed=%v err=%v held=%v", changed, err, f.Held())
	}
	c.add(time.Minute)
	q.push(body(lines(20)))
	update(t, f)
	wantHeld(t, f, "shrunk again after the full version", 20, c.now(), 1)
}

// TestFlappingFeed: a source that alternates between a full and a shrunk version never gets the shrunk
// one served: each shrunk version is followed by the full one, which discards it.
func TestFlappingFeed(t *testing.T) {
	f, path := newFeed(t, lines(100))
	update(t, f)
	for i := range 10 {
		write(t, path, lines(10)+fmt.Sprintf("# flap %d\n", i))
		if _, err := update(t, f); !errors.Is(err, ErrShrink) {
			t.Fatalf("flap %d: %v", i, err)
		}
		write(t, path, lines(100))
		if _, err := update(t, f); err != nil {
			t.Fatalf("flap %d back: %v", i, err)
		}
		if entries(f) != 100 || f.Held() != nil {
			t.Fatalf("flap %d: %d entries served, held %v", i, entries(f), f.Held())
		}
	}
}

func TestShrinkWithinLimit(t *testing.T) {
	f, path := newFeed(t, lines(100))
	update(t, f)
	write(t, path, lines(60))
	if changed, err := update(t, f); !changed || err != nil || entries(f) != 60 {
		t.Fatalf("40%% loss: changed=%v err=%v entries=%d", changed, err, entries(f))
	}
	f.MaxShrink = 1 // off
	write(t, path, lines(1))
	if changed, err := update(t, f); !changed || err != nil || entries(f) != 1 {
		t.Fatalf("check off: changed=%v err=%v entries=%d", changed, err, entries(f))
	}
}

// TestEmptyNeedsOperator: an empty version is never confirmed by fetching it again, only by Accept.
func TestEmptyNeedsOperator(t *testing.T) {
	f, path := newFeed(t, good)
	update(t, f)
	write(t, path, "; EOF\n")
	for range 3 {
		if _, err := update(t, f); entries(f) != 3 || f.Held() == nil || !f.Held().NeedsOperator {
			t.Fatalf("empty: err=%v entries=%d", err, entries(f))
		}
	}
	if !f.Accept() || entries(f) != 0 || f.Held() != nil || f.Status().LastError != nil {
		t.Fatalf("accept: entries=%d held=%v", entries(f), f.Held())
	}
	if f.Accept() {
		t.Fatal("accepted with nothing held")
	}
}

func TestGuard(t *testing.T) {
	f, _ := newFeed(t, "0.0.0.0/8\n10.0.0.0/8\n1.10.16.1\n224.0.0.0/3\n192.0.0.0/8\nfe80::1\n2a00:4c80::/29\n")
	update(t, f)
	c := f.Content()
	// 1.10.16.1, 2a00:4c80::/29, and the 35 prefixes that cover 192.0.0.0/8 less 192.0.0.0/24,
	// 192.0.2.0/24, 192.88.99.0/24 and 192.168.0.0/16 (package guard checks the subtraction itself).
	if c.Set.Len() != 37 {
		t.Errorf("%d entries kept", c.Set.Len())
	}
	if c.Dropped.Count[guard.Reserved] != 3 || c.Dropped.Count[guard.Private] != 1 || c.Dropped.Count[guard.Broad] != 1 {
		t.Errorf("dropped %v", c.Dropped.Count)
	}
}

func TestStale(t *testing.T) {
	f, path := newFeed(t, good)
	f.MaxAge = time.Minute
	update(t, f)
	now := time.Now()
	if f.Stale(now) || f.Serving(now) == nil {
		t.Fatal("fresh feed is stale")
	}
	later := now.Add(2 * time.Minute)
	if !f.Stale(later) || f.Serving(later) == nil {
		t.Fatal("stale feed not reported, or not served by default")
	}
	f.DropStale = true
	if f.Serving(later) != nil {
		t.Fatal("stale feed served with DropStale")
	}
	// A failing source does not refresh the age; a working one does.
	os.Remove(path)
	update(t, f)
	if !f.Stale(time.Now().Add(2 * time.Minute)) {
		t.Fatal("failed check counted as fresh")
	}
}

func TestCache(t *testing.T) {
	dir := &feedcache.Dir{Path: t.TempDir()}
	f, path := newFeed(t, good)
	f.Cache = dir
	if err := f.LoadCache(); !errors.Is(err, feedcache.ErrNone) {
		t.Fatalf("empty cache: %v", err)
	}
	update(t, f)

	// A restart: a new Feed over the same cache, with the source gone.
	g, _ := newFeed(t, good)
	g.Source, g.Cache = &source.File{Path: path + ".missing"}, dir
	g.Source = f.Source // the cache is only trusted for the same source
	if err := g.LoadCache(); err != nil {
		t.Fatal(err)
	}
	if c := g.Content(); c == nil || c.Set.Len() != 3 || !c.FromCache {
		t.Fatalf("cached content: %+v", c)
	}
	// Only accepted versions reach the cache: a held one does not.
	write(t, path, "1.10.16.1\n")
	update(t, f)
	h, _ := newFeed(t, good)
	h.Source, h.Cache = f.Source, dir
	if err := h.LoadCache(); err != nil || h.Content().Set.Len() != 3 {
		t.Fatalf("cache after a held version: %v", err)
	}
	// Another source's cache is not used.
	other, _ := newFeed(t, good)
	other.Cache = dir
	if err := other.LoadCache(); err == nil {
		t.Fatal("a cache written for another source was loaded")
	}
}

// TestFirstLoadEmpty: a feed that is empty from the start (a retired list) is loaded, not an error.
func TestFirstLoadEmpty(t *testing.T) {
	f, _ := newFeed(t, "; this list is retired\n; EOF\n")
	if changed, err := update(t, f); !changed || err != nil || entries(f) != 0 {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
}

// adguardAll is an AdGuard list of rules with options, none of which the adblock format can list.
const adguardAll = "! Title: rules with options\n||ads.example^$dnstype=A\n||track.example^$third-party\n||bad.example/x$all\n"

// TestFirstLoadAllSkipped: a first version with no entries whose every line was skipped (a format that
// does not fit the source) is not loaded, so the server stays not ready, unless AllowEmpty says the feed
// may be empty; its stats are in the status either way.
func TestFirstLoadAllSkipped(t *testing.T) {
	f, path := newFeed(t, adguardAll)
	f.Parser, _ = format.New("adblock", nil)
	f.Format = "adblock"
	changed, err := update(t, f)
	if changed || !errors.Is(err, ErrAllSkipped) || f.Content() != nil {
		t.Fatalf("all skipped: changed=%v err=%v content=%v", changed, err, f.Content())
	}
	if msg := err.Error(); !strings.Contains(msg, "3 lines skipped by format adblock") || !strings.Contains(msg, "allow_empty") {
		t.Errorf("error %q does not name the skipped lines, the format and the option", msg)
	}
	if st := f.Status(); st.Stats.Skipped != 3 || st.Stats.Entries != 0 || st.LastError == nil {
		t.Errorf("status: %+v", st)
	}
	// Seen again unchanged: still rejected, not reported anew.
	if changed, err := update(t, f); changed || err != nil || f.Content() != nil || f.Status().LastError == nil {
		t.Fatalf("second look: changed=%v err=%v", changed, err)
	}
	// A version with entries is taken.
	write(t, path, adguardAll+"||listed.example^\n")
	if changed, err := update(t, f); !changed || err != nil || entries(f) != 1 {
		t.Fatalf("with an entry: changed=%v err=%v", changed, err)
	}

	g, _ := newFeed(t, adguardAll)
	g.Parser, _ = format.New("adblock", nil)
	g.AllowEmpty = true
	if changed, err := update(t, g); !changed || err != nil || g.Content() == nil || entries(g) != 0 {
		t.Fatalf("allow_empty: changed=%v err=%v", changed, err)
	}
	if !AllSkipped(g.Content().Stats) {
		t.Error("AllSkipped is false for the served version")
	}

	// A feed with no data lines at all (a retired list) is still a valid empty feed.
	h, _ := newFeed(t, "; retired\n; EOF\n")
	if changed, err := update(t, h); !changed || err != nil {
		t.Fatalf("comments only: changed=%v err=%v", changed, err)
	}
}

// TestLaterAllSkipped: after a version with entries, a version whose every line was skipped is held like
// any empty one, until an operator accepts it, and its reason says why it is empty.
func TestLaterAllSkipped(t *testing.T) {
	f, path := newFeed(t, "||listed.example^\n||other.example^\n")
	f.Parser, _ = format.New("adblock", nil)
	f.Format = "adblock"
	update(t, f)
	write(t, path, adguardAll)
	for range 3 {
		if _, err := update(t, f); entries(f) != 2 || f.Held() == nil || !f.Held().NeedsOperator {
			t.Fatalf("err=%v entries=%d held=%v", err, entries(f), f.Held())
		}
	}
	if r := f.Held().Reason; !strings.Contains(r, "every line skipped: 3 lines skipped by format adblock") {
		t.Errorf("reason %q", r)
	}
}

// TestAllSkippedCache: a cached version whose every line was skipped is not loaded either, unless
// AllowEmpty.
func TestAllSkippedCache(t *testing.T) {
	dir := &feedcache.Dir{Path: t.TempDir()}
	f, _ := newFeed(t, adguardAll)
	f.Parser, _ = format.New("adblock", nil)
	f.AllowEmpty, f.Cache = true, dir
	update(t, f)
	g, _ := newFeed(t, adguardAll)
	g.Source, g.Parser, g.Cache = f.Source, f.Parser, dir
	if err := g.LoadCache(); !errors.Is(err, ErrAllSkipped) {
		t.Fatalf("cache without allow_empty: %v", err)
	}
	if g.Content() != nil {
		t.Fatal("loaded")
	}
	g.AllowEmpty = true
	if err := g.LoadCache(); err != nil || g.Content() == nil {
		t.Fatalf("cache with allow_empty: %v", err)
	}
}

// reasons is a parser that skips every line, naming the reason after a '!'; one without a name counts
// no reason.
type reasons struct{}

func (reasons) Parse(data string, _ *entryset.Builder, st *format.Stats) {
	for _, line := range strings.Split(strings.TrimSpace(data), "\n") {
		st.Lines++
		st.Skipped++
		if _, why, ok := strings.Cut(line, "!"); ok {
			if st.Skips == nil {
				st.Skips = map[string]int{}
			}
			st.Skips[why]++
		}
	}
}

func TestSkipSummary(t *testing.T) {
	var st format.Stats
	reasons{}.Parse("a!url\nb!url\nc!hash\nd\n", nil, &st)
	if got := SkipSummary(st, "csv"); got != `4 lines skipped by format csv, 2 as "url"` {
		t.Errorf("with reasons: %s", got)
	}
	st = format.Stats{}
	reasons{}.Parse("a\nb\n", nil, &st)
	if got := SkipSummary(st, ""); got != "2 lines skipped" {
		t.Errorf("without a reason or a format: %s", got)
	}
}

// TestAcceptHeld: an operator's accept may name the version (its SHA-256), so that a version held after
// the one the operator looked at is not accepted in its place.
func TestAcceptHeld(t *testing.T) {
	f, q, _ := heldFeed(t)
	if _, err := f.AcceptHeld(nil); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("nothing held: %v", err)
	}
	q.push(body(lines(10)))
	update(t, f)
	looked := f.Held().Sum
	q.push(body(lines(20)))
	update(t, f)
	if _, err := f.AcceptHeld(looked[:]); !errors.Is(err, ErrOtherHeld) || entries(f) != 100 {
		t.Fatalf("another version held: %v, %d entries", err, entries(f))
	}
	now := f.Held().Sum
	if h, err := f.AcceptHeld(now[:]); err != nil || h.Set.Len() != 20 || entries(f) != 20 || f.Held() != nil {
		t.Fatalf("accept: %v", err)
	}
}

func TestFileChangingWhileRead(t *testing.T) {
	f, path := newFeed(t, "1.10.16.1\n")
	src := f.Source.(*source.File)
	if _, err := src.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fetch(context.Background()); !errors.Is(err, source.ErrNotModified) {
		t.Fatalf("unchanged file: %v", err)
	}
	// Same size, new modification time: a new version.
	write(t, path, "1.10.16.2\n")
	os.Chtimes(path, time.Now().Add(time.Second), time.Now().Add(time.Second))
	if data, err := src.Fetch(context.Background()); err != nil || string(data) != "1.10.16.2\n" {
		t.Fatalf("changed file: %q %v", data, err)
	}
}

func TestMaxSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.txt")
	if err := os.WriteFile(path, make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	src := &source.File{Path: path, MaxSize: 1024}
	if _, err := src.Fetch(context.Background()); err == nil {
		t.Fatal("a file over the size limit was read")
	}
}

// scripted is a Source that answers from a script, one step per Fetch.
type scripted struct {
	steps []func() ([]byte, error)
	i     int
}

func (s *scripted) Fetch(context.Context) ([]byte, error) {
	step := s.steps[min(s.i, len(s.steps)-1)]
	s.i++
	return step()
}
func (s *scripted) String() string { return "scripted" }

// TestNotModifiedAfterFetchError: "not modified" means "the same as the last body", so after a failed fetch
// it vouches for the served version (success), and after a rejected body it does not.
func TestNotModifiedAfterFetchError(t *testing.T) {
	body := func(b string) func() ([]byte, error) { return func() ([]byte, error) { return []byte(b), nil } }
	fail := func() ([]byte, error) { return nil, errors.New("connection refused") }
	same := func() ([]byte, error) { return nil, source.ErrNotModified }
	p, _ := format.New("plain", nil)
	f := &Feed{Name: "f", Parser: p, Guard: guard.Default(), MaxShrink: DefaultMaxShrink,
		Source: &scripted{steps: []func() ([]byte, error){body(good), fail, same, body("<html>\n<p>x</p>\n</html>\n"), same}}}
	for i, want := range []bool{true, false, true, false, false} { // whether the status is a success after each step
		f.Update(context.Background())
		if ok := f.Status().LastError == nil; ok != want {
			t.Fatalf("step %d: success=%v, want %v (%v)", i, ok, want, f.Status().LastError)
		}
	}
	if entries(f) != 3 {
		t.Fatalf("%d entries served", entries(f))
	}
}

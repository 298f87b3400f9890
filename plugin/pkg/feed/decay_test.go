package feed

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// TestDecay: an entry the source drops lingers for one decay with a fading confidence, then leaves; one
// the source serves again is fresh again; a feed without decay drops at once.
func TestDecay(t *testing.T) {
	f, path := newFeed(t, "1.10.16.1\n1.10.16.2\nbad.example\ngone.example\n")
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f.Now = func() time.Time { return now }
	f.Confidence, f.Decay, f.MaxShrink = 80, 4*time.Hour, 1
	conf := func(entry string) (uint8, bool) { // the served confidence of entry, if served
		s := f.Content().Entries()
		if a, err := netip.ParseAddr(entry); err == nil {
			for i, v := range s.V4 {
				if v>>8 == uint64(a.As4()[0])<<24|uint64(a.As4()[1])<<16|uint64(a.As4()[2])<<8|uint64(a.As4()[3]) {
					return s.Conf[i], true
				}
			}
			return 0, false
		}
		i, ok := s.Names.Search(entry)
		if !ok {
			return 0, false
		}
		return s.Conf[len(s.V4)+len(s.V6)+i], true
	}
	if changed, err := update(t, f); !changed || err != nil {
		t.Fatalf("first load: %v %v", changed, err)
	}
	if c, ok := conf("1.10.16.2"); !ok || c != 204 { // 80% of 255
		t.Fatalf("fresh entry: conf %d served %v, want 204", c, ok)
	}
	write(t, path, "1.10.16.1\nbad.example\n")
	now = now.Add(time.Minute)
	if changed, err := update(t, f); !changed || err != nil {
		t.Fatalf("entries dropped: %v %v", changed, err)
	}
	if f.Content().Set.Len() != 2 || f.Content().Entries().Len() != 4 {
		t.Fatalf("source %d entries, served %d; want 2 and 4 (2 lingering)", f.Content().Set.Len(), f.Content().Entries().Len())
	}
	now = now.Add(2 * time.Hour) // half the decay: about 1/√2 of the confidence
	if changed, err := update(t, f); !changed || err != nil {
		t.Fatalf("aged: %v %v", changed, err)
	}
	for _, e := range []string{"1.10.16.2", "gone.example"} {
		if c, ok := conf(e); !ok || c < 140 || c > 150 {
			t.Errorf("%s after half the decay: conf %d served %v, want about 144", e, c, ok)
		}
	}
	if c, _ := conf("1.10.16.1"); c != 204 {
		t.Errorf("entry still served by the source: conf %d, want 204", c)
	}
	// Served again: fresh again.
	write(t, path, "1.10.16.1\nbad.example\ngone.example\n")
	now = now.Add(time.Minute)
	update(t, f)
	if c, _ := conf("gone.example"); c != 204 {
		t.Errorf("served again: conf %d, want 204", c)
	}
	now = now.Add(2*time.Hour + time.Minute) // 1.10.16.2 last seen more than the decay ago
	if changed, err := update(t, f); !changed || err != nil {
		t.Fatalf("decayed out: %v %v", changed, err)
	}
	if _, ok := conf("1.10.16.2"); ok {
		t.Error("1.10.16.2 still served after the decay")
	}
	if f.Content().Entries().Len() != 3 {
		t.Errorf("served %d entries, want 3", f.Content().Entries().Len())
	}
	served := f.Content().Entries()
	now = now.Add(time.Minute)
	if changed, _ := update(t, f); changed {
		t.Error("nothing lingers and nothing changed, yet a new version")
	}
	if f.Content().Entries() != served {
		t.Error("nothing changed, yet another served set (the snapshot would rebuild its parts)")
	}

	// A source that serves the same bytes for longer than the decay, then drops an entry: it was seen at
	// the last fetch, so it lingers.
	write(t, path, "1.10.16.1\nbad.example\ngone.example\n")
	for range 6 {
		now = now.Add(time.Hour)
		update(t, f)
	}
	write(t, path, "1.10.16.1\nbad.example\n")
	now = now.Add(time.Minute)
	if changed, err := update(t, f); !changed || err != nil {
		t.Fatalf("dropped after a steady spell: %v %v", changed, err)
	}
	if c, ok := conf("gone.example"); !ok || c < 200 {
		t.Fatalf("dropped a minute ago after a steady spell: conf %d served %v, want about 204", c, ok)
	}
	// A source that fails (garbage now) while something lingers: what lingers ages out, what the
	// source last served stays at its confidence.
	write(t, path, "<html>not a feed</html>\n<p>at all</p>\n")
	now = now.Add(4*time.Hour + time.Minute)
	if changed, err := update(t, f); !changed || err == nil {
		t.Fatalf("garbage while an entry lingers: changed %v, err %v; want a new version and the error", changed, err)
	}
	if _, ok := conf("gone.example"); ok {
		t.Error("gone.example still lingers a decay after it was dropped, the source failing since")
	}
	if c, ok := conf("bad.example"); !ok || c != 204 {
		t.Errorf("the last good version's entry while the source fails: conf %d served %v, want 204", c, ok)
	}
	now = now.Add(8 * time.Hour)
	if changed, _ := update(t, f); changed {
		t.Error("the source failing, nothing lingering: a new version")
	}
	if c, ok := conf("bad.example"); !ok || c != 204 {
		t.Errorf("long failure: conf %d served %v, want 204", c, ok)
	}
	write(t, path, "1.10.16.1\n")
	now = now.Add(time.Minute)
	update(t, f)
	if _, ok := conf("bad.example"); ok {
		t.Error("dropped when the source recovered, last served by it more than a decay ago (failing fetches do not count as sightings), yet it lingers")
	}

	plain, path := newFeed(t, "1.10.16.1\n1.10.16.2\n")
	update(t, plain)
	write(t, path, "1.10.16.1\n")
	plain.MaxShrink = 1
	update(t, plain)
	if plain.Content().Entries().Len() != 1 || plain.Content().Served != nil {
		t.Errorf("without decay: %d served, want 1", plain.Content().Entries().Len())
	}
}

// FuzzLinger: whatever the fresh and old entries and their ages, the served set is sorted and free of
// duplicates, holds every fresh entry at the feed's confidence, and holds an old one exactly when it is
// not fresh and was seen within the decay.
func FuzzLinger(f *testing.F) {
	f.Add([]byte{1, 2, 3}, []byte{2, 4, 6}, []byte{0, 100, 255}, uint8(80))
	f.Fuzz(func(t *testing.T, fresh, old, ages []byte, conf uint8) {
		build := func(b []byte, names bool) *entryset.Set {
			var bl entryset.Builder
			for _, x := range b {
				bl.AddAddr(netip.AddrFrom4([4]byte{45, 0, 0, x}))
				if names {
					bl.AddName(fmt.Sprintf("h%d.example", x%16), x%3 == 0)
				}
			}
			return bl.Set()
		}
		fs, os := build(fresh, true), build(old, true)
		const now = 1_000_000
		decay := time.Hour
		const confirmed = now - 1800 // when old's source entries were last served
		seen := make([]uint32, os.Len())
		at := make([]uint32, os.Len()) // seen, 0 taken as confirmed
		for i := range seen {
			age := uint32(0)
			if len(ages) > 0 {
				age = uint32(ages[i%len(ages)]) * 30 // up to about two hours
			}
			seen[i], at[i] = now-age, now-age
			if age%7 == 0 { // one of old's source entries
				seen[i], at[i] = 0, confirmed
			}
		}
		out, outSeen := linger(fs, os, seen, confirmed, now, decay, conf)
		if len(outSeen) != out.Len() || len(out.Conf) != out.Len() {
			t.Fatalf("%d entries, %d seen, %d confidences", out.Len(), len(outSeen), len(out.Conf))
		}
		if !slices.IsSorted(out.V4) || len(slices.Compact(slices.Clone(out.V4))) != len(out.V4) {
			t.Fatalf("V4 not sorted and unique: %v", out.V4)
		}
		for i, v := range out.V4 {
			_, isFresh := slices.BinarySearch(fs.V4, v)
			j, isOld := slices.BinarySearch(os.V4, v)
			switch {
			case isFresh && (out.Conf[i] != conf || outSeen[i] != 0):
				t.Fatalf("fresh %v: conf %d seen %d", v, out.Conf[i], outSeen[i])
			case !isFresh && (!isOld || now-at[j] > uint32(decay/time.Second) || outSeen[i] != at[j]):
				t.Fatalf("%v served, fresh %v old %v", v, isFresh, isOld)
			case !isFresh && out.Conf[i] > conf:
				t.Fatalf("lingering %v at %d, above the feed's %d", v, out.Conf[i], conf)
			}
		}
		for j, v := range os.V4 {
			_, isFresh := slices.BinarySearch(fs.V4, v)
			_, in := slices.BinarySearch(out.V4, v)
			if !isFresh && now-at[j] <= uint32(decay/time.Second) && !in {
				t.Fatalf("old %v seen %d s ago dropped", v, now-at[j])
			}
		}
		for i := 1; i < out.Names.Len(); i++ {
			if out.Names.At(i-1) >= out.Names.At(i) {
				t.Fatalf("names not sorted: %v", out.Names)
			}
		}
	})
}

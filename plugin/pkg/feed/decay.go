package feed

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// Confidence and decay. A feed's Confidence (0 to 100) is what one of its entries vouches for; the
// snapshot scores each indicator from the feeds that hold it. With Decay, an entry the source no longer
// serves is not dropped at once: it lingers for one Decay (a half-life) after it was last seen, its
// confidence halving over that time (c · 2^(−age/Decay)), so a source that flaps does not make its
// entries come and go, and what it stopped vouching for fades before it leaves. The ages are kept in
// memory only (4 bytes per served entry): a restart serves the source's version as it is.

// DefaultConfidence is the confidence of a feed that does not set one.
const DefaultConfidence = 50

// decaySteps is how finely a lingering entry's confidence follows its age: it changes at most this many
// times over the Decay, so that refreshes do not each make a new version for an imperceptible change.
const decaySteps = 16

// Entries returns what the feed serves of this version: with Decay, the source's entries and those that
// still linger; else the source's.
func (c *Content) Entries() *entryset.Set {
	if c.Served != nil {
		return c.Served
	}
	return c.Set
}

// conf255 is the feed's confidence on the scale of entryset.Set.Conf.
func (f *Feed) conf255() uint8 { return uint8((int(f.Confidence)*255 + 50) / 100) }

// age computes c's served entries at now: c.Set, seen now when confirmed (else when prev's source last
// served it: c.Set is then prev's), and what prev served that c.Set does not hold and that was seen
// within Decay. It reports whether they differ from prev's (entries or confidences). Without Decay it
// does nothing.
func (f *Feed) age(c *Content, prev *Content, now time.Time, confirmed bool) bool {
	if f.Decay <= 0 {
		return false
	}
	var old *entryset.Set
	var oldSeen []uint32
	var oldConfirmed uint32
	if prev != nil && prev.Served != nil {
		old, oldSeen, oldConfirmed = prev.Served, prev.Seen, prev.Confirmed
	}
	c.Confirmed = uint32(now.Unix())
	if !confirmed && prev != nil {
		c.Confirmed = prev.Confirmed
	}
	served, seen := linger(c.Set, old, oldSeen, oldConfirmed, uint32(now.Unix()), f.Decay, f.conf255())
	if old != nil && (c.Set == prev.Set || c.Set.Equal(prev.Set)) && served.Equal(old) && slices.Equal(served.Conf, old.Conf) {
		// Nothing changed and the source's entries are the same (so are the sightings, 0 for those):
		// the same set, so that the snapshot keeps its parts and the journal holds nothing new.
		c.Served, c.Seen = old, oldSeen
		return false
	}
	c.Served, c.Seen = served, seen
	return old == nil || !served.Equal(old) || !slices.Equal(served.Conf, old.Conf)
}

// linger merges fresh (the source's entries: seen 0, at their Confirmed) with the entries of old that
// fresh lacks and that were seen within decay (an old seen of 0 is oldConfirmed), and gives each its
// confidence: conf when fresh, else conf halved over decay by its age.
func linger(fresh, old *entryset.Set, oldSeen []uint32, oldConfirmed, now uint32, decay time.Duration, conf uint8) (*entryset.Set, []uint32) {
	if old == nil {
		old = &entryset.Set{}
	}
	out := &entryset.Set{}
	n := fresh.Len() + old.Len()
	seen := make([]uint32, 0, n)
	confs := make([]uint8, 0, n)
	step := max(1, uint32(decay/time.Second)/decaySteps)
	keep := func(i int) (uint32, uint8, bool) { // old entry i: its seen and confidence, if it lingers
		at := oldSeen[i]
		if at == 0 {
			at = oldConfirmed
		}
		age := now - at
		if at > now {
			age = 0
		}
		if time.Duration(age)*time.Second > decay {
			return 0, 0, false
		}
		age -= age % step
		return at, uint8(math.Round(float64(conf) * math.Exp2(-float64(age)/decay.Seconds()))), true
	}
	base := 0 // of the current family in old's order
	take := func(fromOld bool, i int) bool {
		if !fromOld {
			seen, confs = append(seen, 0), append(confs, conf)
			return true
		}
		at, c, ok := keep(base + i)
		if ok {
			seen, confs = append(seen, at), append(confs, c)
		}
		return ok
	}
	out.V4 = mergeSorted(fresh.V4, old.V4, func(a, b uint64) int { return cmpU(a, b) }, take)
	base += len(old.V4)
	out.V6 = mergeSorted(fresh.V6, old.V6, entryset.V6.Compare, take)
	base += len(old.V6)
	out.Names = entryset.NamesOf(mergeSorted(fresh.Names.Strings(), old.Names.Strings(), strings.Compare, take)...)
	base += old.Names.Len()
	out.Wildcards = entryset.NamesOf(mergeSorted(fresh.Wildcards.Strings(), old.Wildcards.Strings(), strings.Compare, take)...)
	out.Conf = slices.Clip(confs)
	if out.Names.Equal(fresh.Names) { // share the bytes when nothing lingers
		out.Names = fresh.Names
	}
	if out.Wildcards.Equal(fresh.Wildcards) {
		out.Wildcards = fresh.Wildcards
	}
	return out, slices.Clip(seen)
}

// mergeSorted merges two sorted, duplicate-free slices, an element of b only where take(true, its index)
// says so and a not in a; take(false, i) is called for every element of a.
func mergeSorted[T any](a, b []T, cmp func(T, T) int, take func(fromOld bool, i int) bool) []T {
	out := make([]T, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && cmp(a[i], b[j]) < 0:
			take(false, i)
			out = append(out, a[i])
			i++
		case i == len(a) || cmp(a[i], b[j]) > 0:
			if take(true, j) {
				out = append(out, b[j])
			}
			j++
		default: // in both: fresh
			take(false, i)
			out = append(out, a[i])
			i++
			j++
		}
	}
	if len(out) == len(a) {
		return a
	}
	return out
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

package source

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/sensor"
)

// TestSensorsDecay: an address whose reports stopped loses confidence as it ages, and the body changes
// when it does (else the feed, seeing the same bytes, would not weigh it again); without new reports or
// a new step the body is not modified; past the decay it leaves.
func TestSensorsDecay(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tbl := sensor.New()
	a := netip.MustParseAddr("45.12.1.7")
	for _, r := range []string{"c1", "c2", "c3", "c4"} {
		tbl.Report(a, r, now)
	}
	s := &Sensors{Table: tbl, MinReporters: 3, Window: 24 * time.Hour, Decay: 8 * time.Hour, Now: func() time.Time { return now }}
	empty := &Sensors{Table: sensor.New(), MinReporters: 3, Decay: time.Hour}
	if body, err := empty.Fetch(context.Background()); err != nil || len(body) != 0 {
		t.Fatalf("first fetch of an empty table: %q %v, want an empty body (the feed's first version)", body, err)
	}
	if _, err := empty.Fetch(context.Background()); !errors.Is(err, ErrNotModified) {
		t.Fatalf("second fetch of an empty table: %v, want not modified", err)
	}
	weigh := func() uint8 {
		var b entryset.Builder
		b.AddAddr(a)
		return s.Weigh(b.Set(), 204)[0]
	}
	first, err := s.Fetch(context.Background())
	if err != nil || !strings.Contains(string(first), a.String()) {
		t.Fatalf("first fetch: %q %v", first, err)
	}
	fresh := weigh()
	if fresh < 204 { // four reporters of three: above the feed's own
		t.Fatalf("fresh: confidence %d, want at least the feed's 204", fresh)
	}
	now = now.Add(time.Minute)
	if _, err := s.Fetch(context.Background()); !errors.Is(err, ErrNotModified) {
		t.Fatalf("a minute later, nothing new: %v, want not modified", err)
	}
	now = now.Add(4 * time.Hour) // half the decay
	body, err := s.Fetch(context.Background())
	if err != nil || string(body) == string(first) {
		t.Fatalf("half the decay later: the same body (%v), so the feed would not weigh it again", err)
	}
	if half := int(weigh()); half < int(fresh)*6/10 || half > int(fresh)*8/10 {
		t.Fatalf("half the decay later: confidence %d, want about %d/√2", half, fresh)
	}
	now = now.Add(4*time.Hour + time.Minute)
	if body, err := s.Fetch(context.Background()); err != nil || strings.Contains(string(body), a.String()) {
		t.Fatalf("past the decay: %q %v, want it gone", body, err)
	}
}

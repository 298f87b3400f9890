package source

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/sensor"
)

// Sensors is the source of the built-in sensors feed: the addresses that at least MinReporters distinct
// customers reported attacking them within Window (package sensor), in the plain format, one address a
// line with its count as a comment. It holds no reporter. It weighs its entries (Weigher): an address
// vouched for by n reporters has the confidence of n/MinReporters independent sources of the feed's, and
// loses half of it over Decay after its latest report.
type Sensors struct {
	Table        *sensor.Table
	MinReporters int
	Window       time.Duration
	Decay        time.Duration    // 0: the window alone decides
	Now          func() time.Time // nil: the table's (time.Now unless a simulation set one)

	mu      sync.Mutex
	last    []byte
	fetched bool // last is a body returned (an empty one included)
	at      time.Time
	seen    map[netip.Addr]sensor.Entry // of the last body
}

// Defaults of the sensors feed.
const (
	DefaultSensorMinReporters = sensor.DefaultMinReporters
	DefaultSensorWindow       = 24 * time.Hour
)

func (s *Sensors) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return s.Table.Now()
}

// Fetch lists what the table holds now.
func (s *Sensors) Fetch(context.Context) ([]byte, error) {
	now := s.now()
	entries := s.Table.List(now, s.Window, s.MinReporters, s.Decay)
	var b bytes.Buffer
	seen := make(map[netip.Addr]sensor.Entry, len(entries))
	for _, e := range entries {
		fmt.Fprintf(&b, "%s # reporters=%d last=%s", e.Addr, e.Reporters, e.Last.UTC().Format(time.RFC3339))
		if s.Decay > 0 {
			// The confidences move with time even when the list does not: the body says the decay
			// step each address is at, so that it changes (and is weighed again) whenever they do.
			fmt.Fprintf(&b, " step=%d", s.step(now, e.Last))
		}
		b.WriteByte('\n')
		seen[e.Addr] = e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at, s.seen = now, seen
	if s.fetched && bytes.Equal(b.Bytes(), s.last) {
		return nil, ErrNotModified
	}
	s.last, s.fetched = b.Bytes(), true
	return s.last, nil
}

// Weigh gives each address of set (the guarded entries of the last body) its confidence: conf is the
// feed's, on entryset.Set.Conf's scale.
func (s *Sensors) Weigh(set *entryset.Set, conf uint8) []uint8 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]uint8, set.Len())
	c := float64(conf) / 255
	weigh := func(i int, a netip.Addr) {
		e, ok := s.seen[a]
		if !ok {
			out[i] = conf
			return
		}
		v := 1 - math.Pow(1-c, float64(e.Reporters)/float64(max(1, s.MinReporters)))
		if s.Decay > 0 {
			v *= math.Exp2(-float64(s.step(s.at, e.Last)) / sensorDecaySteps)
		}
		out[i] = uint8(math.Round(255 * min(1, v)))
	}
	for i, v := range set.V4 {
		weigh(i, entryset.UnpackV4(v).Addr())
	}
	for i, v := range set.V6 {
		weigh(len(set.V4)+i, v.Prefix().Addr())
	}
	return out
}

// sensorDecaySteps is how finely a reported address's confidence follows the age of its latest report:
// it halves over Decay in this many steps, so that not every refresh makes a new version.
const sensorDecaySteps = 16

// step is how many Decay/sensorDecaySteps have passed from last to now.
func (s *Sensors) step(now, last time.Time) int64 {
	return int64(max(0, now.Sub(last)) / max(1, s.Decay/sensorDecaySteps))
}

// Weigher is a Source that gives the entries of its last body confidences of their own.
type Weigher interface {
	Weigh(set *entryset.Set, conf uint8) []uint8
}

func (s *Sensors) String() string {
	return fmt.Sprintf("sensors (%d reporters within %s)", s.MinReporters, s.Window)
}

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
	Now          func() time.Time // nil: time.Now

	mu   sync.Mutex
	last []byte
	at   time.Time
	seen map[netip.Addr]sensor.Entry // of the last body
}

// Defaults of the sensors feed.
const (
	DefaultSensorMinReporters = 3
	DefaultSensorWindow       = 24 * time.Hour
)

func (s *Sensors) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Fetch lists what the table holds now.
func (s *Sensors) Fetch(context.Context) ([]byte, error) {
	now := s.now()
	entries := s.Table.List(now, s.Window, s.MinReporters, s.Decay)
	var b bytes.Buffer
	seen := make(map[netip.Addr]sensor.Entry, len(entries))
	for _, e := range entries {
		fmt.Fprintf(&b, "%s # reporters=%d last=%s\n", e.Addr, e.Reporters, e.Last.UTC().Format(time.RFC3339))
		seen[e.Addr] = e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at, s.seen = now, seen
	// The confidences move with time even when the list does not: a new body whenever they would.
	if bytes.Equal(b.Bytes(), s.last) && s.Decay <= 0 {
		return nil, ErrNotModified
	}
	s.last = b.Bytes()
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
			age := max(0, s.at.Sub(e.Last))
			v *= math.Exp2(-age.Seconds() / s.Decay.Seconds())
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

// Weigher is a Source that gives the entries of its last body confidences of their own.
type Weigher interface {
	Weigh(set *entryset.Set, conf uint8) []uint8
}

func (s *Sensors) String() string {
	return fmt.Sprintf("sensors (%d reporters within %s)", s.MinReporters, s.Window)
}

// Package series deletes the metric series of feeds and policies that a reload removed: a counter of a
// policy that no longer exists would otherwise be exported, unchanged, until the process ends.
package series

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Vec is a metric vector (CounterVec, GaugeVec, HistogramVec).
type Vec interface {
	DeletePartialMatch(labels prometheus.Labels) int
}

// Owned tracks the values of one label (feed, policy) that the running configuration exports.
type Owned struct {
	mu      sync.Mutex
	label   string
	vecs    []Vec
	current map[string]bool
}

// New tracks label over vecs.
func New(label string, vecs ...Vec) *Owned { return &Owned{label: label, vecs: vecs} }

// Replace makes values the configured ones and deletes every series of a value configured before and
// not now. A configuration calls it at start-up with every value it exports.
func (o *Owned) Replace(values []string) {
	next := make(map[string]bool, len(values))
	for _, v := range values {
		next[v] = true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for v := range o.current {
		if !next[v] {
			for _, vec := range o.vecs {
				vec.DeletePartialMatch(prometheus.Labels{o.label: v})
			}
		}
	}
	o.current = next
}

package threatfeed

import (
	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/threatstop/threatstop/plugin/pkg/series"
)

var (
	entries = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "entries",
		Help:      "Entries in the version of each feed being served.",
	}, []string{"feed"})
	invalidLines = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "invalid_lines",
		Help:      "Invalid lines in the latest version read of each feed.",
	}, []string{"feed"})
	skippedLines = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "skipped_lines",
		Help:      "Valid lines left out of the latest version read of each feed (below min_score, hosts preamble).",
	}, []string{"feed"})
	lastSuccess = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "last_success_timestamp_seconds",
		Help:      "When each feed was last checked successfully (changed or not).",
	}, []string{"feed"})
	lastChange = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "last_change_timestamp_seconds",
		Help:      "When the version of each feed being served was loaded.",
	}, []string{"feed"})
	loadErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "load_errors_total",
		Help:      "Failed attempts to load each feed (unreadable, empty after having entries, garbage).",
	}, []string{"feed"})
	buildDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "snapshot_build_duration_seconds",
		Help:      "Time to compile all feeds into a new snapshot.",
		Buckets:   prometheus.ExponentialBuckets(0.001, 4, 8),
	})
	snapshotPrefixes = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "snapshot_prefixes",
		Help:      "Distinct IPv4 and IPv6 prefixes in the current snapshot.",
	})
	snapshotNames = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "snapshot_names",
		Help:      "Distinct domain names in the current snapshot.",
	})
	guardDropped = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "guard_dropped",
		Help:      "Entries of the version being served dropped or trimmed because they must never be blocked, by reason (reserved, private, broad).",
	}, []string{"feed", "reason"})
	heldGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "held",
		Help:      "1 while a new version of the feed is held back by the shrink or emptiness check.",
	}, []string{"feed"})
	heldSince = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "held_since_timestamp_seconds",
		Help:      "When the source first served the version of the feed held back now; 0 when none is.",
	}, []string{"feed"})
	heldRelease = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "held_release_timestamp_seconds",
		Help:      "From when a version held back by the shrink check is served if the source still serves it (and has on 3 fetches); 0 when none is held or it waits for an operator.",
	}, []string{"feed"})
	staleGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "stale",
		Help:      "1 while the feed has not been refreshed successfully within its max_age.",
	}, []string{"feed"})
	cacheErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "cache_errors_total",
		Help:      "Cache files that could not be loaded (damaged, or of another source) or written, by operation (load, save).",
	}, []string{"feed", "op"})
)

// feedSeries deletes the per-feed series of feeds that a reload removed.
var feedSeries = series.New("feed", entries, invalidLines, skippedLines, lastSuccess, lastChange, loadErrors,
	guardDropped, heldGauge, heldSince, heldRelease, staleGauge, cacheErrors)

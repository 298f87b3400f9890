package threatstop

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/coredns/coredns/plugin"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/series"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/pkg/state"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	lookups = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "lookups_total",
		Help:      "Lookups by policy and result: listed, clean, refused (client not allowed), error (name neither an address nor a domain).",
	}, []string{"policy", "result"})
	hits = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "hits_total",
		Help:      "Listed DNSBL lookups by policy and the list that lists the entry (custom: own block entries); a listing by several lists counts in each. A series exists once the list had a hit.",
	}, []string{"policy", "list"})
)

// policy_serial is read from the current States when Prometheus scrapes, not kept as a series per policy:
// with thousands of policies the series would cost about 300 bytes each.
var serialDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, pluginName, "policy_serial"),
	"The SOA serial of each policy; it increases whenever the policy's content changes.", []string{"policy"}, nil)

// serving are the Stores of the started instances (one for all the blocks of an instance), by the order
// they started in: during a reload both instances serve, and the newer's serials are exported.
var serving = struct {
	sync.Mutex
	seq    uint64
	stores map[*state.Store]uint64
}{stores: map[*state.Store]uint64{}}

// serveSerials exports the serials of store's States; the blocks of an instance share one registration.
func serveSerials(store *state.Store) {
	serving.Lock()
	defer serving.Unlock()
	if _, ok := serving.stores[store]; !ok {
		serving.seq++
		serving.stores[store] = serving.seq
	}
}

func unserveSerials(store *state.Store) {
	serving.Lock()
	defer serving.Unlock()
	delete(serving.stores, store)
}

// dropNewer forgets the Stores registered after store's: after a failed reload of store's instance, the
// new instance was dropped without shutting down (caddy runs the old instance's OnRestartFailed only).
func dropNewer(store *state.Store) {
	serving.Lock()
	defer serving.Unlock()
	mine, ok := serving.stores[store]
	for s, seq := range serving.stores {
		if ok && seq > mine {
			delete(serving.stores, s)
		}
	}
}

type serialCollector struct{}

func (serialCollector) Describe(ch chan<- *prometheus.Desc) { ch <- serialDesc }

func (serialCollector) Collect(ch chan<- prometheus.Metric) {
	serving.Lock()
	stores := make([]*state.Store, 0, len(serving.stores))
	for s := range serving.stores {
		stores = append(stores, s)
	}
	slices.SortFunc(stores, func(a, b *state.Store) int { return cmp.Compare(serving.stores[b], serving.stores[a]) }) // newest first
	serving.Unlock()
	seen := map[string]bool{}
	for _, store := range stores {
		st := store.Load()
		if st.Placeholder() {
			continue
		}
		for _, p := range st.Policies {
			if !seen[p.Name] {
				seen[p.Name] = true
				ch <- prometheus.MustNewConstMetric(serialDesc, prometheus.GaugeValue, float64(st.Serial(p)), p.Name)
			}
		}
	}
}

func init() { prometheus.MustRegister(serialCollector{}) }

// hitCounters are one policy's hit counters by list ID (the last: own entries), each resolved on its
// list's first hit and kept, so a query does no label lookup after that.
type hitCounters []atomic.Pointer[prometheus.Counter]

// count counts a listed verdict of policy p (named name) in s in each list that lists it.
func (h hitCounters) count(p *policy.Policy, name string, s *snapshot.Snapshot, v policy.Verdict) {
	if v.Custom && len(h) > 0 {
		h.get(len(h)-1, name, policy.CustomList).Inc()
	}
	p.EachList(s, v, func(id int) {
		if id < len(h)-1 {
			h.get(id, name, s.Lists[id].Name).Inc()
		}
	})
}

func (h hitCounters) get(i int, policyName, list string) prometheus.Counter {
	if c := h[i].Load(); c != nil {
		return *c
	}
	c := hits.WithLabelValues(policyName, list)
	h[i].CompareAndSwap(nil, &c)
	return c
}

// counters are one policy's lookup counters, resolved once so a query does no label lookup.
type counters struct {
	listed, clean, refused, invalid prometheus.Counter
	xfrRefused                      prometheus.Counter
}

func newCounters(policy string) counters {
	return counters{
		listed:  lookups.WithLabelValues(policy, "listed"),
		clean:   lookups.WithLabelValues(policy, "clean"),
		refused: lookups.WithLabelValues(policy, "refused"),
		invalid: lookups.WithLabelValues(policy, "error"),

		xfrRefused: transfersRefused.WithLabelValues(policy),
	}
}

var transfersRefused = promauto.NewCounterVec(prometheus.CounterOpts{
	Namespace: plugin.Namespace,
	Subsystem: pluginName,
	Name:      "transfers_refused_total",
	Help:      "Zone transfers of a policy's RPZ zone refused: no key of the policy and not from its transfer_clients.",
}, []string{"policy"})

var followSerial = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Namespace: plugin.Namespace,
	Subsystem: pluginName,
	Name:      "follow_serial",
	Help:      "Serial of the configuration zone this edge follows (follow), as last applied.",
}, []string{"zone"})

var followErrors = promauto.NewCounter(prometheus.CounterOpts{
	Namespace: plugin.Namespace,
	Subsystem: pluginName,
	Name:      "follow_errors_total",
	Help:      "Transfers of the followed configuration zone that failed, and versions of it not applied.",
})

var configRefused = promauto.NewCounter(prometheus.CounterOpts{
	Namespace: plugin.Namespace,
	Subsystem: pluginName,
	Name:      "config_transfers_refused_total",
	Help:      "Transfers of the configuration zone refused: not signed with one of the catalog_keys.",
})

var catalogRefused = promauto.NewCounter(prometheus.CounterOpts{
	Namespace: plugin.Namespace,
	Subsystem: pluginName,
	Name:      "catalog_transfers_refused_total",
	Help:      "Transfers of the catalog zone refused: not signed with one of the catalog_keys.",
})

var rpzOmitted = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Namespace: plugin.Namespace,
	Subsystem: pluginName,
	Name:      "rpz_omitted_entries",
	Help:      "Triggers of the policy's current version left out of its RPZ zone: names too long to be an owner name under the zone's origin (over 255 octets). DNSBL lookups still list them.",
}, []string{"policy"})

// policySeries deletes the per-policy series of policies that a reload removed.
var policySeries = series.New("policy", lookups, hits, transfersRefused, rpzOmitted)

var (
	journalVersions = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "journal_versions",
		Help:      "Versions of the policies the IXFR journal holds, the current one included.",
	})
	journalBytes = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "journal_bytes",
		Help:      "Memory the IXFR journal holds beyond the current version: old snapshot parts and computed differences.",
	})
)

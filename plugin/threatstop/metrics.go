package threatstop

import (
	"github.com/coredns/coredns/plugin"
	"github.com/threatstop/threatstop/plugin/pkg/series"

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
	policySerial = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "policy_serial",
		Help:      "The SOA serial of each policy; it increases whenever the policy's content changes.",
	}, []string{"policy"})
)

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
var policySeries = series.New("policy", lookups, policySerial, transfersRefused, rpzOmitted)

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

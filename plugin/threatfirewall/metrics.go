package threatfirewall

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/threatstop/threatstop/plugin/pkg/series"
)

// The firewall's series keep the names they had under the threatstop plugin (subsystem threatstop), so
// dashboards and alerts carry over.
var decisions = promauto.NewCounterVec(prometheus.CounterOpts{
	Namespace: plugin.Namespace,
	Subsystem: "threatstop",
	Name:      "firewall_decisions_total",
	Help:      "In-line firewall decisions by policy, list (custom for own entries) and action.",
}, []string{"policy", "list", "action"})

var siemDropped = promauto.NewCounter(prometheus.CounterOpts{
	Namespace: plugin.Namespace,
	Subsystem: "threatstop",
	Name:      "firewall_siem_dropped_total",
	Help:      "Decisions not sent to the SIEM because its queue was full (the receiver too slow or away).",
})

var decisionLogDropped = promauto.NewCounter(prometheus.CounterOpts{
	Namespace: plugin.Namespace,
	Subsystem: "threatstop",
	Name:      "firewall_log_dropped_total",
	Help:      "Decision log lines dropped because standard output could not keep up.",
})

// policySeries deletes the decision series of policies that a reload removed.
var policySeries = series.New("policy", decisions)

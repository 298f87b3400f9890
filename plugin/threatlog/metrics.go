package threatlog

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/threatstop/threatstop/plugin/pkg/series"
)

var (
	uploads = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "threatlog", Name: "uploads_total",
		Help: "Log uploads by policy and result (stored, duplicate, unauthorized, too_large, bad_request).",
	}, []string{"policy", "result"})
	lines = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "threatlog", Name: "lines_total",
		Help: "Stored log lines by policy and format (unknown: lines in no known format).",
	}, []string{"policy", "format"})
	hits = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "threatlog", Name: "hits_total",
		Help: "Stored events whose remote side the policy lists, by policy and list.",
	}, []string{"policy", "list"})
	edlRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "threatlog", Name: "edl_requests_total",
		Help: "External dynamic list requests by file and status code (200, 304, 400, 401, 404).",
	}, []string{"file", "code"})
	alertsSent = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "threatlog", Name: "alert_deliveries_total",
		Help: "Alert deliveries by kind (webhook, email) and whether they succeeded (a webhook after its retries).",
	}, []string{"kind", "ok"})
	siemDropped = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "threatlog", Name: "siem_dropped_total",
		Help: "Log hits not sent to the SIEM because its queue was full (the receiver too slow or away).",
	})
	checks = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "threatlog", Name: "checks_total",
		Help: "Check IoC requests by transport (http, dns).",
	}, []string{"via"})
	purged = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "threatlog", Name: "purged_total",
		Help: "Events deleted by the retention period.",
	})
	sensorReports = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "threatlog", Name: "sensor_reports_total",
		Help: "Inbound events of sharing customers reported to the sensor table (no policy label: reports name no customer).",
	})
	_ = promauto.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "threatlog", Name: "sensor_addresses",
		Help: "Addresses the sensor table holds reports of (those past its window until its next List).",
	}, func() float64 { return float64(sensors().Len()) })
)

// policySeries deletes the per-policy series of policies that a reload removed.
var policySeries = series.New("policy", uploads, lines, hits)

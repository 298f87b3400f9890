package threatadmin

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	requests = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "requests_total",
		Help: "API requests by method and HTTP status.",
	}, []string{"method", "code"})
	edits = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "edits_total",
		Help: "Edits applied, by kind: add and remove (own entries), create and delete (policies), select (feeds), device (made, rotated, revoked).",
	}, []string{"kind"})
	logins = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "portal_logins_total",
		Help: "Portal sign-ins by result: ok, failed (wrong name or password), limited (refused: too many failures).",
	}, []string{"result"})
)

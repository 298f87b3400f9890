package rpz

// SOA timers of every zone threatstop serves (policy zones, the DNSBL zone, the firewall's rewritten
// answers): refresh, retry and expire for the secondaries that transfer the policy zones.
const (
	SOARefresh = 3600
	SOARetry   = 600
	SOAExpire  = 604800
)

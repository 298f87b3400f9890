// Package chain is the plugin chain of the threatstop binary: importing it compiles in exactly the
// plugins we ship and sets CoreDNS's directive order. cmd/threatstop and the in-process server tests
// (internal/coretest) share it, so both run the same chain. It lives with the command: no plugin or
// shared package imports it.
package chain

import (
	"github.com/coredns/coredns/core/dnsserver"

	// Stock plugins, in the order of directives below.
	_ "github.com/coredns/coredns/plugin/acl"
	_ "github.com/coredns/coredns/plugin/any"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/bufsize"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/cancel"
	_ "github.com/coredns/coredns/plugin/chaos"
	_ "github.com/coredns/coredns/plugin/debug"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/header"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metadata"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/minimal"
	_ "github.com/coredns/coredns/plugin/nsid"
	_ "github.com/coredns/coredns/plugin/pprof"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/rewrite"
	_ "github.com/coredns/coredns/plugin/root"
	_ "github.com/coredns/coredns/plugin/secondary"
	_ "github.com/coredns/coredns/plugin/template"
	_ "github.com/coredns/coredns/plugin/timeouts"
	_ "github.com/coredns/coredns/plugin/tls"
	_ "github.com/coredns/coredns/plugin/transfer"
	_ "github.com/coredns/coredns/plugin/tsig"
	_ "github.com/coredns/coredns/plugin/whoami"

	_ "github.com/threatstop/threatstop/plugin/threatadmin"
	_ "github.com/threatstop/threatstop/plugin/threatfeed"
	_ "github.com/threatstop/threatstop/plugin/threatfirewall"
	_ "github.com/threatstop/threatstop/plugin/threatlog"
	_ "github.com/threatstop/threatstop/plugin/threatstop"
)

// directives is CoreDNS's own order (core/dnsserver/zdirectives.go) restricted to the plugins above, with
// threatadmin (which applies the stored edits of the policies before threatfeed publishes the first
// State), threatfeed, threatlog, threatstop and threatfirewall after tsig and acl (which decide who may ask),
// before transfer (so the policy zones can be handed to it), and the firewall before cache and every
// resolving plugin: it sees each
// query and each answer, cached or not, like RPZ in a resolver. A cache in front of it would give one
// client's answer to clients of other policies, drop the Extended DNS Error (it strips OPT), and keep
// serving an answer after the policy changed; DNSBL answers are cheaper to compute than a cache lookup.
var directives = []string{
	"root",
	"metadata",
	"cancel",
	"tls",
	"timeouts",
	"reload",
	"nsid",
	"bufsize",
	"bind",
	"debug",
	"ready",
	"health",
	"pprof",
	"prometheus",
	"errors",
	"log",
	"any",
	"chaos",
	"loadbalance",
	"tsig",
	"rewrite",
	"acl",
	"threatadmin",
	"threatfeed",
	"threatlog",
	"threatstop",
	"threatfirewall",
	"cache",
	"header",
	"minimal",
	"template",
	"transfer",
	"hosts",
	"file",
	"secondary",
	"loop",
	"forward",
	"whoami",
}

func init() {
	dnsserver.Directives = directives
}

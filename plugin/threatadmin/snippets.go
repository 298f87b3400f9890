package threatadmin

import (
	"fmt"
	"net"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// Snippets: what a customer pastes into a device to take a policy, from the server that serves it.
// They carry the policy's TSIG secret, so they need a token of scope write.

// snippetKinds are the devices a snippet is written for.
var snippetKinds = []string{"bind", "unbound", "powerdns", "threatstop-sync", "nftables"}

// snippet writes the configuration of kind for policy p of the zone, from primary (HOST:PORT), with the
// key named key and its secret ("" when the policy has none: an unsigned transfer from transfer_clients).
func snippet(kind string, p *state.Policy, zone, primary, key, secret string) (string, error) {
	host, port, err := net.SplitHostPort(primary)
	if err != nil {
		return "", err
	}
	rpz := p.Name + ".rpz." + strings.TrimSuffix(zone, ".")
	var b strings.Builder
	unsigned := func(what string) {
		fmt.Fprintf(&b, "%s this policy has no TSIG key: the transfer is unsigned, and %s must be in its transfer_clients\n", what, "this device's address")
	}
	keyFile := fmt.Sprintf("key %q {\n    algorithm hmac-sha256;\n    secret %q;\n};\n", key, secret)
	switch kind {
	case "bind":
		fmt.Fprintf(&b, "// threatstop policy %s: BIND 9 as a secondary of its RPZ zone, applied as the resolver's DNS firewall.\n", p.Name)
		primaries := host
		if secret != "" {
			b.WriteString(keyFile)
			primaries += fmt.Sprintf(" key %q", key)
		} else {
			unsigned("//")
		}
		fmt.Fprintf(&b, "zone %q {\n    type secondary;\n    primaries port %s { %s; };\n    file %q;\n};\n", rpz, port, primaries, rpz+".db")
		fmt.Fprintf(&b, "options {\n    response-policy { zone %q; };\n};\n", rpz)
	case "unbound":
		fmt.Fprintf(&b, "# threatstop policy %s: Unbound's RPZ (unbound.conf). Unbound cannot sign a zone transfer:\n", p.Name)
		b.WriteString("# this device's address must be in the policy's transfer_clients.\n")
		fmt.Fprintf(&b, "server:\n    module-config: \"respip validator iterator\"\nrpz:\n    name: %q\n    primary: %s@%s\n    allow-notify: %s\n    zonefile: %q\n    rpz-log: yes\n    rpz-log-name: %q\n",
			rpz+".", host, port, host, rpz+".zone", p.Name)
	case "powerdns":
		fmt.Fprintf(&b, "-- threatstop policy %s: PowerDNS Recursor (recursor.lua; rpzMaster before 4.9).\n", p.Name)
		if secret != "" {
			fmt.Fprintf(&b, "rpzPrimary(%q, %q, {tsigname=%q, tsigalgo=\"hmac-sha256\", tsigsecret=%q, policyName=%q})\n", primary, rpz, key, secret, p.Name)
		} else {
			unsigned("--")
			fmt.Fprintf(&b, "rpzPrimary(%q, %q, {policyName=%q})\n", primary, rpz, p.Name)
		}
	case "threatstop-sync", "nftables":
		if secret == "" {
			return "", errNoKey
		}
		fmt.Fprintf(&b, "# threatstop policy %s: threatstop-sync keeps the firewall's tables equal to it.\n", p.Name)
		fmt.Fprintf(&b, "# 1. The key, in /etc/threatstop-sync/%s.key (mode 0600):\n%s", p.Name, keyFile)
		backend := "--nft"
		if kind == "threatstop-sync" {
			backend = "--nft # or --ipset, --iptables, --pf FILE"
		}
		fmt.Fprintf(&b, "# 2. Once, then from cron or as the systemd unit (cmd/threatstop-sync/systemd):\nthreatstop-sync --once --zone %s --server %s --tsig-key-file /etc/threatstop-sync/%s.key \\\n    --state /var/lib/threatstop-sync/%s.state %s\n",
			rpz, primary, p.Name, p.Name, backend)
		if kind == "nftables" {
			fmt.Fprintf(&b, "# 3. What it keeps: the inet table threatstop, its sets and drop rules (nft list table inet threatstop).\n")
		}
	default:
		return "", errNoKind
	}
	return b.String(), nil
}

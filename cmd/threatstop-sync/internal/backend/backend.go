// Package backend puts the block list into a device: nftables (one transaction, differences applied as
// element adds and deletes), ipset (both families restored into new sets, then swapped), iptables/ip6tables
// rules that match the ipsets, a pf table file with its pfctl command, and plain CIDR and JSON files for
// anything else.
//
// Every backend is atomic on its own: nftables takes the whole script or nothing, the two ipsets are both
// replaced by swap or both left, pfctl replaces a table at once, files are renamed into place. A failing command leaves what the
// device holds untouched. Commands run through a Runner, so tests can record them (pf) or run them inside
// a network namespace.
//
// Cost: generating a script is linear in the elements; applying is the device's: nftables loads 1M single
// addresses in about 4 s, applies a 100-entry change to them in 0.25 s (BenchmarkNftFull1M,
// BenchmarkNftChange100; the README has the figures and the command).
package backend

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/blocklist"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/cidrset"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/zone"
)

// LogPrefix is the start of the kernel log line of every packet a rule drops, followed by the direction
// ("in ": the source is listed; "out ": the destination is listed). The log upload parses it.
const LogPrefix = "THREATSTOP DROP "

// Direction prefixes of the log lines.
const (
	LogPrefixIn  = LogPrefix + "in "
	LogPrefixOut = LogPrefix + "out "
)

// Update is one change to apply.
type Update struct {
	Zone   string // the policy's RPZ zone
	Serial uint32
	Server string

	List    blocklist.List // what the device must hold
	Content *zone.Content  // the zone read for a firewall (names for the file outputs)

	// Have is what the state file says the device holds since serial HaveSerial; HaveValid is false after a
	// first run or when the state was lost.
	Have4, Have6 cidrset.Set
	HaveSerial   uint32
	HaveValid    bool
}

// Unchanged reports whether the device is to hold what it holds.
func (u *Update) Unchanged() bool {
	return u.HaveValid && u.Have4.Equal(u.List.V4) && u.Have6.Equal(u.List.V6)
}

// Backend is one kind of device.
type Backend interface {
	Name() string
	// Apply makes the device hold u.List, or leaves it as it was and returns why not. The string says
	// what was done, for the log.
	Apply(ctx context.Context, u *Update) (string, error)
}

// Holder is a backend whose device can lose what it was given (nftables tables and ipsets live in the
// kernel: a reboot or a flush empties them). Holds reads the device, changing nothing, and returns nil
// when it holds u.List, or why not.
type Holder interface {
	Holds(ctx context.Context, u *Update) error
}

// Runner runs a command with stdin and returns its combined output.
type Runner interface {
	Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error)
}

// Exec runs commands on this host.
type Exec struct{}

// Run runs name with args; a failure carries the output.
func (Exec) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 2000 {
			msg = msg[:2000] + "..."
		}
		return out, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, msg)
	}
	return out, nil
}

// Hooks says which traffic the rules filter.
type Hooks struct {
	Input   bool // traffic to this host: listed sources
	Forward bool // routed traffic: listed sources and listed destinations
	Output  bool // traffic from this host: listed destinations
}

// ParseHooks reads "input,forward,output" or a part of it.
func ParseHooks(s string) (Hooks, error) {
	var h Hooks
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(f) {
		case "input":
			h.Input = true
		case "forward":
			h.Forward = true
		case "output":
			h.Output = true
		case "":
		default:
			return h, fmt.Errorf("unknown hook %q (want input, forward, output)", f)
		}
	}
	if !h.Input && !h.Forward && !h.Output {
		return h, fmt.Errorf("no hook in %q", s)
	}
	return h, nil
}

// splitZero replaces /0 by its two halves, for devices that take no /0 (ipset).
func splitZero(ps []netip.Prefix) []netip.Prefix {
	out := ps[:0:0]
	for _, p := range ps {
		if p.Bits() != 0 {
			out = append(out, p)
			continue
		}
		lo := p.Addr()
		var hi netip.Addr
		if lo.Is4() {
			hi = netip.AddrFrom4([4]byte{128})
		} else {
			hi = netip.AddrFrom16([16]byte{128})
		}
		out = append(out, netip.PrefixFrom(lo, 1), netip.PrefixFrom(hi, 1))
	}
	return out
}

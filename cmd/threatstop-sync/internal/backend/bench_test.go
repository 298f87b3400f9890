package backend

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/blocklist"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/cidrset"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/zone"
)

// The nftables benchmarks load the real kernel, so they run only in a network namespace of their own
// (nothing but a loopback interface), never on a host's firewall. A user namespace (`unshare -rn`) does not
// do: nft cannot raise its netlink buffer there and a transaction over about 2,000 ranges fails with
// EMSGSIZE. As root:
//
//	go test -c -o /tmp/backend.test ./cmd/threatstop-sync/internal/backend/
//	unshare -n /tmp/backend.test -test.run '^$' -test.bench Nft -test.benchtime 3x
func requireNetns(b *testing.B) {
	ifs, err := net.Interfaces()
	if err != nil {
		b.Fatal(err)
	}
	for _, i := range ifs {
		if i.Name != "lo" {
			b.Skipf("interface %s: not in a network namespace of its own; run: unshare -n %s -test.run '^$' -test.bench Nft", i.Name, "BACKEND.test")
		}
	}
}

// benchList is n separate /32s (none adjacent: n ranges), and a copy with change of them replaced.
func benchList(n, change int) (blocklist.List, blocklist.List) {
	mk := func(shift int) blocklist.List {
		var c zone.Content
		for i := range n {
			v := uint32(11<<24 + 2*(i+shift))
			if i >= change {
				v = uint32(11<<24 + 2*i)
			}
			a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
			c.IP = append(c.IP, zone.IPTrigger{Prefix: netip.PrefixFrom(a, 32), Action: zone.NXDomain})
		}
		return blocklist.Build(c, blocklist.Options{})
	}
	return mk(0), mk(n) // the first `change` addresses move to the end of the space used
}

func benchUpdate(l blocklist.List, serial uint32) *Update {
	return &Update{Zone: "bench.rpz.test.", Serial: serial, List: l, Have6: cidrset.Build(true, nil)}
}

// BenchmarkNftFull1M: one transaction that loads 1M ranges into an empty interval set.
func BenchmarkNftFull1M(b *testing.B) {
	requireNetns(b)
	l, _ := benchList(1_000_000, 0)
	n := &Nft{Hooks: Hooks{true, true, true}, LogRate: 10, Run: Exec{}}
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		if _, err := (Exec{}).Run(ctx, nil, "nft", "flush", "ruleset"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := n.Apply(ctx, benchUpdate(l, 1)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// A dump right after a large load can miss elements while the kernel still resizes the hash table
	// (the lookups are not affected): read until it is complete.
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := n.ReadFamily(ctx, false)
		if err == nil && got.Len() == 1_000_000 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the sets hold %d ranges (%v), want 1M", got.Len(), err)
		}
	}
}

// BenchmarkNftChange100 compares a 100-range change to a 1M set applied incrementally with the same
// change applied as a full replace.
func BenchmarkNftChange100(b *testing.B) {
	requireNetns(b)
	base, changed := benchList(1_000_000, 100)
	n := &Nft{Hooks: Hooks{true, true, true}, LogRate: 10, Run: Exec{}}
	ctx := context.Background()
	if _, err := n.Apply(ctx, benchUpdate(base, 1)); err != nil {
		b.Fatal(err)
	}
	lists := [2]blocklist.List{base, changed}
	for _, mode := range []string{"incremental", "full"} {
		b.Run(mode, func(b *testing.B) {
			i := 0
			cur := uint32(1)
			for b.Loop() {
				from, to := lists[i%2], lists[(i+1)%2]
				u := benchUpdate(to, cur+1)
				if mode == "incremental" {
					u.Have4, u.Have6, u.HaveSerial, u.HaveValid = from.V4, from.V6, cur, true
				}
				what, err := n.Apply(ctx, u)
				if err != nil {
					b.Fatal(err)
				}
				if mode == "incremental" && what != "incremental: 100 ranges deleted, 100 added" {
					b.Fatalf("not incremental: %s", what)
				}
				cur++
				i++
			}
		})
	}
}

// BenchmarkNftHolds1M: the read-only check a sync makes when no server answers (is the last applied set
// still in the kernel?), against a table of 1M ranges.
func BenchmarkNftHolds1M(b *testing.B) {
	requireNetns(b)
	l, _ := benchList(1_000_000, 0)
	n := &Nft{Hooks: Hooks{true, true, true}, LogRate: 10, Run: Exec{}}
	ctx := context.Background()
	u := benchUpdate(l, 1)
	if _, err := n.Apply(ctx, u); err != nil {
		b.Fatal(err)
	}
	// A dump right after a large load can miss elements (see BenchmarkNftFull1M).
	deadline := time.Now().Add(time.Minute)
	for n.Holds(ctx, u) != nil {
		if time.Now().After(deadline) {
			b.Fatalf("Holds: %v", n.Holds(ctx, u))
		}
	}
	for b.Loop() {
		if err := n.Holds(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
}

package chain_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
)

// freePort is a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type corefile string

func (c corefile) Body() []byte       { return []byte(c) }
func (c corefile) Path() string       { return "Corefile" }
func (c corefile) ServerType() string { return "dns" }

// goroutines is the number of goroutines once it is at most limit, or has not fallen for 200 ms, or
// after 5 s (goroutines of a stopped configuration end shortly after its shutdown hooks return).
func goroutines(limit int) int {
	n, low, since := runtime.NumGoroutine(), 1<<30, time.Now()
	for deadline := time.Now().Add(5 * time.Second); n > limit && time.Now().Before(deadline) && time.Since(since) < 200*time.Millisecond; n = runtime.NumGoroutine() {
		if n < low {
			low, since = n, time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

// TestReloadLeavesNothingBehind: 20 reloads of a Corefile with every plugin of ours (a feed with a status
// endpoint, threatlog with its HTTP listener, policies with TSIG keys and the catalog, the firewall)
// leave no goroutine and no listener behind, and the series of a policy the reload removed are gone.
func TestReloadLeavesNothingBehind(t *testing.T) {
	dir := t.TempDir()
	feed := filepath.Join(dir, "drop.txt")
	if err := os.WriteFile(feed, []byte("1.10.16.0/20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	statusPort, logPort := freePort(t), freePort(t)
	config := func(policy string) corefile {
		return corefile(fmt.Sprintf(`threatstop.local:0 {
    bind 127.0.0.1
    tsig {
        secret demo.key. HiUB9+Qa1ZWjcu4PtXG6NF4mRNdtRwfHN3mniH/VTHY=
    }
    transfer {
        to *
    }
    threatfeed {
        refresh 1s
        status 127.0.0.1:%d
        feed drop%s {
            file %s
            format plain
            category spam
        }
    }
    threatlog {
        listen 127.0.0.1:%d
        db %s
        token %s gw 0123456789abcdef0123
    }
    threatstop {
        catalog_keys demo.key.
        policy %s {
            categories spam
            keys demo.key.
        }
    }
}

.:0 {
    bind 127.0.0.1
    threatfirewall {
        client 0.0.0.0/0 %s
    }
    whoami
}
`, statusPort, strings.TrimPrefix(policy, "p"), feed, logPort, filepath.Join(dir, "threatlog.db"), policy, policy, policy))
	}
	s := coretest.Start(t, string(config("demo")))
	inst := s.Inst
	t.Cleanup(func() { inst.Stop() })
	// The first reload starts the process-wide parts that live as long as the process (the dns server's
	// own caches); count after it.
	inst, err := inst.Restart(config("demo"))
	if err != nil {
		t.Fatal(err)
	}
	before := goroutines(0)
	for i := range 20 {
		name := "demo"
		if i%2 == 0 { // policy and feed p0, drop0, p2, drop2, ...
			name = fmt.Sprintf("p%d", i)
		}
		if inst, err = inst.Restart(config(name)); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	if after := goroutines(before + 3); after > before+3 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%d goroutines after 20 reloads, %d before\n%s", after, before, buf)
	}
	// The last configuration (policy demo) answers; p18 is gone with its series.
	srv := inst.Servers()[0].LocalAddr().String()
	m := new(dns.Msg).SetQuestion("1.16.10.1.demo.threatstop.local.", dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, srv)
	if err != nil || len(r.Answer) != 1 {
		t.Fatalf("1.10.16.1 after the reloads: %v %v", r, err)
	}
	if v := coretest.Counter(t, "coredns_threatstop_policy_serial", map[string]string{"policy": "p18"}); v != 0 {
		t.Errorf("policy p18, removed by the last reload, still exports its serial %v", v)
	}
	if v := coretest.Counter(t, "coredns_threatfeed_entries", map[string]string{"feed": "drop18"}); v != 0 {
		t.Errorf("feed drop18, removed by the last reload, still exports its entries %v", v)
	}
	if v := coretest.Counter(t, "coredns_threatstop_policy_serial", map[string]string{"policy": "demo"}); v == 0 {
		t.Errorf("policy demo exports no serial")
	}
	inst.ShutdownCallbacks() // as the process does on SIGTERM, before it stops the servers
	inst.Stop()
	for _, port := range []int{statusPort, logPort} {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d still accepts connections after the server stopped", port)
		}
	}
}

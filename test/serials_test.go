package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Serials across a reload and a restart: a policy whose content did not change keeps its serial and its
// IXFR journal, so its secondaries transfer nothing (an IXFR from their serial is the SOA alone) and the
// next change reaches them as an incremental transfer, not a full zone.

// serialsCorefile is threatstop with policy a (key a.key.) over feed f, policy b when withB, the feed
// cache in cacheDir when set, and NOTIFY to notify when set. Transfers are open to every address: the
// policy's key decides.
func serialsCorefile(feed, cacheDir string, withB bool, notify int) func(port, ready, metrics int) string {
	return func(port, ready, metrics int) string {
		extra, b, to := "", "", ""
		if cacheDir != "" {
			extra = "        cache " + cacheDir + "\n"
		}
		if withB {
			b = "        policy b {\n            lists f\n            block 198.51.100.0/24\n            keys " + secKeyA + "\n        }\n"
		}
		to = "    transfer {\n        to *\n    }\n"
		if notify != 0 {
			to = fmt.Sprintf("    transfer {\n        to * 127.0.0.1:%d\n    }\n", notify)
		}
		return fmt.Sprintf(`threatstop.test:%[1]d {
    bind 127.0.0.1
    ready 127.0.0.1:%[2]d
    prometheus 127.0.0.1:%[3]d
    tsig {
        secret %[4]s %[5]s
        require AXFR IXFR
    }
%[6]s    threatfeed {
        refresh 200ms
%[7]s        feed f {
            file %[8]s
            format plain
            category spam
        }
    }
    threatstop {
        policy a {
            lists f
            keys %[4]s
        }
%[9]s    }
}
`, port, ready, metrics, secKeyA, secSecretA, to, extra, feed, b)
	}
}

// ixfrFrom asks s for an IXFR of apex from serial, signed with a.key., and returns the records.
func ixfrFrom(t *testing.T, s *Server, apex string, serial uint32) []dns.RR {
	t.Helper()
	rrs, _, err := xfrIn(s.Addr, "", signed(xfrMsg(apex, dns.TypeIXFR, serial), secKeyA, time.Time{}), map[string]string{secKeyA: secSecretA})
	if err != nil {
		t.Fatalf("IXFR %s from %d: %v", apex, serial, err)
	}
	return rrs
}

// wantSOAAlone fails unless rrs is the answer to an IXFR from the current serial: one SOA of serial.
func wantSOAAlone(t *testing.T, what string, rrs []dns.RR, serial uint32) {
	t.Helper()
	if len(rrs) != 1 || rrs[0].Header().Rrtype != dns.TypeSOA || rrs[0].(*dns.SOA).Serial != serial {
		t.Errorf("%s: %d records (%v), want the SOA of serial %d alone", what, len(rrs), rrs, serial)
	}
}

// TestReloadKeepsSerialsBIND: BIND holds policy a's zone; a reload that adds policy b leaves a's serial as
// it was (an IXFR from it is the SOA alone), and the feed change after it reaches BIND by NOTIFY and an
// incremental transfer from the serial of before the reload.
func TestReloadKeepsSerialsBIND(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, namedDir := prepareNamed(t, dir)
	feed := filepath.Join(dir, "f.txt")
	writeFile(t, feed, "1.2.3.4\n45.9.8.0/24\nbad.example.com\n")
	namedPort := freePort(t, true)
	var ready, metrics int
	ts := startCorefile(t, dir, "Corefile", func() (string, int, int, int) {
		port := freePort(t, true)
		ready, metrics = freePort(t, false), freePort(t, false)
		return serialsCorefile(feed, "", false, namedPort)(port, ready, metrics), port, ready, metrics
	})
	named := runNamed(t, path, namedDir, namedSecondaryA(namedDir, namedPort, ts.Port), namedPort)
	xfr := xfrSuccess("a.rpz.threatstop.test")
	named.waitLog(t, 0, xfr, 10*time.Second)
	apex := "a.rpz.threatstop.test."
	before := soaSerial(t, ts, apex)

	// Reload with policy b added: a keeps its serial, and its journal. A second first: a serial taken
	// anew would be the clock's, so a later one.
	time.Sleep(1100 * time.Millisecond)
	writeFile(t, ts.Corefile, serialsCorefile(feed, "", true, namedPort)(ts.Port, ready, metrics))
	if err := ts.p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	eventually(t, reloadTimeout, func() string {
		if r := ts.Query(t, "b.rpz.threatstop.test.", dns.TypeSOA); r.Rcode != dns.RcodeSuccess {
			return "policy b not served after the reload: " + rcode(r)
		}
		return ""
	})
	if after := soaSerial(t, ts, apex); after != before {
		t.Fatalf("a's serial moved from %d to %d on a reload that did not change it", before, after)
	}
	wantSOAAlone(t, "IXFR of a from its serial after the reload", ixfrFrom(t, ts, apex, before), before)

	// A change of the feed: NOTIFY, and named's IXFR from the serial of before the reload is incremental.
	from := len(named.Output())
	replaceFile(t, feed, []byte("1.2.3.4\n45.9.8.0/24\nbad.example.com\n81.2.69.0/24\n"))
	named.waitLog(t, from, xfr, 10*time.Second)
	out := named.Output()[from:]
	if len(linesWith(out, "transfer of 'a.rpz.threatstop.test/IN'", "got incremental response")) == 0 ||
		len(linesWith(out, "transfer of 'a.rpz.threatstop.test/IN'", "got nonincremental response")) > 0 {
		t.Errorf("named's transfer after the reload and the change was not incremental:\n%s", strings.Join(linesWith(out, "a.rpz.threatstop.test"), "\n"))
	}
	m := new(dns.Msg)
	m.SetQuestion("24.0.69.2.81.rpz-ip."+apex, dns.TypeCNAME)
	r, _, err := (&dns.Client{Timeout: queryTimeout}).Exchange(m, named.addr)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("named's copy lacks the new trigger: %v %v", r, err)
	}
}

// TestRestartKeepsSerials: with a feed cache, a restart with the same Corefile and feeds gives each policy
// the serial it had (kept in serials.json beside the cache), so a secondary's IXFR from it is the SOA
// alone; a policy whose content changed while the server was down gets a new serial.
func TestRestartKeepsSerials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	feed, cache := filepath.Join(dir, "f.txt"), filepath.Join(dir, "cache")
	writeFile(t, feed, "1.2.3.4\nbad.example.com\n")
	build := func(withB bool) func() (string, int, int, int) {
		return func() (string, int, int, int) {
			port, ready, metrics := freePort(t, true), freePort(t, false), freePort(t, false)
			return serialsCorefile(feed, cache, withB, 0)(port, ready, metrics), port, ready, metrics
		}
	}
	ts := startCorefile(t, dir, "Corefile", build(true))
	a, b := soaSerial(t, ts, "a.rpz.threatstop.test."), soaSerial(t, ts, "b.rpz.threatstop.test.")
	eventually(t, reloadTimeout, func() string {
		if _, err := os.Stat(filepath.Join(cache, "serials.json")); err != nil {
			return err.Error()
		}
		return ""
	})
	ts.Shutdown()
	time.Sleep(1100 * time.Millisecond) // a serial taken anew would be the clock's, a second later

	// The same addresses (the block's identity), and policy b's own entries changed while it was down.
	ts2 := startCorefile(t, dir, "Corefile", func() (string, int, int, int) {
		ready, metrics := freePort(t, false), freePort(t, false)
		text := serialsCorefile(feed, cache, true, 0)(ts.Port, ready, metrics)
		return strings.Replace(text, "block 198.51.100.0/24", "block 198.51.100.0/25", 1), ts.Port, ready, metrics
	})
	if got := soaSerial(t, ts2, "a.rpz.threatstop.test."); got != a {
		t.Errorf("a's serial after the restart: %d, want %d as before", got, a)
	}
	wantSOAAlone(t, "IXFR of a from its serial after the restart", ixfrFrom(t, ts2, "a.rpz.threatstop.test.", a), a)
	if got := soaSerial(t, ts2, "b.rpz.threatstop.test."); !serialAfter(got, b) {
		t.Errorf("b's serial after a restart that changed it: %d, want after %d", got, b)
	}
}

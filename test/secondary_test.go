package test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
)

// Standard secondaries of the policy zones: CoreDNS's own secondary plugin (in the same binary, a second
// process) follows a policy zone by transfer and NOTIFY; BIND follows the catalog zone and picks up a
// policy added by a reload without an edit of its configuration.

const (
	secCatKey    = "cat.key."
	secCatSecret = "Y2F0YWxvZy1vZi10aGUtc2Vjb25kYXJ5LXRlc3QteHg="
	secKeyA      = "a.key."
	secSecretA   = "YS1rZXktb2YtdGhlLXNlY29uZGFyeS10ZXN0LXh4eHg="
)

// secCorefile is the primary: policy a (open to transfers from 127.0.0.1 without a key, for the stock
// secondary, which does not sign), and, when withB, policy b; NOTIFY to every port in notify.
func secCorefile(feed string, withB bool, notify ...int) func(port, ready, metrics int) string {
	return func(port, ready, metrics int) string {
		var to strings.Builder
		for _, p := range notify {
			fmt.Fprintf(&to, " 127.0.0.1:%d", p)
		}
		b := ""
		if withB {
			b = "        policy b {\n            lists f\n            keys " + secKeyA + "\n        }\n"
		}
		return fmt.Sprintf(`threatstop.test:%[1]d {
    bind 127.0.0.1
    ready 127.0.0.1:%[2]d
    prometheus 127.0.0.1:%[3]d
    tsig {
        secret %[4]s %[5]s
        secret %[6]s %[7]s
    }
    transfer {
        to%[8]s
    }
    threatfeed {
        refresh 100ms
        feed f {
            file %[9]s
            format plain
            category spam
        }
    }
    threatstop {
        catalog_keys %[4]s
        policy a {
            lists f
            keys %[6]s
            transfer_clients 127.0.0.1/32
        }
%[10]s    }
}
`, port, ready, metrics, secCatKey, secCatSecret, secKeyA, secSecretA, to.String(), feed, b)
	}
}

func TestStockSecondary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	feed := filepath.Join(dir, "f.txt")
	writeFile(t, feed, "1.2.3.4\nbad.example.com\n")
	secPort := freePort(t, true)
	primary := startCorefile(t, dir, "Corefile", func() (string, int, int, int) {
		port, ready, metrics := freePort(t, true), freePort(t, false), freePort(t, false)
		return secCorefile(feed, false, secPort)(port, ready, metrics), port, ready, metrics
	})
	secDir := filepath.Join(dir, "secondary")
	if err := os.Mkdir(secDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The secondary plugin alone: no feed, no policy of its own.
	sec := startCorefile(t, secDir, "Corefile", func() (string, int, int, int) {
		ready, metrics := freePort(t, false), freePort(t, false)
		return fmt.Sprintf(`a.rpz.threatstop.test:%d {
    bind 127.0.0.1
    ready 127.0.0.1:%d
    prometheus 127.0.0.1:%d
    secondary {
        transfer from 127.0.0.1:%d
    }
}
`, secPort, ready, metrics, primary.Port), secPort, ready, metrics
	})
	apex := "a.rpz.threatstop.test."
	serial := func(s *Server) uint32 {
		r := s.Query(t, apex, dns.TypeSOA)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			return 0
		}
		return r.Answer[0].(*dns.SOA).Serial
	}
	trigger := func(name string) string {
		r := sec.Query(t, name+"."+apex, dns.TypeCNAME)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			return dns.RcodeToString[r.Rcode]
		}
		return r.Answer[0].(*dns.CNAME).Target
	}
	eventually(t, reloadTimeout, func() string {
		if got, want := serial(sec), serial(primary); got != want {
			return fmt.Sprintf("secondary at serial %d, primary at %d", got, want)
		}
		return ""
	})
	if got := trigger("32.4.3.2.1.rpz-ip"); got != "." {
		t.Errorf("the secondary's 32.4.3.2.1.rpz-ip CNAME: %s, want .", got)
	}
	if got := trigger("bad.example.com"); got != "." {
		t.Errorf("the secondary's bad.example.com CNAME: %s, want .", got)
	}
	// A change: the primary's NOTIFY brings it to the secondary (whose SOA refresh is an hour).
	old := serial(primary)
	writeFile(t, feed+".new", "5.6.7.8\nbad.example.com\n")
	if err := os.Rename(feed+".new", feed); err != nil {
		t.Fatal(err)
	}
	eventually(t, reloadTimeout, func() string {
		if p, s := serial(primary), serial(sec); p == old || s != p {
			return fmt.Sprintf("primary at %d (was %d), secondary at %d", p, old, s)
		}
		return ""
	})
	if got := trigger("32.8.7.6.5.rpz-ip"); got != "." {
		t.Errorf("after the change, 32.8.7.6.5.rpz-ip: %s", got)
	}
	if got := trigger("32.4.3.2.1.rpz-ip"); got != "NXDOMAIN" {
		t.Errorf("after the change, 32.4.3.2.1.rpz-ip: %s, want NXDOMAIN", got)
	}
}

// TestBINDCatalog: named is configured with the catalog zone only. It transfers the catalog with the
// catalog key, then every member zone with the same key (default-primaries); a policy added to the
// Corefile and loaded by SIGUSR1 reaches named by the catalog's NOTIFY, without a change to named.conf.
func TestBINDCatalog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, namedDir := prepareNamed(t, dir)
	feed := filepath.Join(dir, "f.txt")
	writeFile(t, feed, "1.2.3.4\nbad.example.com\n")
	namedPort := freePort(t, true)
	var ready, metrics int
	ts := startCorefile(t, dir, "Corefile", func() (string, int, int, int) {
		port := freePort(t, true)
		ready, metrics = freePort(t, false), freePort(t, false)
		return secCorefile(feed, false, namedPort)(port, ready, metrics), port, ready, metrics
	})
	named := runNamed(t, path, namedDir, namedCatalog(namedDir, namedPort, ts.Port), namedPort)

	named.waitLog(t, 0, xfrSuccess("a.rpz.threatstop.test"), 10*time.Second)
	soaFromNamed := func(apex string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(apex, dns.TypeSOA)
		r, _, err := (&dns.Client{Timeout: queryTimeout}).Exchange(m, named.addr)
		if err != nil {
			t.Fatalf("%s SOA from named: %v", apex, err)
		}
		return r
	}
	if r := soaFromNamed("a.rpz.threatstop.test."); r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
		t.Fatalf("named does not serve a.rpz.threatstop.test as a member of the catalog: %v", r)
	}
	if r := soaFromNamed("b.rpz.threatstop.test."); r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
		t.Fatalf("named serves b.rpz.threatstop.test before it exists: %v", r)
	}

	// A new customer: policy b in the Corefile, loaded by SIGUSR1 (CoreDNS's reload).
	from := len(named.Output())
	writeFile(t, ts.Corefile, secCorefile(feed, true, namedPort)(ts.Port, ready, metrics))
	if err := ts.p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	named.waitLog(t, from, xfrSuccess("b.rpz.threatstop.test"), 15*time.Second)
	if r := soaFromNamed("b.rpz.threatstop.test."); r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
		t.Fatalf("named does not serve the new member b.rpz.threatstop.test: %v", r)
	}
}

// prepareNamed makes dir/named for a test's named and returns the executable to run there and the folder.
func prepareNamed(t *testing.T, dir string) (path, namedDir string) {
	t.Helper()
	path = namedPath(t)
	namedDir = filepath.Join(dir, "named")
	if err := os.Mkdir(namedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return unconfinedNamed(t, path, namedDir), namedDir
}

// runNamed writes named's own zone site.test and conf as namedDir/named.conf, and starts named on port.
func runNamed(t *testing.T, path, namedDir, conf string, port int) *namedProc {
	t.Helper()
	writeFile(t, filepath.Join(namedDir, "site.test.db"), bindSiteZone)
	file := filepath.Join(namedDir, "named.conf")
	writeFile(t, file, conf)
	return startNamed(t, path, namedDir, file, port)
}

// namedHead is the start of a test named.conf in namedDir, listening on port, non-recursive, with
// extraOptions inside options.
func namedHead(namedDir string, port int, extraOptions string) string {
	return fmt.Sprintf(`options {
    directory %[1]q;
    pid-file %[2]q;
    session-keyfile %[3]q;
    managed-keys-directory %[1]q;
    listen-on port %[4]d { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    allow-query { any; };
    allow-transfer { none; };
    dnssec-validation no;
    notify no;
%[5]s};
controls { };
`, namedDir, filepath.Join(namedDir, "named.pid"), filepath.Join(namedDir, "session.key"), port, extraOptions)
}

// namedSecondaryA is a named.conf with policy a's zone as a secondary of threatstop on tsPort, with a.key.,
// its transfers and NOTIFYs logged at debug 3 ("got incremental response").
func namedSecondaryA(namedDir string, port, tsPort int) string {
	return namedHead(namedDir, port, "") + fmt.Sprintf(`logging {
    channel out { stderr; severity info; print-time yes; print-category yes; print-severity yes; };
    channel xfr { stderr; severity debug 3; print-time yes; print-category yes; print-severity yes; };
    category default { out; };
    category xfer-in { xfr; };
    category notify { xfr; };
};
key %[2]q { algorithm hmac-sha256; secret %[3]q; };
zone "site.test" { type primary; file "site.test.db"; };
zone "a.rpz.threatstop.test" {
    type secondary;
    primaries port %[1]d { 127.0.0.1 key %[2]q; };
    file "a.rpz.db";
};
`, tsPort, secKeyA, secSecretA)
}

// namedCatalog is a named.conf that follows threatstop's catalog zone on tsPort only, with the catalog
// key, and takes every member zone from there (default-primaries).
func namedCatalog(namedDir string, port, tsPort int) string {
	return namedHead(namedDir, port, fmt.Sprintf(`    catalog-zones {
        zone "catalog.threatstop.test" default-primaries port %[1]d { 127.0.0.1 key %[2]q; } in-memory yes;
    };
`, tsPort, secCatKey)) + fmt.Sprintf(`logging {
    channel out { stderr; severity info; print-time yes; print-category yes; print-severity yes; };
    category default { out; };
};
key %[2]q { algorithm hmac-sha256; secret %[3]q; };
zone "site.test" { type primary; file "site.test.db"; };
zone "catalog.threatstop.test" {
    type secondary;
    primaries port %[1]d { 127.0.0.1 key %[2]q; };
    file "catalog.db";
};
`, tsPort, secCatKey, secCatSecret)
}

// xfrSuccess matches named's log line of a successful transfer of zone (no trailing dot) from
// threatstop on 127.0.0.1.
func xfrSuccess(zone string) *regexp.Regexp {
	return regexp.MustCompile(`transfer of '` + regexp.QuoteMeta(zone) + `/IN' from 127\.0\.0\.1#\d+: Transfer status: success`)
}

// TestBINDSecondaryOverTLS: named (BIND 9.18) follows policy a's zone over TLS (XoT, RFC 9103): it
// verifies threatstop's certificate (ca-file, remote-hostname) and signs with a.key.; a feed change
// reaches it by NOTIFY and a transfer over TLS. threatstop serves the zone on plain DNS and on TLS from
// one server block.
func TestBINDSecondaryOverTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, namedDir := prepareNamed(t, dir)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	coretest.WriteCert(t, cert, key, 1)
	feed := filepath.Join(dir, "f.txt")
	writeFile(t, feed, "1.2.3.4\nbad.example.com\n")
	namedPort := freePort(t, true)
	var tlsPort int
	startCorefile(t, dir, "Corefile", func() (string, int, int, int) {
		port, ready, metrics := freePort(t, true), freePort(t, false), freePort(t, false)
		tlsPort = freePort(t, false)
		return fmt.Sprintf(`threatstop.test:%[1]d tls://threatstop.test:%[2]d {
    bind 127.0.0.1
    tls %[3]s %[4]s
    ready 127.0.0.1:%[5]d
    prometheus 127.0.0.1:%[6]d
    tsig {
        secret %[7]s %[8]s
        require AXFR IXFR
    }
    transfer {
        to 127.0.0.1:%[9]d
    }
    threatfeed {
        refresh 100ms
        feed f {
            file %[10]s
            format plain
            category spam
        }
    }
    threatstop {
        policy a {
            lists f
            keys %[7]s
        }
    }
}
`, port, tlsPort, cert, key, ready, metrics, secKeyA, secSecretA, namedPort, feed), port, ready, metrics
	})
	conf := namedHead(namedDir, namedPort, "") + fmt.Sprintf(`logging {
    channel out { stderr; severity info; print-time yes; print-category yes; print-severity yes; };
    channel xfr { stderr; severity debug 3; print-time yes; print-category yes; print-severity yes; };
    category default { out; };
    category xfer-in { xfr; };
    category notify { xfr; };
};
tls threatstop { ca-file %[3]q; remote-hostname "localhost"; };
key %[2]q { algorithm hmac-sha256; secret %[4]q; };
zone "site.test" { type primary; file "site.test.db"; };
zone "a.rpz.threatstop.test" {
    type secondary;
    primaries port %[1]d { 127.0.0.1 key %[2]q tls threatstop; };
    file "a.rpz.db";
};
`, tlsPort, secKeyA, cert, secSecretA)
	named := runNamed(t, path, namedDir, conf, namedPort)
	// From tlsPort, where threatstop speaks TLS only: a success is a transfer over TLS.
	named.waitLog(t, 0, regexp.MustCompile(`transfer of 'a\.rpz\.threatstop\.test/IN' from 127\.0\.0\.1#`+strconv.Itoa(tlsPort)+`: Transfer status: success`), 10*time.Second)
	trigger := func(name string) string {
		m := new(dns.Msg)
		m.SetQuestion(name+".a.rpz.threatstop.test.", dns.TypeCNAME)
		r, _, err := (&dns.Client{Timeout: queryTimeout}).Exchange(m, named.addr)
		if err != nil {
			t.Fatalf("%s from named: %v", name, err)
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			return dns.RcodeToString[r.Rcode]
		}
		return r.Answer[0].(*dns.CNAME).Target
	}
	if got := trigger("32.4.3.2.1.rpz-ip"); got != "." {
		t.Errorf("named's 32.4.3.2.1.rpz-ip after the transfer over TLS: %s, want .", got)
	}
	// A change: NOTIFY, then named transfers again over TLS.
	from := len(named.Output())
	writeFile(t, feed+".new", "5.6.7.8\nbad.example.com\n")
	if err := os.Rename(feed+".new", feed); err != nil {
		t.Fatal(err)
	}
	named.waitLog(t, from, xfrSuccess("a.rpz.threatstop.test"), 15*time.Second)
	if got := trigger("32.8.7.6.5.rpz-ip"); got != "." {
		t.Errorf("after the change, named's 32.8.7.6.5.rpz-ip: %s, want .", got)
	}
	if got := trigger("32.4.3.2.1.rpz-ip"); got != "NXDOMAIN" {
		t.Errorf("after the change, named's 32.4.3.2.1.rpz-ip: %s, want NXDOMAIN", got)
	}
}

package threatfeed_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
	"github.com/threatstop/threatstop/plugin/threatfeed"
)

// TestCorefileErrors: each broken Corefile fails at start-up with an error naming the offending line.
func TestCorefileErrors(t *testing.T) {
	dir := t.TempDir()
	feedFile := filepath.Join(dir, "f.txt")
	os.WriteFile(feedFile, []byte("192.0.2.1\n"), 0o644)
	// Line numbers below count from the "threatstop.local:0 {" line, which is line 1.
	feed := func(body string) string {
		return fmt.Sprintf("threatstop.local:0 {\n    threatfeed {\n        feed f {\n%s\n        }\n    }\n}\n", body)
	}
	policy := func(body string) string {
		return fmt.Sprintf(`threatstop.local:0 {
    threatfeed {
        feed f {
            file %s
            format plain
            category spam
        }
    }
    threatstop {
        policy p {
%s
        }
    }
}
`, feedFile, body)
	}
	ok := "            file " + feedFile + "\n            format plain\n            category spam"
	for _, tc := range []struct {
		name, corefile, want string
	}{
		{"unknown format", feed("            file " + feedFile + "\n            format nosuch\n            category spam"), "Corefile:5 - Error during parsing: unknown format \"nosuch\""},
		{"no source", feed("            format plain\n            category spam"), "Corefile:6 - Error during parsing: feed \"f\" (line 3) needs a source"},
		{"no category", feed("            file " + feedFile + "\n            format plain"), "Corefile:6 - Error during parsing: feed \"f\" (line 3) needs a category"},
		{"bad category", feed(ok + "\n            category Two Words"), "Corefile:7 - Error during parsing: category needs one lowercase word"},
		{"unknown option", feed(ok + "\n            min_score 3"), "line 7: \"min_score\" is neither a feed property"},
		{"bad option value", feed("            file " + feedFile + "\n            format ipsum\n            category scanner\n            min_score zero"), "min_score must be a whole number"},
		{"bad refresh", feed(ok + "\n            refresh 1ms"), "Corefile:7 - Error during parsing: refresh needs a duration of at least"},
		{"reserved name", "threatstop.local:0 {\n    threatfeed {\n        feed custom {\n" + ok + "\n        }\n    }\n}\n", "Corefile:3 - Error during parsing: feed name \"custom\" is reserved"},
		{"duplicate feed", "threatstop.local:0 {\n    threatfeed {\n        feed f {\n" + ok + "\n        }\n        feed f {\n" + ok + "\n        }\n    }\n}\n", "Corefile:8 - Error during parsing: feed \"f\" is defined twice"},
		{"unknown feed in lists", policy("            lists f nosuch"), "Corefile:11 - Error during parsing: policy p: unknown feed \"nosuch\" in lists"},
		{"unknown feed in allow_lists", policy("            allow_lists nosuch"), "Corefile:11 - Error during parsing: policy p: unknown feed \"nosuch\" in allow_lists"},
		{"unknown category", policy("            categories tor"), "Corefile:11 - Error during parsing: policy p: no feed has category \"tor\""},
		{"answer outside 127/8", policy("            answer spam 10.0.0.2"), "Corefile:11 - Error during parsing: policy p: answer \"10.0.0.2\" is not an IPv4 address in 127.0.0.0/8"},
		{"answer unknown category", policy("            answer botnet 127.0.0.3"), "Corefile:11 - Error during parsing: policy p: answer for category \"botnet\""},
		{"bad block entry", policy("            block 192.0.2.0/33"), "Corefile:11 - Error during parsing: policy p: block: \"192.0.2.0/33\" is not a valid prefix"},
		{"bad allow entry", policy("            allow not_a^name"), "Corefile:11 - Error during parsing: policy p: allow:"},
		{"bad clients", policy("            clients 10.0.0.0/99"), "Corefile:11 - Error during parsing: policy p: clients:"},
		{"unknown policy property", policy("            colour red"), "Corefile:11 - Error during parsing: policy p: unknown property \"colour\""},
		{"reserved policy", strings.Replace(policy("            lists f"), "policy p {", "policy rpz {", 1), "Corefile:10 - Error during parsing: policy name \"rpz\" is reserved"},
		{"policy name not a label", strings.Replace(policy("            lists f"), "policy p {", "policy a.b {", 1), "Corefile:10 - Error during parsing: policy name \"a.b\" must be one DNS label"},
		{"no policy", "threatstop.local:0 {\n    threatstop {\n    }\n}\n", "threatstop needs at least one policy"},
		{"axfr without from", feed("            axfr p.rpz.example 127.0.0.1:53\n            category spam"), "Corefile:4 - Error during parsing: axfr needs: axfr ZONE from ADDRESS[:PORT]"},
		{"axfr from a host name", feed("            axfr p.rpz.example from primary.example\n            category spam"), "Corefile:4 - Error during parsing: axfr: the primary must be an IP address"},
		{"axfr key without tsig", feed("            axfr p.rpz.example from 127.0.0.1 key k.key.\n            category spam"), "Corefile:4 - Error during parsing: axfr: key \"k.key.\" is not defined by a tsig plugin"},
		{"axfr bad algorithm", "threatstop.local:0 {\n    tsig {\n        secret k.key. c2VjcmV0\n    }\n    threatfeed {\n        feed f {\n            axfr p.rpz.example from 127.0.0.1 key k.key. md5\n            category spam\n        }\n    }\n}\n", "Corefile:7 - Error during parsing: axfr: unknown TSIG algorithm"},
		{"axfr and file", feed("            axfr p.rpz.example from 127.0.0.1\n" + ok), "Corefile:5 - Error during parsing: feed \"f\" has more than one source"},
		{"bad url", feed("            url ftp://feeds.example/x\n            format plain\n            category spam"), "Corefile:4 - Error during parsing: url needs an http:// or https:// URL"},
		{"two sources", feed(ok + "\n            url https://feeds.example/x"), "Corefile:7 - Error during parsing: feed \"f\" has more than one source"},
		{"header without url", feed(ok + "\n            header X-Api-Key secret"), "header is for url sources"},
		{"bad max_shrink", feed(ok + "\n            max_shrink 150%"), "Corefile:7 - Error during parsing: max_shrink needs a percentage from 0% to 100%"},
		{"bad stale", feed(ok + "\n            stale keep"), "Corefile:7 - Error during parsing: stale needs serve or drop"},
		{"bad max_age", feed(ok + "\n            max_age soon"), "Corefile:7 - Error during parsing: max_age needs a duration"},
		{"bad max_size", feed(ok + "\n            max_size lots"), "Corefile:7 - Error during parsing: max_size needs a size"},
		{"bad retries", feed(ok + "\n            retries 99"), "Corefile:7 - Error during parsing: retries needs a whole number from 0 to 10"},
		{"bad min_prefix_v4", feed(ok + "\n            min_prefix_v4 33"), "Corefile:7 - Error during parsing: min_prefix_v4 needs a whole number from 0 to 32"},
		{"keep_private takes nothing", feed(ok + "\n            keep_private yes"), "Corefile:7 - Error during parsing: Wrong argument count"},
		{"block-level bad setting", "threatstop.local:0 {\n    threatfeed {\n        max_shrink -1\n    }\n}\n", "Corefile:3 - Error during parsing: max_shrink needs a percentage"},
		{"bad status address", "threatstop.local:0 {\n    threatfeed {\n        status nowhere\n    }\n}\n", "Corefile:3 - Error during parsing: status:"},
		{"bad max_concurrent", "threatstop.local:0 {\n    threatfeed {\n        max_concurrent 0\n    }\n}\n", "Corefile:3 - Error during parsing: max_concurrent needs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := coretest.StartErr(tc.corefile)
			if err == nil {
				s.Stop()
				t.Fatalf("started with:\n%s", tc.corefile)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestMissingFileIsNotFatal: a feed file missing at start-up is logged and retried; the server runs and is
// not ready until the file appears, so a typo in a path shows on the ready endpoint, not as a crash loop.
func TestMissingFileIsNotFatal(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	readyAddr := l.Addr().String()
	l.Close()
	s := coretest.Start(t, fmt.Sprintf(`threatstop.local:0 {
    bind 127.0.0.1
    ready %s
    threatfeed {
        refresh 50ms
        feed f {
            file %s/late.txt
            format plain
            category spam
        }
    }
    threatstop {
        policy p {
            lists f
        }
    }
}
`, readyAddr, dir))
	ready := func() int {
		resp, err := http.Get("http://" + readyAddr + "/ready")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	q := func() int { return s.Query(t, "1.16.10.1.p.threatstop.local.", dns.TypeA).Rcode }
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Fatalf("ready answered %d with a feed missing", code)
	}
	if rc := q(); rc != dns.RcodeNameError {
		t.Fatalf("lookup with the feed missing: %s", dns.RcodeToString[rc])
	}
	os.WriteFile(filepath.Join(dir, "late.txt"), []byte("1.10.16.1\n"), 0o644)
	deadline := time.Now().Add(5 * time.Second)
	for ready() != http.StatusOK || q() != dns.RcodeSuccess {
		if time.Now().After(deadline) {
			t.Fatalf("not ready, or not listed, after the feed appeared: ready %d", ready())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSettingsInheritance: settings of the threatfeed block apply to every feed that does not set its own,
// wherever in the block they are written; url feeds default to a longer refresh than files.
func TestSettingsInheritance(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f.txt"), []byte("1.10.16.1\n"), 0o644)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	statusAddr := l.Addr().String()
	l.Close()
	coretest.Start(t, fmt.Sprintf(`threatstop.local:0 {
    bind 127.0.0.1
    threatfeed {
        status %[2]s
        feed a {
            file %[1]s/f.txt
            format plain
            category spam
        }
        feed b {
            file %[1]s/f.txt
            format plain
            category spam
            refresh 3s
            max_age 2h
        }
        feed c {
            url http://127.0.0.1:1/nothing.txt
            format plain
            category spam
        }
        refresh 2s
        max_age 1h
    }
}
`, dir, statusAddr))
	resp, err := http.Get("http://" + statusAddr + "/feeds")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct{ Feeds []threatfeed.FeedStatus }
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{"a": {"2s", "1h0m0s"}, "b": {"3s", "2h0m0s"}, "c": {"2s", "1h0m0s"}}
	for _, f := range doc.Feeds {
		if got := [2]string{f.Refresh, f.MaxAge}; got != want[f.Name] {
			t.Errorf("feed %s: refresh, max_age = %v, want %v", f.Name, got, want[f.Name])
		}
	}
}

package threatfeed

import (
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"

	"github.com/threatstop/threatstop/internal/setuptest"
	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/feed"
	"github.com/threatstop/threatstop/plugin/pkg/format"
	"github.com/threatstop/threatstop/plugin/pkg/guard"
	"github.com/threatstop/threatstop/plugin/pkg/source"
)

// parsedFeeds runs the registered setup over a threatfeed block and returns what it defined: the
// instance's Feeds and its feeds in order. The checks read a few unexported fields of Feeds (the feeds,
// cache, statusAddr, maxConcurrent): the settings are observable nowhere else without starting a server.
func parsedFeeds(t *testing.T, input string) (*Feeds, []*feed.Feed, error) {
	t.Helper()
	c := caddy.NewTestController("dns", input)
	err := setup(c)
	f := FromController(c)
	return f, feedsOf(f), err
}

// feedsOf is the feeds f defines, in order.
func feedsOf(f *Feeds) []*feed.Feed { return f.feeds }

// TestSetupTable parses valid threatfeed blocks with caddy.NewTestController and checks the feeds they
// define: sources, formats, categories, and each setting taken from the feed, the block or the default.
// TestCorefileErrors (setup_test.go) starts whole servers; this table covers the directive alone.
func TestSetupTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		check func(t *testing.T, f *Feeds, fs []*feed.Feed)
	}{
		{"one file feed, defaults", `threatfeed {
    feed drop {
        file /var/lib/feeds/drop.txt
        format plain
        category botnet
    }
}`, func(t *testing.T, f *Feeds, fs []*feed.Feed) {
			fd := one(t, fs)
			src, ok := fd.Source.(*source.File)
			if !ok || src.Path != "/var/lib/feeds/drop.txt" || src.MaxSize != 0 {
				t.Errorf("source %#v, want the file with the default size limit", fd.Source)
			}
			if fd.Name != "drop" || fd.Format != "plain" || fd.Category != "botnet" || fd.Parser == nil {
				t.Errorf("feed %q format %q category %q parser %v", fd.Name, fd.Format, fd.Category, fd.Parser)
			}
			if fd.Refresh != DefaultRefresh || fd.MaxShrink != feed.DefaultMaxShrink || fd.MaxShrinkHold != feed.DefaultMaxShrinkHold || fd.MaxAge != 0 || fd.DropStale {
				t.Errorf("refresh %v max_shrink %v max_shrink_hold %v max_age %v drop_stale %v, want the defaults", fd.Refresh, fd.MaxShrink, fd.MaxShrinkHold, fd.MaxAge, fd.DropStale)
			}
			if fd.AllowEmpty {
				t.Error("allow_empty set by default")
			}
			if fd.Guard != guard.Default() {
				t.Errorf("guard %+v, want %+v", fd.Guard, guard.Default())
			}
			if id, ok := f.store.ListID("drop"); !ok || id != 0 {
				t.Errorf("ListID(drop) = %d, %v", id, ok)
			}
			if f.cache != nil || f.statusAddr != "" || f.maxConcurrent != DefaultMaxConcurrent {
				t.Errorf("cache %v status %q max_concurrent %d, want none, none, %d", f.cache, f.statusAddr, f.maxConcurrent, DefaultMaxConcurrent)
			}
		}},
		{"url feed: remote defaults, header, retries 0 is none", `threatfeed {
    feed tor {
        url https://feeds.example/tor.txt?key=secret
        header X-Api-Key abc def
        format plain
        category tor
        retries 0
        timeout 5s
        connect_timeout 2s
        max_size 16M
    }
}`, func(t *testing.T, f *Feeds, fs []*feed.Feed) {
			fd := one(t, fs)
			h, ok := fd.Source.(*source.HTTP)
			if !ok {
				t.Fatalf("source %T, want *source.HTTP", fd.Source)
			}
			if h.URL.String() != "https://feeds.example/tor.txt?key=secret" || h.Header.Get("X-Api-Key") != "abc def" {
				t.Errorf("url %s header %v", h.URL, h.Header)
			}
			if h.Retries != -1 || h.Timeout != 5*time.Second || h.ConnectTimeout != 2*time.Second || h.MaxSize != 16<<20 {
				t.Errorf("retries %d timeout %v connect_timeout %v max_size %d", h.Retries, h.Timeout, h.ConnectTimeout, h.MaxSize)
			}
			if fd.Refresh != DefaultRemoteRefresh {
				t.Errorf("refresh %v, want the remote default %v", fd.Refresh, DefaultRemoteRefresh)
			}
		}},
		{"url feed without settings gets the source defaults", `threatfeed {
    feed tor {
        url http://feeds.example/tor.txt
        format plain
        category tor
    }
}`, func(t *testing.T, f *Feeds, fs []*feed.Feed) {
			h := one(t, fs).Source.(*source.HTTP)
			if h.Retries != 0 || h.Timeout != DefaultTimeout || h.ConnectTimeout != DefaultConnectTimeout {
				t.Errorf("retries %d timeout %v connect_timeout %v", h.Retries, h.Timeout, h.ConnectTimeout)
			}
		}},
		{"axfr feed: rpz format by default, refresh bounds the SOA refresh", `threatfeed {
    feed upstream {
        axfr Upstream.RPZ.Example from 192.0.2.53
        category malware
        refresh 500ms
    }
}`, func(t *testing.T, f *Feeds, fs []*feed.Feed) {
			fd := one(t, fs)
			a, ok := fd.Source.(*source.AXFR)
			if !ok {
				t.Fatalf("source %T, want *source.AXFR", fd.Source)
			}
			if a.Zone != "upstream.rpz.example." || a.Server != "192.0.2.53:53" || a.Key != "" || a.Timeout != DefaultTimeout {
				t.Errorf("zone %q server %q key %q timeout %v", a.Zone, a.Server, a.Key, a.Timeout)
			}
			if fd.Format != "rpz" || a.MaxRefresh != 500*time.Millisecond || fd.Refresh != 500*time.Millisecond {
				t.Errorf("format %q max_refresh %v refresh %v", fd.Format, a.MaxRefresh, fd.Refresh)
			}
		}},
		{"block settings apply to every feed, wherever written; a feed's own win", `threatfeed {
    feed a {
        file a.txt
        format plain
        category spam
    }
    feed b {
        file b.txt
        format ipsum
        min_score 3
        category scanner
        max_shrink 10%
        max_shrink_hold 0
        allow_empty
        stale serve
        min_prefix_v4 16
        min_prefix_v6 32
    }
    max_shrink 100%
    max_shrink_hold 72h
    max_age 2h
    stale drop
    keep_private
    max_size 1G
    cache /var/cache/threatfeed
    status 127.0.0.1:9154
    max_concurrent 8
}`, func(t *testing.T, f *Feeds, fs []*feed.Feed) {
			if len(fs) != 2 {
				t.Fatalf("%d feeds, want 2", len(fs))
			}
			a, b := fs[0], fs[1]
			if a.AllowEmpty || !b.AllowEmpty {
				t.Errorf("allow_empty %v and %v, want it only on feed b", a.AllowEmpty, b.AllowEmpty)
			}
			if a.MaxShrinkHold != 72*time.Hour || b.MaxShrinkHold != 0 {
				t.Errorf("max_shrink_hold %v and %v, want 72h from the block and 0 from feed b", a.MaxShrinkHold, b.MaxShrinkHold)
			}
			if a.MaxShrink != 1 || a.MaxAge != 2*time.Hour || !a.DropStale || !a.Guard.KeepPrivate || a.Source.(*source.File).MaxSize != 1<<30 {
				t.Errorf("feed a: max_shrink %v max_age %v drop_stale %v guard %+v", a.MaxShrink, a.MaxAge, a.DropStale, a.Guard)
			}
			if b.MaxShrink != 0.1 || b.MaxAge != 2*time.Hour || b.DropStale || b.Guard != (guard.Guard{MinBits4: 16, MinBits6: 32, KeepPrivate: true}) {
				t.Errorf("feed b: max_shrink %v max_age %v drop_stale %v guard %+v", b.MaxShrink, b.MaxAge, b.DropStale, b.Guard)
			}
			if f.cache == nil || f.cache.Path != "/var/cache/threatfeed" || f.statusAddr != "127.0.0.1:9154" || f.maxConcurrent != 8 {
				t.Errorf("cache %v status %q max_concurrent %d", f.cache, f.statusAddr, f.maxConcurrent)
			}
			if ids := f.store.Category("scanner"); len(ids) != 1 || ids[0] != 1 {
				t.Errorf("Category(scanner) = %v, want [1]", ids)
			}
		}},
		{"two blocks add to one set of feeds", `threatfeed {
    feed a {
        file a.txt
        format plain
        category spam
    }
    status 127.0.0.1:9154
}
threatfeed {
    feed b {
        file b.txt
        format hosts
        category ads
    }
    status 127.0.0.1:9154
}`, func(t *testing.T, f *Feeds, fs []*feed.Feed) {
			cat := f.store.Catalog()
			if len(cat) != 2 || cat[0].Name != "a" || cat[1].Name != "b" || cat[1].Category != "ads" {
				t.Errorf("catalog %+v, want a (spam) and b (ads)", cat)
			}
		}},
		{"format url and its option paths reach the parser", `threatfeed {
    feed urls {
        url https://feeds.example/urls.txt
        format url
        paths keep
        category malware
    }
    feed hosts {
        file urls.txt
        format url
        category malware
    }
    feed defanged {
        file iocs.txt
        format url
        refang
        paths keep
        category malware
    }
}`, func(t *testing.T, f *Feeds, fs []*feed.Feed) {
			if len(fs) != 3 || fs[0].Format != "url" || fs[1].Format != "url" || fs[2].Format != "url" {
				t.Fatalf("feeds %v", fs)
			}
			// paths keep lists the path's host, the default skips it; refang reads "hxxp" and "[.]".
			for i, want := range []int{2, 1, 3} {
				var b entryset.Builder
				var st format.Stats
				fs[i].Parser.Parse("http://a.example/x.exe\nhttp://b.example/\nhxxp://c[.]example/x\n", &b, &st)
				if st.Entries != want {
					t.Errorf("feed %s: %+v, want %d entries", fs[i].Name, st, want)
				}
			}
		}},
		{"empty block", "threatfeed", func(t *testing.T, f *Feeds, fs []*feed.Feed) {
			if len(fs) != 0 || len(f.store.Catalog()) != 0 {
				t.Errorf("%d feeds from an empty block", len(fs))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, fs, err := parsedFeeds(t, tc.input)
			if err != nil {
				t.Fatalf("setup: %v", err)
			}
			tc.check(t, f, fs)
		})
	}
}

func one(t *testing.T, fs []*feed.Feed) *feed.Feed {
	t.Helper()
	if len(fs) != 1 {
		t.Fatalf("%d feeds, want 1", len(fs))
	}
	return fs[0]
}

// TestSetupTableErrors: each invalid threatfeed block fails setup with an error that names its line.
// Cases that TestCorefileErrors already covers are not repeated.
func TestSetupTableErrors(t *testing.T) {
	const ok = "        file f.txt\n        format plain\n        category spam\n" // lines 3-5 of a feed block
	feedBlock := func(body string) string { return "threatfeed {\n    feed f {\n" + body + "    }\n}" }
	for _, tc := range []struct {
		name  string
		input string
		line  int
		want  string
	}{
		{"arguments to threatfeed", "threatfeed extra {\n}", 1, "Wrong argument count"},
		{"unknown block property", "threatfeed {\n    colour red\n}", 2, `unknown property "colour"`},
		{"feed without a name", "threatfeed {\n    feed {\n" + ok + "    }\n}", 2, "feed needs exactly one name"},
		{"feed with two names", "threatfeed {\n    feed a b {\n" + ok + "    }\n}", 2, "feed needs exactly one name"},
		{"feed name not lowercase", "threatfeed {\n    feed Drop {\n" + ok + "    }\n}", 2, `feed name "Drop" must be lowercase`},
		{"feed defined twice across blocks", "threatfeed {\n    feed f {\n" + ok + "    }\n}\nthreatfeed {\n    feed f {\n" + ok + "    }\n}", 9, `feed "f" is defined twice`},
		{"no format", feedBlock("        file f.txt\n        category spam\n"), 5, `feed "f" (line 2) needs a format`},
		{"format without a name", feedBlock("        file f.txt\n        format\n        category spam\n"), 4, "format needs one of:"},
		{"file with two paths", feedBlock("        file a.txt b.txt\n        format plain\n        category spam\n"), 3, "file needs exactly one argument"},
		{"url without a host", feedBlock("        url https:///x.txt\n        format plain\n        category spam\n"), 3, "url needs an http:// or https:// URL"},
		{"header without a value", feedBlock("        url https://feeds.example/x\n        header X-Api-Key\n        format plain\n        category spam\n"), 4, "header needs a name and a value"},
		{"option of another format", feedBlock(ok + "        column 2\n"), 7, `line 6: "column" is neither a feed property nor an option of format plain`},
		{"paths of another format", feedBlock(ok + "        paths keep\n"), 7, `line 6: "paths" is neither a feed property nor an option of format plain`},
		{"refang with a value", feedBlock(ok + "        refang yes\n"), 7, "refang takes no value"},
		{"paths with a bad value", feedBlock("        file f.txt\n        format url\n        paths all\n        category spam\n"), 7, "paths takes keep or skip"},
		{"bad option of the format", feedBlock("        file f.txt\n        format csv\n        column 0\n        category spam\n"), 7, `feed "f" (format on line 4):`},
		{"category of two words", feedBlock("        file f.txt\n        format plain\n        category spam ham\n"), 5, "category needs one lowercase word"},
		{"refresh without a value", feedBlock(ok + "        refresh\n"), 6, "refresh needs exactly one value"},
		{"timeout too short", feedBlock(ok + "        timeout 1ms\n"), 6, "timeout needs a duration of at least 10ms"},
		{"connect_timeout not a duration", feedBlock(ok + "        connect_timeout ten\n"), 6, "connect_timeout needs a duration"},
		{"max_age under a second", feedBlock(ok + "        max_age 10ms\n"), 6, "max_age needs a duration of at least 1s"},
		{"max_size of zero", feedBlock(ok + "        max_size 0\n"), 6, "max_size needs a size"},
		{"max_size over a TiB", feedBlock(ok + "        max_size 2048G\n"), 6, "max_size needs a size"},
		{"max_shrink of two values", feedBlock(ok + "        max_shrink 10% 20%\n"), 6, "max_shrink needs exactly one value"},
		{"max_shrink_hold not a duration", feedBlock(ok + "        max_shrink_hold 1d\n"), 6, `max_shrink_hold needs a duration of at least 0s, not "1d"`},
		{"max_shrink_hold negative", "threatfeed {\n    max_shrink_hold -1h\n}", 2, "max_shrink_hold needs a duration"},
		{"max_shrink_hold without a value", feedBlock(ok + "        max_shrink_hold\n"), 6, "max_shrink_hold needs exactly one value"},
		{"allow_empty with a value", feedBlock(ok + "        allow_empty yes\n"), 6, "Wrong argument count"},
		{"min_prefix_v6 over 128", feedBlock(ok + "        min_prefix_v6 129\n"), 6, "min_prefix_v6 needs a whole number from 0 to 128"},
		{"axfr zone not a name", feedBlock("        axfr a..b from 192.0.2.53\n        category spam\n"), 3, `axfr: "a..b" is not a zone name`},
		{"axfr key without a name", feedBlock("        axfr p.rpz.example from 192.0.2.53 key\n        category spam\n"), 3, "axfr needs: axfr ZONE from ADDRESS"},
		{"cache without a directory", "threatfeed {\n    cache\n}", 2, "cache needs one directory"},
		{"cache set twice", "threatfeed {\n    cache /a\n}\nthreatfeed {\n    cache /b\n}", 5, "cache is set to /a in another threatfeed block"},
		{"status without an address", "threatfeed {\n    status\n}", 2, "status needs one address"},
		{"status set twice", "threatfeed {\n    status 127.0.0.1:1\n}\nthreatfeed {\n    status 127.0.0.1:2\n}", 5, "status is set to 127.0.0.1:1 in another threatfeed block"},
		{"max_concurrent over 256", "threatfeed {\n    max_concurrent 257\n}", 2, "max_concurrent needs a number of fetches from 1 to 256"},
		{"block-level stale of another word", "threatfeed {\n    stale maybe\n}", 2, "stale needs serve or drop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parsedFeeds(t, tc.input)
			if err == nil {
				t.Fatalf("setup accepted:\n%s", tc.input)
			}
			setuptest.AssertLineError(t, err, tc.line, tc.want)
		})
	}
}

// TestSetupAXFRKey: an axfr feed's key takes its secret from the server block's tsig plugin
// (dnsserver's TsigSecret, which the tsig plugin fills before threatfeed runs).
func TestSetupAXFRKey(t *testing.T) {
	c := caddy.NewTestController("dns", `threatfeed {
    feed upstream {
        axfr upstream.rpz.example from [2001:db8::53]:5353 key Transfer.Key hmac-sha512
        category malware
    }
}`)
	dnsserver.GetConfig(c).TsigSecret = map[string]string{"transfer.key.": "c2VjcmV0"}
	if err := setup(c); err != nil {
		t.Fatalf("setup: %v", err)
	}
	a, ok := one(t, feedsOf(FromController(c))).Source.(*source.AXFR)
	if !ok {
		t.Fatal("not an axfr source")
	}
	if a.Server != "[2001:db8::53]:5353" || a.Key != "transfer.key." || a.Secret != "c2VjcmV0" || a.Algo != "hmac-sha512." {
		t.Errorf("server %q key %q secret %q algo %q", a.Server, a.Key, a.Secret, a.Algo)
	}
}

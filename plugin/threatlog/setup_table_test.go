package threatlog

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"

	"github.com/threatstop/threatstop/internal/setuptest"
	"github.com/threatstop/threatstop/plugin/pkg/logparse"
)

// conf is what a threatlog block configures, as the table compares it.
type conf struct {
	zones                        []string
	listen, db                   string
	retention, skew, readTimeout time.Duration
	maxSize                      int64
	infected, v4Bits, v6Bits     int
	syncPrefix                   string
	listedOnly                   bool
	tokens                       map[string]token
	share                        map[string][]string // policy → its devices, sorted; nil: all
}

// setupConf runs the registered setup over input and returns the configuration of the handler it adds
// to the server block. The only place this test reads Threatlog's fields.
func setupConf(t *testing.T, input string) (conf, error) {
	t.Helper()
	c := caddy.NewTestController("dns", input)
	if err := setup(c); err != nil {
		return conf{}, err
	}
	cfg := dnsserver.GetConfig(c)
	// The first is formerr's guard (no tsig in these blocks), the last the plugin's own.
	if len(cfg.Plugin) != 2 {
		t.Fatalf("setup added %d handlers, want 2", len(cfg.Plugin))
	}
	tl, ok := cfg.Plugin[1](nil).(*Threatlog)
	if !ok {
		t.Fatalf("setup added a %T", cfg.Plugin[1](nil))
	}
	return conf{
		zones: tl.Zones, listen: tl.listen, db: tl.db,
		retention: tl.retention, skew: tl.skew, readTimeout: tl.readTimeout, maxSize: tl.maxSize,
		infected: tl.infected, v4Bits: tl.v4Bits, v6Bits: tl.v6Bits, syncPrefix: tl.syncPrefix,
		listedOnly: tl.listedOnly, tokens: tl.tokens, share: shares(tl.share),
	}, nil
}

func shares(m map[string]*shareOf) map[string][]string {
	out := map[string][]string{}
	for p, sh := range m {
		if sh.all {
			out[p] = nil
		} else {
			out[p] = slices.Sorted(maps.Keys(sh.devices))
		}
	}
	return out
}

// defaults is the configuration of a block that sets only listen.
func defaults() conf {
	return conf{
		listen: "127.0.0.1:8053", db: DefaultDB, retention: DefaultRetention, skew: DefaultSkew,
		readTimeout: DefaultReadTimeout, maxSize: DefaultMaxSize, infected: DefaultInfected, v4Bits: 32, v6Bits: 128,
		syncPrefix: logparse.DefaultSyncPrefix, tokens: map[string]token{}, share: map[string][]string{},
	}
}

// TestSetupTable parses valid threatlog blocks with caddy.NewTestController and checks every setting.
// TestSetupErrors and TestReload (threatlog_test.go) start whole servers; this table covers the directive
// alone.
func TestSetupTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		want  func(c *conf)
	}{
		{"listen only: the defaults", "threatlog {\n    listen 127.0.0.1:8053\n}", func(*conf) {}},
		{"zones from the arguments", "threatlog Demo.Threatstop.Local other.example. {\n    listen 127.0.0.1:8053\n}", func(c *conf) {
			c.zones = []string{"demo.threatstop.local.", "other.example."}
		}},
		{"every setting", `threatlog {
    listen [::1]:8053
    db /var/lib/threatlog/logs.db
    retention 90d
    skew 30s
    read_timeout 2m
    max_size 512KiB
    truncate 24 56
    infected 2
    listed_only
    sync_prefix TS-DROP
    token demo gw1 0123456789abcdef
    token demo gw2 fedcba9876543210
    token other fw.site-2 aaaaaaaaaaaaaaaaaaaa
}`, func(c *conf) {
			c.listen, c.db = "[::1]:8053", "/var/lib/threatlog/logs.db"
			c.retention, c.skew, c.readTimeout, c.maxSize = 90*24*time.Hour, 30*time.Second, 2*time.Minute, 512<<10
			c.v4Bits, c.v6Bits, c.infected, c.listedOnly, c.syncPrefix = 24, 56, 2, true, "TS-DROP"
			c.tokens = map[string]token{
				"0123456789abcdef":     {policy: "demo", device: "gw1"},
				"fedcba9876543210":     {policy: "demo", device: "gw2"},
				"aaaaaaaaaaaaaaaaaaaa": {policy: "other", device: "fw.site-2"},
			}
		}},
		{"share: all devices, named devices, repeated", `threatlog {
    listen 127.0.0.1:8053
    share demo
    share other fw1 gw.2
    share other fw3
    share mail mx1
    share mail
}`, func(c *conf) {
			c.share = map[string][]string{"demo": nil, "other": {"fw1", "fw3", "gw.2"}, "mail": nil}
		}},
		{"sizes and durations in other units", "threatlog {\n    listen 127.0.0.1:8053\n    max_size 2G\n    retention 36h\n    truncate 0 0\n}", func(c *conf) {
			c.maxSize, c.retention, c.v4Bits, c.v6Bits = 2<<30, 36*time.Hour, 0, 0
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setupConf(t, tc.input)
			if err != nil {
				t.Fatalf("setup: %v", err)
			}
			want := defaults()
			tc.want(&want)
			if !slices.Equal(got.zones, want.zones) { // nil and empty alike
				t.Errorf("zones %q, want %q", got.zones, want.zones)
			}
			got.zones, want.zones = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestSetupTableErrors: each invalid threatlog block fails setup with an error that names its line.
// Cases that TestSetupErrors already covers are not repeated.
func TestSetupTableErrors(t *testing.T) {
	block := func(lines ...string) string {
		return "threatlog {\n    listen 127.0.0.1:8053\n    " + strings.Join(lines, "\n    ") + "\n}" // lines from 3 on
	}
	for _, tc := range []struct {
		name  string
		input string
		line  int
		want  string
	}{
		{"listen not host:port", "threatlog {\n    listen 8053\n}", 2, `listen "8053" is not HOST:PORT`},
		{"listen twice on a line", "threatlog {\n    listen 127.0.0.1:1 127.0.0.1:2\n}", 2, "Wrong argument count"},
		{"no listen", "threatlog {\n    db logs.db\n}", 3, "threatlog needs listen HOST:PORT"},
		{"db without a path", block("db"), 3, "Wrong argument count"},
		{"retention of zero days", block("retention 0d"), 3, `retention needs a duration such as 35d or 12h, not "0d"`},
		{"negative skew", block("skew -1s"), 3, "skew needs a duration"},
		{"read_timeout in weeks", block("read_timeout 1w"), 3, "read_timeout needs a duration"},
		{"skew of two values", block("skew 1s 2s"), 3, "Wrong argument count"},
		{"max_size over a TiB", block("max_size 2048GiB"), 3, "max_size needs a size of at least 1KiB"},
		{"max_size negative", block("max_size -5K"), 3, "max_size needs a size"},
		{"truncate with one length", block("truncate 24"), 3, "truncate needs the IPv4 and the IPv6 prefix length"},
		{"truncate IPv6 over 128", block("truncate 24 129"), 3, "truncate needs prefix lengths 0-32 and 0-128"},
		{"infected zero", block("infected 0"), 3, `infected needs a number of contacts of at least 1, not "0"`},
		{"listed_only takes nothing", block("listed_only yes"), 3, "Wrong argument count"},
		{"sync_prefix without a value", block("sync_prefix"), 3, "Wrong argument count"},
		{"token with two arguments", block("token demo 0123456789abcdef"), 3, "token needs a policy, a device and the token"},
		{"token device with a slash", block("token demo gw/1 0123456789abcdef"), 3, `token: device "gw/1" must be letters`},
		{"token used twice", block("token demo gw1 0123456789abcdef", "token other gw2 0123456789abcdef"), 4, "token for other/gw2 is used twice"},
		{"share without a policy", block("share"), 3, "share needs a policy"},
		{"share device with a slash", block("share demo gw/1"), 3, `share: device "gw/1" must be letters`},
		{"error on a later line", block("db logs.db", "retention 35d", "infected many"), 5, "infected needs a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := setupConf(t, tc.input)
			if err == nil {
				t.Fatalf("setup accepted:\n%s", tc.input)
			}
			setuptest.AssertLineError(t, err, tc.line, tc.want)
		})
	}
}

// TestSetupOnce: a second threatlog block in one server block is refused.
func TestSetupOnce(t *testing.T) {
	_, err := setupConf(t, "threatlog {\n    listen 127.0.0.1:1\n}\nthreatlog {\n    listen 127.0.0.1:2\n}")
	if !errors.Is(err, plugin.ErrOnce) {
		t.Fatalf("error %v, want %v", err, plugin.ErrOnce)
	}
}

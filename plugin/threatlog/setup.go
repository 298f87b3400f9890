package threatlog

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/threatstop/threatstop/plugin/pkg/formerr"
	"github.com/threatstop/threatstop/plugin/pkg/httplisten"
	"github.com/threatstop/threatstop/plugin/pkg/logparse"
	"github.com/threatstop/threatstop/plugin/pkg/siem"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

const pluginName = "threatlog"

var log = clog.NewWithPlugin(pluginName)

func init() { plugin.Register(pluginName, setup) }

// Defaults.
const (
	DefaultRetention   = 35 * 24 * time.Hour
	DefaultMaxSize     = 32 << 20 // bytes of an upload, decompressed
	DefaultSkew        = 5 * time.Minute
	DefaultReadTimeout = time.Minute // for an upload's body to arrive
	DefaultInfected    = 5           // outbound contacts with listed addresses that make an inside host "likely infected"
	DefaultDB          = "threatlog.db"
)

var deviceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// token is a per-device bearer token.
type token struct {
	policy, device string
}

func setup(c *caddy.Controller) error {
	t, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	cfg := dnsserver.GetConfig(c)
	store := state.FromController(c)
	file, line, serverBlock := c.File(), t.line, c.ServerBlockIndex
	c.OnStartup(func() error {
		// The policies of the threatstop block of the same server block: threatstop's directive comes after
		// threatlog's, so they are known only once every block is parsed.
		var block *state.Block
		for _, b := range store.Blocks() {
			if b.ServerBlock == serverBlock {
				block = b
				break
			}
		}
		if block == nil {
			return plugin.Error(pluginName, fmt.Errorf("%s:%d - threatlog needs the threatstop plugin (its policies) in the same server block", file, line))
		}
		for _, tk := range t.tokens {
			if block.Policy(tk.policy) == nil {
				return plugin.Error(pluginName, fmt.Errorf("%s:%d - token for unknown policy %q", file, line, tk.policy))
			}
		}
		for _, pol := range slices.Sorted(maps.Keys(t.alertRules)) {
			if block.Policy(pol) == nil {
				return plugin.Error(pluginName, fmt.Errorf("%s:%d - alert of unknown policy %q", file, line, pol))
			}
			if r := t.alerts.Routes[pol]; len(r.Emails) > 0 && t.smtp == nil {
				return plugin.Error(pluginName, fmt.Errorf("%s:%d - alert %s sends email: it needs smtp HOST:PORT FROM", file, line, pol))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(t.edlMax)) {
			if pol, _, _ := strings.Cut(k, "/"); block.Policy(pol) == nil {
				return plugin.Error(pluginName, fmt.Errorf("%s:%d - edl_max of unknown policy %q", file, line, pol))
			}
		}
		for _, name := range slices.Sorted(maps.Keys(t.share)) {
			if block.Policy(name) == nil {
				return plugin.Error(pluginName, fmt.Errorf("%s:%d - share of unknown policy %q", file, t.share[name].line, name))
			}
		}
		if err := t.start(store, block, cfg.TsigSecret); err != nil {
			return plugin.Error(pluginName, fmt.Errorf("%s:%d - %w", file, line, err))
		}
		return nil
	})
	c.OnShutdown(t.stop)
	c.Set(BlockKey(c.ServerBlockIndex), t) // for threatadmin's reports
	formerr.Install(c)
	cfg.AddPlugin(func(next plugin.Handler) plugin.Handler {
		t.Next = next
		return t
	})
	return nil
}

// BlockKey keys, in a CoreDNS instance's storage, the Threatlog of a server block.
type BlockKey int

func parse(c *caddy.Controller) (*Threatlog, error) {
	t := &Threatlog{
		db: DefaultDB, retention: DefaultRetention, maxSize: DefaultMaxSize, skew: DefaultSkew, readTimeout: DefaultReadTimeout,
		infected: DefaultInfected, v4Bits: 32, v6Bits: 128, syncPrefix: logparse.DefaultSyncPrefix,
		tokens: map[string]token{}, share: map[string]*shareOf{},
	}
	i := 0
	for c.Next() {
		if i > 0 {
			return nil, plugin.ErrOnce
		}
		i++
		t.line = c.Line()
		t.Zones = plugin.OriginsFromArgsOrServerBlock(c.RemainingArgs(), c.ServerBlockKeys)
		for c.NextBlock() {
			key := c.Val()
			args := c.RemainingArgs()
			switch key {
			case "listen":
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				if _, _, err := net.SplitHostPort(args[0]); err != nil {
					return nil, c.Errf("listen %q is not HOST:PORT", args[0])
				}
				t.listen = args[0]
			case "alert":
				if err := t.parseAlert(c, args); err != nil {
					return nil, err
				}
			case "smtp":
				if err := t.parseSMTP(c, args); err != nil {
					return nil, err
				}
			case "siem":
				sender, err := siem.Parse(args)
				if err != nil {
					return nil, c.Err(err.Error())
				}
				sender.OnDrop = siemDropped.Inc
				t.siem = sender
			case "tls":
				if len(args) != 2 {
					return nil, c.Errf("tls needs a certificate file and a key file (PEM)")
				}
				l, err := httplisten.NewCertFiles(args[0], args[1])
				if err != nil {
					return nil, c.Errf("tls: %v", err)
				}
				t.tls = l
			case "db":
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				t.db = args[0]
			case "retention", "skew", "read_timeout":
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				d, err := parseDuration(args[0])
				if err != nil || d <= 0 {
					return nil, c.Errf("%s needs a duration such as 35d or 12h, not %q", key, args[0])
				}
				switch key {
				case "retention":
					t.retention = d
				case "skew":
					t.skew = d
				default:
					t.readTimeout = d
				}
			case "max_size":
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				n, err := parseSize(args[0])
				if err != nil || n < 1024 {
					return nil, c.Errf("max_size needs a size of at least 1KiB such as 32MiB, not %q", args[0])
				}
				t.maxSize = n
			case "truncate":
				if len(args) != 2 {
					return nil, c.Errf("truncate needs the IPv4 and the IPv6 prefix length, such as truncate 24 56")
				}
				v4, err4 := strconv.Atoi(args[0])
				v6, err6 := strconv.Atoi(args[1])
				if err4 != nil || err6 != nil || v4 < 0 || v4 > 32 || v6 < 0 || v6 > 128 {
					return nil, c.Errf("truncate needs prefix lengths 0-32 and 0-128, not %q %q", args[0], args[1])
				}
				t.v4Bits, t.v6Bits = v4, v6
			case "infected":
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				n, err := strconv.Atoi(args[0])
				if err != nil || n < 1 {
					return nil, c.Errf("infected needs a number of contacts of at least 1, not %q", args[0])
				}
				t.infected = n
			case "listed_only":
				if len(args) != 0 {
					return nil, c.ArgErr()
				}
				t.listedOnly = true
			case "sync_prefix":
				if len(args) != 1 || args[0] == "" {
					return nil, c.ArgErr()
				}
				t.syncPrefix = strings.TrimSpace(args[0])
			case "token":
				if len(args) != 3 {
					return nil, c.Errf("token needs a policy, a device and the token")
				}
				if !deviceRE.MatchString(args[1]) {
					return nil, c.Errf("token: device %q must be letters, digits, '.', '_' or '-', at most 64", args[1])
				}
				if len(args[2]) < 16 {
					return nil, c.Errf("token for %s/%s: a token needs at least 16 characters", args[0], args[1])
				}
				if _, dup := t.tokens[args[2]]; dup {
					return nil, c.Errf("token for %s/%s is used twice", args[0], args[1])
				}
				t.tokens[args[2]] = token{policy: args[0], device: args[1]}
			case "edl_max":
				if len(args) != 3 {
					return nil, c.Errf("edl_max needs a policy, a device and the most entries its lists hold")
				}
				m, err := strconv.Atoi(args[2])
				if err != nil || m < 1 || m > edlMaxLimit {
					return nil, c.Errf("edl_max %s %s: %q is not a number from 1 to %d", args[0], args[1], args[2], edlMaxLimit)
				}
				if t.edlMax == nil {
					t.edlMax = map[string]int{}
				}
				t.edlMax[args[0]+"/"+args[1]] = m
			case "share":
				if len(args) == 0 {
					return nil, c.Errf("share needs a policy, and optionally its devices")
				}
				for _, d := range args[1:] {
					if !deviceRE.MatchString(d) {
						return nil, c.Errf("share: device %q must be letters, digits, '.', '_' or '-', at most 64", d)
					}
				}
				sh := t.share[args[0]]
				if sh == nil {
					sh = &shareOf{line: c.Line(), devices: map[string]bool{}}
					t.share[args[0]] = sh
				}
				if len(args) == 1 {
					sh.all = true
				}
				for _, d := range args[1:] {
					sh.devices[d] = true
				}
			default:
				return nil, c.Errf("unknown property %q", key)
			}
		}
	}
	if t.listen == "" {
		return nil, c.Errf("threatlog needs listen HOST:PORT (the upload and report endpoint)")
	}
	return t, nil
}

// parseDuration reads a Go duration or a number of days ("35d").
func parseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// parseSize reads bytes with an optional KiB, MiB or GiB suffix (or K, M, G, same meaning).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = v, u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 1<<40/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

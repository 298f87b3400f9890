package threatfeed

import (
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/feed"
	"github.com/threatstop/threatstop/plugin/pkg/feedcache"
	"github.com/threatstop/threatstop/plugin/pkg/format"
	"github.com/threatstop/threatstop/plugin/pkg/guard"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/sensor"
	"github.com/threatstop/threatstop/plugin/pkg/source"
	"github.com/threatstop/threatstop/plugin/pkg/state"
	"github.com/threatstop/threatstop/plugin/pkg/timeouts"
)

const pluginName = "threatfeed"

var log = clog.NewWithPlugin(pluginName)

func init() { plugin.Register(pluginName, setup) }

// Defaults of the settings every feed has.
const (
	DefaultRefresh        = 10 * time.Second // local files: a stat each time
	DefaultRemoteRefresh  = 5 * time.Minute  // HTTP feeds: a conditional GET each time
	DefaultTimeout        = timeouts.FeedFetch
	DefaultConnectTimeout = timeouts.FeedConnect
	DefaultMaxConcurrent  = 4
)

// minRefresh keeps a typo such as "refresh 1ms" from turning a feed into a busy loop.
const minRefresh = 50 * time.Millisecond

var (
	nameRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	categoryRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	severities = []string{"low", "medium", "high", "critical"}
)

func setup(c *caddy.Controller) error {
	feeds := FromController(c)
	if err := parse(c, feeds); err != nil {
		return plugin.Error(pluginName, err)
	}
	c.OnStartup(feeds.Start)
	c.OnShutdown(feeds.Stop)
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		return &Threatfeed{Next: next, Feeds: feeds}
	})
	return nil
}

// storageKey keys the Feeds of one CoreDNS instance in caddy's instance storage: every threatfeed block
// of a Corefile adds to the same Feeds, and a reload starts a fresh one.
type storageKey struct{}

// FromController returns the Feeds of the controller's instance, creating it on first use. The threatstop
// plugin runs after threatfeed in every server block, so by the time it asks, every feed is defined.
func FromController(c *caddy.Controller) *Feeds {
	if f, ok := c.Get(storageKey{}).(*Feeds); ok {
		return f
	}
	f := newFeeds(state.FromController(c))
	c.Set(storageKey{}, f)
	return f
}

// settings are the per-feed knobs that a threatfeed block sets for all its feeds and a feed block for
// itself; nil means not set at that level.
type settings struct {
	refresh, timeout, connectTimeout, maxAge *time.Duration
	maxShrinkHold                            *time.Duration
	maxSize                                  *int64
	retries                                  *int
	maxShrink                                *float64
	dropStale, keepPrivate, allowEmpty       *bool
	minBits4, minBits6                       *int
}

// over returns s with every setting that o sets taken from o.
func (s settings) over(o settings) settings {
	pick := func(dst, src any) {
		switch d := dst.(type) {
		case **time.Duration:
			if v := src.(*time.Duration); v != nil {
				*d = v
			}
		case **int64:
			if v := src.(*int64); v != nil {
				*d = v
			}
		case **int:
			if v := src.(*int); v != nil {
				*d = v
			}
		case **float64:
			if v := src.(*float64); v != nil {
				*d = v
			}
		case **bool:
			if v := src.(*bool); v != nil {
				*d = v
			}
		}
	}
	pick(&s.refresh, o.refresh)
	pick(&s.timeout, o.timeout)
	pick(&s.connectTimeout, o.connectTimeout)
	pick(&s.maxAge, o.maxAge)
	pick(&s.maxSize, o.maxSize)
	pick(&s.retries, o.retries)
	pick(&s.maxShrink, o.maxShrink)
	pick(&s.maxShrinkHold, o.maxShrinkHold)
	pick(&s.dropStale, o.dropStale)
	pick(&s.keepPrivate, o.keepPrivate)
	pick(&s.allowEmpty, o.allowEmpty)
	pick(&s.minBits4, o.minBits4)
	pick(&s.minBits6, o.minBits6)
	return s
}

func ptr[T any](v T) *T { return &v }

// settingKeys are the keywords parseSetting handles.
var settingKeys = map[string]bool{
	"refresh": true, "timeout": true, "connect_timeout": true, "max_age": true, "retries": true,
	"max_size": true, "max_shrink": true, "max_shrink_hold": true, "stale": true, "keep_private": true, "allow_empty": true,
	"min_prefix_v4": true, "min_prefix_v6": true,
}

// parseSetting parses the current token if it is a setting; handled reports whether it was one.
func (s *settings) parseSetting(c *caddy.Controller) (handled bool, err error) {
	key := c.Val()
	if !settingKeys[key] {
		return false, nil
	}
	args := c.RemainingArgs()
	one := func() (string, error) {
		if len(args) != 1 {
			return "", c.Errf("%s needs exactly one value", key)
		}
		return args[0], nil
	}
	duration := func(min time.Duration) (*time.Duration, error) {
		v, err := one()
		if err != nil {
			return nil, err
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < min {
			return nil, c.Errf("%s needs a duration of at least %s, not %q", key, min, v)
		}
		return &d, nil
	}
	integer := func(lo, hi int) (*int, error) {
		v, err := one()
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return nil, c.Errf("%s needs a whole number from %d to %d, not %q", key, lo, hi, v)
		}
		return &n, nil
	}
	switch key {
	case "refresh":
		s.refresh, err = duration(minRefresh)
	case "timeout":
		s.timeout, err = duration(10 * time.Millisecond)
	case "connect_timeout":
		s.connectTimeout, err = duration(10 * time.Millisecond)
	case "max_age":
		s.maxAge, err = duration(time.Second)
	case "retries":
		s.retries, err = integer(0, 10)
	case "max_size":
		var v string
		if v, err = one(); err == nil {
			n, ok := parseSize(v)
			if !ok {
				return true, c.Errf("max_size needs a size such as 256M, 1G or 1048576, not %q", v)
			}
			s.maxSize = &n
		}
	case "max_shrink":
		var v string
		if v, err = one(); err == nil {
			f, perr := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
			if perr != nil || f < 0 || f > 100 {
				return true, c.Errf("max_shrink needs a percentage from 0%% to 100%%, not %q", v)
			}
			s.maxShrink = ptr(f / 100)
		}
	case "max_shrink_hold":
		s.maxShrinkHold, err = duration(0)
	case "stale":
		var v string
		if v, err = one(); err == nil {
			if v != "serve" && v != "drop" {
				return true, c.Errf("stale needs serve or drop, not %q", v)
			}
			s.dropStale = ptr(v == "drop")
		}
	case "keep_private":
		if len(args) != 0 {
			return true, c.ArgErr()
		}
		s.keepPrivate = ptr(true)
	case "allow_empty":
		if len(args) != 0 {
			return true, c.ArgErr()
		}
		s.allowEmpty = ptr(true)
	case "min_prefix_v4":
		s.minBits4, err = integer(0, 32)
	case "min_prefix_v6":
		s.minBits6, err = integer(0, 128)
	}
	return true, err
}

// parseSize parses a byte count with an optional K, M or G (binary) suffix.
func parseSize(s string) (int64, bool) {
	mult := int64(1)
	u := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(s, "B"), "i"))
	switch {
	case strings.HasSuffix(u, "K"):
		mult, u = 1<<10, u[:len(u)-1]
	case strings.HasSuffix(u, "M"):
		mult, u = 1<<20, u[:len(u)-1]
	case strings.HasSuffix(u, "G"):
		mult, u = 1<<30, u[:len(u)-1]
	}
	n, err := strconv.ParseInt(u, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, false
	}
	return n * mult, true
}

// feedConfig is a feed block as parsed, before the block's defaults are applied.
type feedConfig struct {
	feed       *feed.Feed
	http       *source.HTTP    // nil for a file
	axfr       *source.AXFR    // nil unless the feed is a zone transfer
	sensors    *source.Sensors // nil unless the feed is the sensors'
	confidence *int
	set        settings
	remote     bool
}

func parse(c *caddy.Controller, feeds *Feeds) error {
	root := dnsserver.GetConfig(c).Root
	for c.Next() {
		if len(c.RemainingArgs()) != 0 {
			return c.ArgErr()
		}
		var block settings
		var parsed []feedConfig
		seen := map[string]bool{}
		for c.NextBlock() {
			switch c.Val() {
			case "feed":
				fc, err := parseFeed(c, root, func(name string) bool { return seen[name] || feeds.has(name) })
				if err != nil {
					return err
				}
				seen[fc.feed.Name] = true
				parsed = append(parsed, fc)
				if sc := fc.sensors; sc != nil {
					feeds.sensorTable = sc.Table
					feeds.sensorWindow = max(feeds.sensorWindow, sc.Window)
					if feeds.sensorDisclose == 0 || sc.MinReporters < feeds.sensorDisclose {
						feeds.sensorDisclose = sc.MinReporters
					}
				}
			case "cache":
				args := c.RemainingArgs()
				if len(args) != 1 {
					return c.Errf("cache needs one directory")
				}
				dir := args[0]
				if !filepath.IsAbs(dir) && root != "" {
					dir = filepath.Join(root, dir)
				}
				if feeds.cache != nil && feeds.cache.Path != dir {
					return c.Errf("cache is set to %s in another threatfeed block", feeds.cache.Path)
				}
				feeds.cache = &feedcache.Dir{Path: dir}
			case "status":
				args := c.RemainingArgs()
				if len(args) != 1 {
					return c.Errf("status needs one address, such as 127.0.0.1:9154")
				}
				if _, _, err := net.SplitHostPort(args[0]); err != nil {
					return c.Errf("status: %v", err)
				}
				if feeds.statusAddr != "" && feeds.statusAddr != args[0] {
					return c.Errf("status is set to %s in another threatfeed block", feeds.statusAddr)
				}
				feeds.statusAddr = args[0]
			case "max_concurrent":
				args := c.RemainingArgs()
				n, err := strconv.Atoi(strings.Join(args, " "))
				if len(args) != 1 || err != nil || n < 1 || n > 256 {
					return c.Errf("max_concurrent needs a number of fetches from 1 to 256")
				}
				feeds.maxConcurrent = n
			default:
				handled, err := block.parseSetting(c)
				if err != nil {
					return err
				}
				if !handled {
					return c.Errf("unknown property %q", c.Val())
				}
			}
		}
		for _, fc := range parsed {
			feeds.add(fc.apply(block))
		}
	}
	return nil
}

// apply completes a feed with its settings over the block's and the built-in defaults.
func (fc feedConfig) apply(block settings) *feed.Feed {
	s := block.over(fc.set)
	f := fc.feed
	f.Refresh = DefaultRefresh
	if fc.remote {
		f.Refresh = DefaultRemoteRefresh
	}
	if s.refresh != nil {
		f.Refresh = *s.refresh
	}
	f.MaxShrink = feed.DefaultMaxShrink
	if s.maxShrink != nil {
		f.MaxShrink = *s.maxShrink
	}
	f.MaxShrinkHold = feed.DefaultMaxShrinkHold
	if s.maxShrinkHold != nil {
		f.MaxShrinkHold = *s.maxShrinkHold
	}
	if s.maxAge != nil {
		f.MaxAge = *s.maxAge
	}
	f.DropStale = s.dropStale != nil && *s.dropStale
	f.AllowEmpty = s.allowEmpty != nil && *s.allowEmpty
	f.Guard = guard.Default()
	if s.keepPrivate != nil {
		f.Guard.KeepPrivate = *s.keepPrivate
	}
	if s.minBits4 != nil {
		f.Guard.MinBits4 = *s.minBits4
	}
	if s.minBits6 != nil {
		f.Guard.MinBits6 = *s.minBits6
	}
	var maxSize int64
	if s.maxSize != nil {
		maxSize = *s.maxSize
	}
	switch src := f.Source.(type) {
	case *source.File:
		src.MaxSize = maxSize
	case *source.AXFR:
		// The SOA's refresh and retry timers pace the checks; the feed's loop only looks whether one is
		// due (a clock read), so it runs every second, or at the feed's refresh when that is shorter,
		// which then also bounds the SOA refresh.
		src.Timeout = DefaultTimeout
		if s.timeout != nil {
			src.Timeout = *s.timeout
		}
		f.Refresh = time.Second
		if s.refresh != nil {
			src.MaxRefresh = *s.refresh
			f.Refresh = min(f.Refresh, *s.refresh)
		}
	case *source.HTTP:
		src.MaxSize = maxSize
		src.Timeout, src.ConnectTimeout = DefaultTimeout, DefaultConnectTimeout
		if s.timeout != nil {
			src.Timeout = *s.timeout
		}
		if s.connectTimeout != nil {
			src.ConnectTimeout = *s.connectTimeout
		}
		if s.retries != nil {
			src.Retries = *s.retries
			if src.Retries == 0 {
				src.Retries = -1 // the source's "none"
			}
		}
	}
	return f
}

// parseFeed parses "feed NAME { ... }". taken reports whether a feed name is already defined.
func parseFeed(c *caddy.Controller, root string, taken func(string) bool) (feedConfig, error) {
	var fc feedConfig
	args := c.RemainingArgs()
	if len(args) != 1 {
		return fc, c.Errf("feed needs exactly one name")
	}
	name := args[0]
	switch {
	case !nameRE.MatchString(name):
		return fc, c.Errf("feed name %q must be lowercase letters, digits, '.', '_' or '-'", name)
	case name == policy.CustomList:
		return fc, c.Errf("feed name %q is reserved for policies' own entries", name)
	case taken(name):
		return fc, c.Errf("feed %q is defined twice", name)
	}
	f := &feed.Feed{Name: name}
	fc.feed = f
	line := c.Line()
	formatLine := 0
	opts := map[string][]string{}
	optLines := map[string]int{}
	header := http.Header{}
	for c.NextBlock() {
		switch c.Val() {
		case "axfr":
			if f.Source != nil {
				return fc, c.Errf("feed %q has more than one source", name)
			}
			a, err := ParseAXFR(c, "axfr")
			if err != nil {
				return fc, err
			}
			f.Source, fc.axfr, fc.remote = a, a, true
			if f.Format == "" {
				f.Format = "rpz"
			}
		case "file", "url":
			kind := c.Val()
			args := c.RemainingArgs()
			if len(args) != 1 {
				return fc, c.Errf("%s needs exactly one argument", kind)
			}
			if f.Source != nil {
				return fc, c.Errf("feed %q has more than one source", name)
			}
			if kind == "file" {
				path := args[0]
				if !filepath.IsAbs(path) && root != "" {
					path = filepath.Join(root, path)
				}
				f.Source = &source.File{Path: path}
				continue
			}
			u, err := url.Parse(args[0])
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fc, c.Errf("url needs an http:// or https:// URL")
			}
			fc.http = &source.HTTP{URL: u, Header: header}
			f.Source, fc.remote = fc.http, true
		case "sensors":
			if len(c.RemainingArgs()) != 0 {
				return fc, c.Errf("sensors takes no argument: its settings are min_reporters, window and decay")
			}
			if f.Source != nil {
				return fc, c.Errf("feed %q has more than one source", name)
			}
			fc.sensors = &source.Sensors{Table: sensor.Shared(), MinReporters: source.DefaultSensorMinReporters, Window: source.DefaultSensorWindow}
			f.Source, f.MayEmpty, f.MaxShrink = fc.sensors, true, 1
			if f.Format == "" {
				f.Format = "plain"
			}
		case "min_reporters", "window":
			key, args := c.Val(), c.RemainingArgs()
			if fc.sensors == nil {
				return fc, c.Errf("%s is a setting of the sensors source, which must come first", key)
			}
			if len(args) != 1 {
				return fc, c.ArgErr()
			}
			if key == "min_reporters" {
				n, err := strconv.Atoi(args[0])
				if err != nil || n < 1 || n > 1000000 {
					return fc, c.Errf("min_reporters needs a whole number of at least 1, not %q", args[0])
				}
				fc.sensors.MinReporters = n
				continue
			}
			d, err := time.ParseDuration(args[0])
			if err != nil || d < time.Minute {
				return fc, c.Errf("window needs a duration of at least 1m, not %q", args[0])
			}
			fc.sensors.Window = d
		case "confidence":
			args := c.RemainingArgs()
			n, err := 0, error(nil)
			if len(args) == 1 {
				n, err = strconv.Atoi(args[0])
			}
			if len(args) != 1 || err != nil || n < 0 || n > 100 {
				return fc, c.Errf("confidence needs a whole number from 0 to 100")
			}
			fc.confidence = &n
		case "severity":
			args := c.RemainingArgs()
			if len(args) != 1 || !slices.Contains(severities, args[0]) {
				return fc, c.Errf("severity needs one of: %s", strings.Join(severities, ", "))
			}
			f.Severity = args[0]
		case "decay":
			args := c.RemainingArgs()
			d, err := time.Duration(0), error(nil)
			if len(args) == 1 {
				d, err = time.ParseDuration(args[0])
			}
			if len(args) != 1 || err != nil || d < time.Minute {
				return fc, c.Errf("decay needs a half-life of at least 1m, such as 6h or 7d written 168h")
			}
			f.Decay = d
		case "header":
			args := c.RemainingArgs()
			if len(args) < 2 {
				return fc, c.Errf("header needs a name and a value")
			}
			header.Add(args[0], strings.Join(args[1:], " "))
		case "format":
			args := c.RemainingArgs()
			if len(args) != 1 {
				return fc, c.Errf("format needs one of: %s", strings.Join(format.Names(), ", "))
			}
			if _, ok := format.Lookup(args[0]); !ok {
				return fc, c.Errf("unknown format %q (known: %s)", args[0], strings.Join(format.Names(), ", "))
			}
			f.Format, formatLine = args[0], c.Line()
		case "category":
			args := c.RemainingArgs()
			if len(args) != 1 || !categoryRE.MatchString(args[0]) {
				return fc, c.Errf("category needs one lowercase word such as botnet, spam, scanner, c2, tor or malware")
			}
			f.Category = args[0]
		default:
			handled, err := fc.set.parseSetting(c)
			if err != nil {
				return fc, err
			}
			if !handled {
				// Anything else is an option of the format, checked once the format is known.
				key := c.Val()
				opts[key], optLines[key] = c.RemainingArgs(), c.Line()
			}
		}
	}
	switch {
	case f.Source == nil:
		return fc, c.Errf("feed %q (line %d) needs a source: file PATH, url URL, axfr ZONE from ADDRESS or sensors", name, line)
	case fc.sensors != nil && f.Format != "plain":
		return fc, c.Errf("feed %q (line %d): the sensors source serves the plain format", name, line)
	case f.Format == "":
		return fc, c.Errf("feed %q (line %d) needs a format: %s", name, line, strings.Join(format.Names(), ", "))
	case f.Category == "":
		return fc, c.Errf("feed %q (line %d) needs a category", name, line)
	case len(header) > 0 && fc.http == nil:
		return fc, c.Errf("feed %q (line %d): header is for url sources", name, line)
	}
	known, _ := format.Lookup(f.Format)
	for key, l := range optLines {
		if !known.Takes(key) {
			return fc, c.Errf("line %d: %q is neither a feed property nor an option of format %s", l, key, f.Format)
		}
	}
	p, err := format.New(f.Format, opts)
	if err != nil {
		return fc, c.Errf("feed %q (format on line %d): %v", name, formatLine, err)
	}
	f.Parser = p
	f.Confidence = feed.DefaultConfidence
	if fc.confidence != nil {
		f.Confidence = uint8(*fc.confidence)
	}
	if fc.sensors != nil {
		// The feed's decay is what a report fades over: the table's reports, not lingering entries.
		fc.sensors.Decay, f.Decay = f.Decay, 0
	}
	return fc, nil
}

// ParseAXFR parses the arguments of "DIRECTIVE ZONE from HOST:PORT [key NAME [ALGORITHM]]" (threatfeed's
// axfr, threatstop's follow); the key's secret comes from the tsig plugin of the same server block, which
// is set up before either.
func ParseAXFR(c *caddy.Controller, directive string) (*source.AXFR, error) {
	args := c.RemainingArgs()
	if (len(args) != 3 && len(args) != 5 && len(args) != 6) || args[1] != "from" || len(args) > 3 && args[3] != "key" {
		return nil, c.Errf("%[1]s needs: %[1]s ZONE from ADDRESS[:PORT] [key NAME [ALGORITHM]]", directive)
	}
	zone := strings.ToLower(dns.Fqdn(args[0]))
	if _, ok := dns.IsDomainName(zone); !ok || zone == "." {
		return nil, c.Errf("%s: %q is not a zone name", directive, args[0])
	}
	server := args[2]
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "53")
	}
	host, _, _ := net.SplitHostPort(server)
	if net.ParseIP(host) == nil {
		return nil, c.Errf("%s: the primary must be an IP address (NOTIFY is accepted from it only), not %q", directive, args[2])
	}
	a := &source.AXFR{Zone: zone, Server: server}
	if len(args) > 3 {
		a.Key = plugin.Name(args[4]).Normalize()
		secret, ok := dnsserver.GetConfig(c).TsigSecret[a.Key]
		if !ok {
			return nil, c.Errf("%s: key %q is not defined by a tsig plugin in this server block (tsig { secret %s ... })", directive, args[4], a.Key)
		}
		a.Secret = secret
		if len(args) == 6 {
			algo := strings.ToLower(dns.Fqdn(args[5]))
			switch algo {
			case dns.HmacSHA1, dns.HmacSHA224, dns.HmacSHA256, dns.HmacSHA384, dns.HmacSHA512:
			default:
				return nil, c.Errf("%s: unknown TSIG algorithm %q", directive, args[5])
			}
			a.Algo = algo
		}
	}
	return a, nil
}

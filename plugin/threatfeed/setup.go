package threatfeed

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/threatstop/threatstop/plugin/pkg/feed"
	"github.com/threatstop/threatstop/plugin/pkg/format"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/source"
)

const pluginName = "threatfeed"

var log = clog.NewWithPlugin(pluginName)

func init() { plugin.Register(pluginName, setup) }

// DefaultRefresh is how often a feed's source is checked for a new version.
const DefaultRefresh = 10 * time.Second

// minRefresh keeps a typo such as "refresh 1ms" from turning a feed into a busy loop.
const minRefresh = 50 * time.Millisecond

var (
	nameRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	categoryRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
)

func setup(c *caddy.Controller) error {
	feeds := FromController(c)
	parsed, err := parse(c, feeds)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	for _, f := range parsed {
		feeds.add(f)
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
	f := newFeeds()
	c.Set(storageKey{}, f)
	return f
}

func parse(c *caddy.Controller, existing *Feeds) ([]*feed.Feed, error) {
	var feeds []*feed.Feed
	seen := map[string]bool{}
	root := dnsserver.GetConfig(c).Root
	for c.Next() {
		if len(c.RemainingArgs()) != 0 {
			return nil, c.ArgErr()
		}
		refresh := DefaultRefresh
		var refreshSet []*feed.Feed // feeds that take the block's refresh default
		for c.NextBlock() {
			switch c.Val() {
			case "refresh":
				d, err := parseRefresh(c)
				if err != nil {
					return nil, err
				}
				refresh = d
			case "feed":
				f, explicit, err := parseFeed(c, root, func(name string) bool { return seen[name] || existing.has(name) })
				if err != nil {
					return nil, err
				}
				seen[f.Name] = true
				feeds = append(feeds, f)
				if !explicit {
					refreshSet = append(refreshSet, f)
				}
			default:
				return nil, c.Errf("unknown property %q", c.Val())
			}
		}
		for _, f := range refreshSet {
			f.Refresh = refresh
		}
	}
	return feeds, nil
}

func parseRefresh(c *caddy.Controller) (time.Duration, error) {
	args := c.RemainingArgs()
	if len(args) != 1 {
		return 0, c.ArgErr()
	}
	d, err := time.ParseDuration(args[0])
	if err != nil || d < minRefresh {
		return 0, c.Errf("refresh needs a duration of at least %s, not %q", minRefresh, args[0])
	}
	return d, nil
}

// parseFeed parses "feed NAME { ... }"; explicit reports whether the block set its own refresh. taken
// reports whether a feed name is already defined.
func parseFeed(c *caddy.Controller, root string, taken func(string) bool) (f *feed.Feed, explicit bool, err error) {
	args := c.RemainingArgs()
	if len(args) != 1 {
		return nil, false, c.Errf("feed needs exactly one name")
	}
	name := args[0]
	if !nameRE.MatchString(name) {
		return nil, false, c.Errf("feed name %q must be lowercase letters, digits, '.', '_' or '-'", name)
	}
	if name == policy.CustomList {
		return nil, false, c.Errf("feed name %q is reserved for policies' own entries", name)
	}
	if taken(name) {
		return nil, false, c.Errf("feed %q is defined twice", name)
	}
	f = &feed.Feed{Name: name}
	line := c.Line()
	var formatName string
	formatLine := 0
	opts := map[string][]string{}
	optLines := map[string]int{}
	for c.NextBlock() {
		switch c.Val() {
		case "file":
			args := c.RemainingArgs()
			if len(args) != 1 {
				return nil, false, c.Errf("file needs exactly one path")
			}
			if f.Source != nil {
				return nil, false, c.Errf("feed %q has more than one source", name)
			}
			path := args[0]
			if !filepath.IsAbs(path) && root != "" {
				path = filepath.Join(root, path)
			}
			f.Source = &source.File{Path: path}
		case "format":
			args := c.RemainingArgs()
			if len(args) != 1 {
				return nil, false, c.Errf("format needs one of: %s", strings.Join(format.Names(), ", "))
			}
			if _, ok := format.Lookup(args[0]); !ok {
				return nil, false, c.Errf("unknown format %q (known: %s)", args[0], strings.Join(format.Names(), ", "))
			}
			formatName, formatLine = args[0], c.Line()
		case "category":
			args := c.RemainingArgs()
			if len(args) != 1 || !categoryRE.MatchString(args[0]) {
				return nil, false, c.Errf("category needs one lowercase word such as botnet, spam, scanner, c2, tor or malware")
			}
			f.Category = args[0]
		case "refresh":
			d, err := parseRefresh(c)
			if err != nil {
				return nil, false, err
			}
			f.Refresh, explicit = d, true
		default:
			// Anything else is an option of the format, checked once the format is known.
			key := c.Val()
			opts[key], optLines[key] = c.RemainingArgs(), c.Line()
		}
	}
	switch {
	case f.Source == nil:
		return nil, false, c.Errf("feed %q (line %d) needs a source: file PATH", name, line)
	case formatName == "":
		return nil, false, c.Errf("feed %q (line %d) needs a format: %s", name, line, strings.Join(format.Names(), ", "))
	case f.Category == "":
		return nil, false, c.Errf("feed %q (line %d) needs a category", name, line)
	}
	known, _ := format.Lookup(formatName)
	for key, l := range optLines {
		if !slices.Contains(known.Options, key) {
			return nil, false, c.Errf("line %d: %q is neither a feed property (file, format, category, refresh) nor an option of format %s", l, key, formatName)
		}
	}
	p, err := format.New(formatName, opts)
	if err != nil {
		return nil, false, c.Errf("feed %q (format on line %d): %v", name, formatLine, err)
	}
	f.Parser = p
	return f, explicit, nil
}

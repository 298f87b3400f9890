package threatadmin

import (
	"crypto/sha256"
	"fmt"
	"net"
	"regexp"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/threatstop/threatstop/plugin/pkg/state"
)

const pluginName = "threatadmin"

var log = clog.NewWithPlugin(pluginName)

func init() { plugin.Register(pluginName, setup) }

// Defaults.
const (
	DefaultListen = "127.0.0.1:9156"
	DefaultDB     = "threatadmin.db"
	minToken      = 16 // octets: a token is a password that scripts keep
)

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func setup(c *caddy.Controller) error {
	a, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	store := state.FromController(c)
	file, serverBlock := c.File(), c.ServerBlockIndex
	// The directive comes before threatfeed's, so this runs before the first State is published: the
	// policies start with their stored edits, and keep the serials they had with them.
	c.OnStartup(func() error {
		var block *state.Block
		for _, b := range store.Blocks() {
			if b.ServerBlock == serverBlock {
				block = b
			}
		}
		if block == nil {
			return plugin.Error(pluginName, fmt.Errorf("%s:%d - threatadmin needs the threatstop plugin (its policies) in the same server block", file, a.line))
		}
		for _, cu := range a.customers {
			for _, p := range cu.policies {
				if block.Policy(p) == nil {
					return plugin.Error(pluginName, fmt.Errorf("%s:%d - customer %s: no policy %q in this server block's threatstop", file, cu.line, cu.name, p))
				}
			}
		}
		if err := a.start(store, block); err != nil {
			return plugin.Error(pluginName, fmt.Errorf("%s:%d - %w", file, a.line, err))
		}
		return nil
	})
	c.OnShutdown(a.stop)
	return nil
}

func parse(c *caddy.Controller) (*Admin, error) {
	a := &Admin{listen: DefaultListen, db: DefaultDB, tokens: map[[sha256.Size]byte]grant{}}
	seen := false
	for c.Next() {
		if seen {
			return nil, plugin.ErrOnce
		}
		seen = true
		a.line = c.Line()
		if len(c.RemainingArgs()) != 0 {
			return nil, c.ArgErr()
		}
		for c.NextBlock() {
			switch c.Val() {
			case "listen":
				args := c.RemainingArgs()
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				if _, _, err := net.SplitHostPort(args[0]); err != nil {
					return nil, c.Errf("listen: %v", err)
				}
				a.listen = args[0]
			case "db":
				args := c.RemainingArgs()
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				a.db = args[0]
			case "customer":
				cu, err := parseCustomer(c, a)
				if err != nil {
					return nil, err
				}
				a.customers = append(a.customers, cu)
			default:
				return nil, c.Errf("unknown property %q", c.Val())
			}
		}
	}
	if len(a.customers) == 0 {
		return nil, c.Err("threatadmin needs at least one customer")
	}
	return a, nil
}

func parseCustomer(c *caddy.Controller, a *Admin) (*customer, error) {
	args := c.RemainingArgs()
	if len(args) != 1 || !nameRE.MatchString(args[0]) {
		return nil, c.Errf("customer needs one name of lowercase letters, digits and '-'")
	}
	cu := &customer{name: args[0], line: c.Line()}
	for _, o := range a.customers {
		if o.name == cu.name {
			return nil, c.Errf("customer %s defined twice", cu.name)
		}
	}
	for c.NextBlock() {
		switch c.Val() {
		case "policies":
			ps := c.RemainingArgs()
			if len(ps) == 0 {
				return nil, c.ArgErr()
			}
			for _, p := range ps {
				for _, o := range a.customers {
					if o.owns(p) {
						return nil, c.Errf("customer %s: policy %s is customer %s's", cu.name, p, o.name)
					}
				}
			}
			cu.policies = append(cu.policies, ps...)
		case "token":
			ts := c.RemainingArgs()
			if len(ts) < 1 || len(ts) > 2 {
				return nil, c.ArgErr()
			}
			if len(ts[0]) < minToken {
				return nil, c.Errf("customer %s: a token needs at least %d characters", cu.name, minToken)
			}
			g := grant{customer: cu, write: true}
			if len(ts) == 2 {
				switch ts[1] {
				case "read":
					g.write = false
				case "write":
				default:
					return nil, c.Errf("customer %s: token scope %q: read or write", cu.name, ts[1])
				}
			}
			h := sha256.Sum256([]byte(ts[0]))
			if _, dup := a.tokens[h]; dup {
				return nil, c.Errf("customer %s: a token given twice", cu.name)
			}
			a.tokens[h] = g // only the digest is kept
		default:
			return nil, c.Errf("customer %s: unknown property %q", cu.name, c.Val())
		}
	}
	if len(cu.policies) == 0 {
		return nil, c.Errf("customer %s: no policies", cu.name)
	}
	return cu, nil
}

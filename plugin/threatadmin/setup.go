package threatadmin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"golang.org/x/crypto/bcrypt"

	"github.com/threatstop/threatstop/plugin/pkg/httplisten"
	"github.com/threatstop/threatstop/plugin/pkg/state"
	"github.com/threatstop/threatstop/plugin/threatfeed"
	"github.com/threatstop/threatstop/plugin/threatlog"
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
	// Edits are kept by policy name and the listener serves one block's tokens: two blocks of an instance
	// may share neither.
	seen, _ := c.Get(seenKey{}).(map[string]int)
	if seen == nil {
		seen = map[string]int{}
		c.Set(seenKey{}, seen)
	}
	abs, err := filepath.Abs(a.db)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	for _, k := range []string{"db " + abs, "listen " + a.listen} {
		if line, dup := seen[k]; dup {
			return plugin.Error(pluginName, fmt.Errorf("%s:%d - %s is the threatadmin block's of line %d too: each block needs its own", c.File(), a.line, k, line))
		}
		seen[k] = a.line
	}
	store := state.FromController(c)
	a.feeds = threatfeed.FromController(c)
	cfg := dnsserver.GetConfig(c)
	// The tsig plugin's directive comes first: its map is the block's secrets, to which the devices' keys
	// are added before the servers are made.
	a.secrets = maps.Clone(cfg.TsigSecret)
	if cfg.TsigSecret != nil {
		if err := installDeviceKeys(a.db, cfg.TsigSecret); err != nil {
			return plugin.Error(pluginName, fmt.Errorf("%s:%d - db %s: %w", c.File(), a.line, a.db, err))
		}
		a.deviceSecrets = cfg.TsigSecret
	}
	admins, _ := c.Get(instanceKey{}).([]*Admin)
	c.Set(instanceKey{}, append(admins, a))
	if a.primary == "" {
		host := "127.0.0.1"
		for _, h := range cfg.ListenHosts {
			if h != "" {
				host = h
				break
			}
		}
		a.primary = net.JoinHostPort(host, cfg.Port)
	}
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
		a.logs, _ = c.Get(threatlog.BlockKey(serverBlock)).(*threatlog.Threatlog) // nil: no threatlog here
		if err := a.start(store, block); err != nil {
			return plugin.Error(pluginName, fmt.Errorf("%s:%d - %w", file, a.line, err))
		}
		return nil
	})
	c.OnShutdown(a.stop)
	c.OnRestartFailed(a.restore)
	return nil
}

// seenKey keys, in the instance's storage, the databases and listeners of its threatadmin blocks.
type seenKey struct{}

func parse(c *caddy.Controller) (*Admin, error) {
	a := &Admin{listen: DefaultListen, db: DefaultDB, tokens: map[[sha256.Size]byte]grant{}, users: map[string]*user{}}
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
			case "tls":
				args := c.RemainingArgs()
				if len(args) != 2 {
					return nil, c.ArgErr()
				}
				l, err := httplisten.NewCertFiles(args[0], args[1])
				if err != nil {
					return nil, c.Errf("tls: %v", err)
				}
				a.tls = l
			case "primary":
				args := c.RemainingArgs()
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				if _, _, err := net.SplitHostPort(args[0]); err != nil {
					return nil, c.Errf("primary: %v", err)
				}
				a.primary = args[0]
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
			case "operator":
				if err := parseOperator(c, a); err != nil {
					return nil, err
				}
			default:
				return nil, c.Errf("unknown property %q", c.Val())
			}
		}
	}
	if len(a.customers)+len(a.operators) == 0 {
		return nil, c.Err("threatadmin needs at least one customer or operator")
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
			if err := parseToken(c, a, grant{customer: cu}, "customer "+cu.name); err != nil {
				return nil, err
			}
		case "user":
			if err := parseUser(c, a, &user{customer: cu.name}, "customer "+cu.name); err != nil {
				return nil, err
			}
		default:
			return nil, c.Errf("customer %s: unknown property %q", cu.name, c.Val())
		}
	}
	if len(cu.policies) == 0 {
		return nil, c.Errf("customer %s: no policies", cu.name)
	}
	return cu, nil
}

// parseOperator reads an operator: every policy of the block, the customers and the feeds.
func parseOperator(c *caddy.Controller, a *Admin) error {
	args := c.RemainingArgs()
	if len(args) != 1 || !nameRE.MatchString(args[0]) {
		return c.Errf("operator needs one name of lowercase letters, digits and '-'")
	}
	name := args[0]
	if slices.Contains(a.operators, name) {
		return c.Errf("operator %s defined twice", name)
	}
	a.operators = append(a.operators, name)
	tokens := 0
	for c.NextBlock() {
		switch c.Val() {
		case "token":
			if err := parseToken(c, a, grant{operator: name}, "operator "+name); err != nil {
				return err
			}
			tokens++
		case "user":
			if err := parseUser(c, a, &user{operator: name}, "operator "+name); err != nil {
				return err
			}
			tokens++
		default:
			return c.Errf("operator %s: unknown property %q", name, c.Val())
		}
	}
	if tokens == 0 {
		return c.Errf("operator %s: no token and no user", name)
	}
	return nil
}

// parseToken reads "token TOKEN [read|write]" for g, what names its holder in messages.
func parseToken(c *caddy.Controller, a *Admin, g grant, what string) error {
	ts := c.RemainingArgs()
	if len(ts) < 1 || len(ts) > 2 {
		return c.ArgErr()
	}
	var h [sha256.Size]byte
	if hexSum, ok := strings.CutPrefix(ts[0], "sha256:"); ok {
		// The digest alone, so that the Corefile need not hold the token: sha256sum of the token.
		b, err := hex.DecodeString(hexSum)
		if err != nil || len(b) != sha256.Size {
			return c.Errf("%s: sha256: needs the 64 hex digits of the token's SHA-256", what)
		}
		copy(h[:], b)
	} else {
		if len(ts[0]) < minToken {
			return c.Errf("%s: a token needs at least %d characters", what, minToken)
		}
		h = sha256.Sum256([]byte(ts[0]))
	}
	g.write = true
	if len(ts) == 2 {
		switch ts[1] {
		case "read":
			g.write = false
		case "write":
		default:
			return c.Errf("%s: token scope %q: read or write", what, ts[1])
		}
	}
	if _, dup := a.tokens[h]; dup {
		return c.Errf("%s: a token given twice", what)
	}
	a.tokens[h] = g // only the digest is kept
	return nil
}

// parseUser reads "user NAME BCRYPT-HASH [read|write]": one who signs in to the portal as u's customer
// or operator. The hash is bcrypt's (threatstopctl passwd, or htpasswd -nbB); the password is not kept.
func parseUser(c *caddy.Controller, a *Admin, u *user, what string) error {
	args := c.RemainingArgs()
	if len(args) < 2 || len(args) > 3 {
		return c.ArgErr()
	}
	if !nameRE.MatchString(args[0]) {
		return c.Errf("%s: a user's name is lowercase letters, digits and '-'", what)
	}
	if _, dup := a.users[args[0]]; dup {
		return c.Errf("%s: user %s defined twice", what, args[0])
	}
	if _, err := bcrypt.Cost([]byte(args[1])); err != nil {
		return c.Errf("%s: user %s: the password must be given as its bcrypt hash ($2a$/$2b$/$2y$...; threatstopctl passwd makes one): %v", what, args[0], err)
	}
	u.name, u.hash, u.write = args[0], []byte(args[1]), true
	if len(args) == 3 {
		switch args[2] {
		case "read":
			u.write = false
		case "write":
		default:
			return c.Errf("%s: user %s: scope %q: read or write", what, args[0], args[2])
		}
	}
	a.users[u.name] = u
	return nil
}

// Command threatstopctl is a client of the management API that the threatadmin plugin serves: it lists a
// customer's policies, adds and removes their own block and allow entries, one by one or a whole list
// file at a time, and reads the audit log, for operators, scripts and cron jobs. It exits 0 when every
// operation succeeded, 1 when one failed (each failure named on stderr), 2 for a usage error.
//
// See README.md beside this file.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

const (
	defaultServer = "http://127.0.0.1:9156"
	tokenEnv      = "THREATSTOP_TOKEN"
)

// stdin is what import reads for "-"; a variable for the tests.
var stdin io.Reader = os.Stdin

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the flags every command takes, before or after the command's name.
type options struct {
	server, token, tokenFile string
	timeout                  time.Duration
}

// register defines the common flags on fs with o's values as defaults: a command's flag set is defined
// after the flags before the command were parsed, and must not reset them.
func (o *options) register(fs *flag.FlagSet) {
	fs.StringVar(&o.server, "server", o.server, "the threatadmin API's URL")
	fs.StringVar(&o.token, "token", o.token, "the customer's API token (visible to other users in ps: prefer -token-file or $"+tokenEnv+")")
	fs.StringVar(&o.tokenFile, "token-file", o.tokenFile, "file holding the API token")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "time limit of each request")
}

// cmdline is a parsed command line.
type cmdline struct {
	options
	args    []string // after the command's name
	json    bool     // policies, show, audit: the server's JSON as it came
	limit   int      // audit
	replace bool     // import
	config  string   // device-create, device-rotate: print this configuration
	from    string   // report
	to      string   // report
	device  string   // report
}

// A command is one verb of the command line.
type command struct {
	name, args string // args: the synopsis of its arguments
	min, max   int    // how many arguments; max -1: no limit
	flags      func(fs *flag.FlagSet, c *cmdline)
	run        func(cl *client, c *cmdline, stdout, stderr io.Writer) int
}

func jsonFlag(fs *flag.FlagSet, c *cmdline) {
	fs.BoolVar(&c.json, "json", false, "print the server's JSON answer")
}

var commands = []command{
	{"policies", "[-json]", 0, 0, jsonFlag, listPolicies},
	{"show", "[-json] POLICY", 1, 1, jsonFlag, showPolicy},
	{"block", "POLICY ENTRY...", 2, -1, nil, addEntries("block")},
	{"allow", "POLICY ENTRY...", 2, -1, nil, addEntries("allow")},
	{"unblock", "POLICY ENTRY...", 2, -1, nil, removeEntries("block")},
	{"unallow", "POLICY ENTRY...", 2, -1, nil, removeEntries("allow")},
	{"import", "[-replace] POLICY block|allow FILE|-", 3, 3, func(fs *flag.FlagSet, c *cmdline) {
		fs.BoolVar(&c.replace, "replace", false, "then remove the policy's entries of that list that FILE does not hold")
	}, importList},
	{"audit", "[-limit N] [-json]", 0, 0, func(fs *flag.FlagSet, c *cmdline) {
		fs.IntVar(&c.limit, "limit", 0, "the newest N records (1 to 10000; default: the server's, 100)")
		jsonFlag(fs, c)
	}, listAudit},
	{"devices", "[-json] POLICY", 1, 1, jsonFlag, listDevices},
	{"device-create", "[-config KIND] POLICY NAME", 2, 2, configFlag, makeDevice(false)},
	{"device-rotate", "[-config KIND] POLICY NAME", 2, 2, configFlag, makeDevice(true)},
	{"device-revoke", "POLICY NAME", 2, 2, nil, revokeDevice},
	{"report", "[-from DATE] [-to DATE] [-device NAME] [-json] POLICY", 1, 1, func(fs *flag.FlagSet, c *cmdline) {
		fs.StringVar(&c.from, "from", "", "first day or time (YYYY-MM-DD or RFC 3339; default: 7 days ago)")
		fs.StringVar(&c.to, "to", "", "end, not included (default: now)")
		fs.StringVar(&c.device, "device", "", "one device's events only")
		jsonFlag(fs, c)
	}, showReport},
}

func configFlag(fs *flag.FlagSet, c *cmdline) {
	fs.StringVar(&c.config, "config", "", "print this configuration, with the secrets, instead: bind, unbound, powerdns, threatstop-sync, nftables, upload")
}

// errUsage is a bad command line whose reason the usage text or the flag package printed already.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	cl, cmd, c, err := parse(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil: // every error of parse is the command line's
		if err != errUsage {
			fmt.Fprintf(stderr, "threatstopctl: %v\n", err)
		}
		return 2
	}
	return cmd.run(cl, c, stdout, stderr)
}

func parse(args []string, stderr io.Writer) (*client, *command, *cmdline, error) {
	c := &cmdline{options: options{server: defaultServer, timeout: 30 * time.Second}}
	fs := flag.NewFlagSet("threatstopctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: threatstopctl [-server URL] [-token-file FILE | -token TOKEN] COMMAND [ARGS]")
		for _, cmd := range commands {
			fmt.Fprintf(stderr, "       threatstopctl %s %s\n", cmd.name, cmd.args)
		}
		fmt.Fprintln(stderr, "       threatstopctl passwd < PASSWORD-FILE   (a bcrypt hash for the Corefile's user NAME HASH)")
		fmt.Fprintf(stderr, "The token may also come from $%s. Flags:\n", tokenEnv)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, nil, usage(err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return nil, nil, nil, errUsage
	}
	if fs.Arg(0) == "passwd" {
		return nil, &command{name: "passwd", run: func(_ *client, _ *cmdline, stdout, stderr io.Writer) int { return passwd(stdout, stderr) }}, c, nil
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == fs.Arg(0) {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		return nil, nil, nil, fmt.Errorf("no command %q (policies, show, block, allow, unblock, unallow, import, audit, devices, device-create, device-rotate, device-revoke, report, passwd)", fs.Arg(0))
	}

	cfs := flag.NewFlagSet("threatstopctl "+cmd.name, flag.ContinueOnError)
	cfs.SetOutput(stderr)
	c.register(cfs)
	if cmd.flags != nil {
		cmd.flags(cfs, c)
	}
	cfs.Usage = func() {
		fmt.Fprintf(stderr, "usage: threatstopctl %s %s\n", cmd.name, cmd.args)
		cfs.PrintDefaults()
	}
	var err error
	if c.args, err = parseInterspersed(cfs, fs.Args()[1:]); err != nil {
		return nil, nil, nil, usage(err)
	}
	if len(c.args) < cmd.min || cmd.max >= 0 && len(c.args) > cmd.max {
		cfs.Usage()
		return nil, nil, nil, errUsage
	}
	if c.limit < 0 || c.limit > 10000 {
		return nil, nil, nil, errors.New("-limit: 1 to 10000")
	}
	if cmd.name == "import" && c.args[1] != "block" && c.args[1] != "allow" {
		return nil, nil, nil, fmt.Errorf("import: the list is block or allow, not %q", c.args[1])
	}
	cl, err := c.client()
	return cl, cmd, c, err
}

// usage is a flag package error as a usage error; it printed the reason already.
func usage(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return errUsage
}

// parseInterspersed parses fs's flags wherever they stand among the arguments (import demo block
// list.txt -replace), up to "--", and returns the other arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// client makes the API client of the command line's server and token.
func (c *cmdline) client() (*client, error) {
	server := c.server
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("-server %q: not an http or https URL", c.server)
	}
	token, err := c.readToken()
	if err != nil {
		return nil, err
	}
	return &client{
		base:  strings.TrimSuffix(u.String(), "/"),
		token: token,
		http:  &http.Client{Timeout: c.timeout},
	}, nil
}

// readToken is the token of -token, -token-file or the environment. Its value is never in a message.
func (o *options) readToken() (string, error) {
	switch {
	case o.token != "" && o.tokenFile != "":
		return "", errors.New("-token and -token-file: give one")
	case o.token != "":
		return strings.TrimSpace(o.token), nil
	case o.tokenFile != "":
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return "", fmt.Errorf("-token-file: %w", err)
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("-token-file %s: empty", o.tokenFile)
		}
		return t, nil
	case strings.TrimSpace(os.Getenv(tokenEnv)) != "":
		return strings.TrimSpace(os.Getenv(tokenEnv)), nil
	}
	return "", fmt.Errorf("no API token: give -token-file FILE, set $%s, or give -token TOKEN", tokenEnv)
}

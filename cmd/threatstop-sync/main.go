// Command threatstop-sync keeps a firewall's address tables (nftables, ipset with iptables, pf, or plain
// files) equal to a customer's threatstop policy. It fetches the policy's RPZ zone from threatstop
// servers by TSIG-signed AXFR and then IXFR, keeps the serial and the zone in a state file, turns the
// zone's rpz-ip triggers into the minimal CIDR set (allow entries subtracted, a capacity limit
// honoured), and applies it atomically. Every connection is opened by the device; NOTIFY is optional.
//
// A failure (no server reachable, a bad key, a broken transfer, a failing command) never opens or breaks
// the firewall: what it holds stays as it was, the reason is logged, and --once exits 1. When no server
// gives a zone and the kernel lost the last applied set (a reboot, a flush), that set is applied again
// from the state file, and the sync still counts as failed.
//
// See README.md beside this file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/backend"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/blocklist"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/notify"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/transfer"
	"github.com/threatstop/threatstop/plugin/pkg/timeouts"
)

// listFlag is a flag that may repeat and takes comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*l = append(*l, f)
		}
	}
	return nil
}

// config is the command line.
type config struct {
	zone      string
	servers   listFlag
	key       transfer.Key
	statePath string
	once      bool
	dryRun    bool
	axfr      bool
	interval  time.Duration
	jitter    time.Duration
	retry     time.Duration
	timeout   time.Duration
	notify    string

	list     blocklist.Options
	backends []backend.Backend
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("threatstop-sync: ")
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		log.Printf("%v", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if cfg.once || cfg.dryRun {
		if err := runOnce(ctx, cfg, os.Stdout); err != nil {
			log.Printf("sync failed, %s: %v", outcome(err), err)
			os.Exit(1)
		}
		return
	}
	if err := loop(ctx, cfg); err != nil {
		log.Printf("%v", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("threatstop-sync", flag.ContinueOnError)
	cfg := &config{}
	var (
		tsig, tsigFile                string
		nft, ipset, iptables          bool
		nftTable, nftCmd, ipsetPrefix string
		ipsetCmd, iptCmd, ip6tCmd     string
		hooks                         string
		logRate                       int
		pfFile, pfTable, pfctl        string
		textFile, namesFile, jsonFile string
		jsonNames                     bool
		priority                      string
	)
	fs.StringVar(&cfg.zone, "zone", "", "the policy's RPZ zone, e.g. demo.rpz.threatstop.local (required)")
	fs.Var(&cfg.servers, "server", "threatstop server host:port; repeat or separate by commas for failover, in order (required)")
	fs.StringVar(&tsigFile, "tsig-key-file", "", "file with the customer's TSIG key: a BIND key clause (tsig-keygen) or one line ALGORITHM:NAME:SECRET")
	fs.StringVar(&tsig, "tsig", "", "the TSIG key as ALGORITHM:NAME:SECRET (visible to other users in ps: prefer --tsig-key-file)")
	fs.StringVar(&cfg.statePath, "state", "/var/lib/threatstop-sync/state.json", "state file: serial, zone and the applied set")
	fs.BoolVar(&cfg.once, "once", false, "sync once and exit: 0 when the firewall is current, 1 when the sync failed (the firewall left as it was, or given the last applied set again)")
	fs.BoolVar(&cfg.dryRun, "dry-run", false, "fetch and print the difference that would be applied; change nothing (implies --once)")
	fs.BoolVar(&cfg.axfr, "axfr", false, "fetch the whole zone (AXFR) even when the state allows an IXFR")
	fs.DurationVar(&cfg.interval, "interval", 5*time.Minute, "time between syncs (daemon mode)")
	fs.DurationVar(&cfg.jitter, "jitter", time.Minute, "random extra wait added to each interval, so that devices do not all come at once")
	fs.DurationVar(&cfg.retry, "retry", time.Minute, "wait after a failed sync (plus jitter, at most --interval)")
	fs.DurationVar(&cfg.timeout, "timeout", timeouts.DeviceTransfer, "dial and read timeout of a transfer")
	fs.StringVar(&cfg.notify, "notify-listen", "", "UDP address to take NOTIFY of the zone on, from the servers' addresses only (daemon mode)")
	fs.IntVar(&cfg.list.MaxEntries, "max-entries", 0, "most CIDR prefixes (IPv4 and IPv6 together) the device takes; 0: no limit")
	fs.StringVar(&priority, "priority", "drop,nxdomain,nodata,redirect", "order in which blocking actions are kept under --max-entries")

	fs.BoolVar(&nft, "nft", false, "nftables backend: table inet TABLE with sets v4, v6 and drop rules")
	fs.StringVar(&nftTable, "nft-table", "threatstop", "nftables table name")
	fs.StringVar(&nftCmd, "nft-cmd", "nft", "nft command")
	fs.BoolVar(&ipset, "ipset", false, "ipset backend: sets PREFIX-v4 and PREFIX-v6 (hash:net), replaced by swap")
	fs.StringVar(&ipsetPrefix, "ipset-prefix", "threatstop", "prefix of the ipset names")
	fs.StringVar(&ipsetCmd, "ipset-cmd", "ipset", "ipset command")
	fs.BoolVar(&iptables, "iptables", false, "iptables and ip6tables chains THREATSTOP-IN/OUT that drop what the ipsets hold (implies --ipset)")
	fs.StringVar(&iptCmd, "iptables-cmd", "iptables", "iptables command (iptables-restore is derived)")
	fs.StringVar(&ip6tCmd, "ip6tables-cmd", "ip6tables", "ip6tables command")
	fs.StringVar(&hooks, "hooks", "input,forward,output", "where the rules drop: input (listed sources), forward (both), output (listed destinations)")
	fs.IntVar(&logRate, "log-rate", 10, "drops logged per second per rule, prefix \""+backend.LogPrefix+"in |out \"; 0: every drop; -1: none")
	fs.StringVar(&pfFile, "pf", "", "pf backend: write the table file FILE and run pfctl -t TABLE -T replace -f FILE")
	fs.StringVar(&pfTable, "pf-table", "threatstop", "pf table name")
	fs.StringVar(&pfctl, "pfctl", "pfctl", "pfctl command; empty: only write the file")
	fs.StringVar(&textFile, "text", "", "write the minimal CIDR list to FILE, one a line")
	fs.StringVar(&namesFile, "names-file", "", "write the blocking QNAME triggers (names) to FILE, one a line")
	fs.StringVar(&jsonFile, "json", "", "write the list and a report (left out, ignored triggers) to FILE as JSON")
	fs.BoolVar(&jsonNames, "json-names", false, "include the QNAME triggers in --json")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.zone == "" {
		return nil, errors.New("--zone is required")
	}
	cfg.zone = strings.ToLower(dns.Fqdn(cfg.zone))
	if len(cfg.servers) == 0 {
		return nil, errors.New("--server is required")
	}
	for i, s := range cfg.servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			cfg.servers[i] = net.JoinHostPort(s, "53")
		}
	}
	switch {
	case tsig != "" && tsigFile != "":
		return nil, errors.New("--tsig and --tsig-key-file: give one")
	case tsig != "":
		k, err := parseKeyLine(tsig)
		if err != nil {
			return nil, fmt.Errorf("--tsig: %w", err)
		}
		cfg.key = k
	case tsigFile != "":
		k, err := readKeyFile(tsigFile)
		if err != nil {
			return nil, fmt.Errorf("--tsig-key-file: %w", err)
		}
		cfg.key = k
	}
	prio, err := blocklist.ParsePriority(priority)
	if err != nil {
		return nil, fmt.Errorf("--priority: %w", err)
	}
	cfg.list.Priority = prio
	h, err := backend.ParseHooks(hooks)
	if err != nil {
		return nil, fmt.Errorf("--hooks: %w", err)
	}
	run := backend.Exec{}
	if nft {
		cfg.backends = append(cfg.backends, &backend.Nft{Nft: nftCmd, Table: nftTable, Hooks: h, LogRate: logRate, Run: run})
	}
	if ipset || iptables {
		set := &backend.Ipset{Ipset: ipsetCmd, Prefix: ipsetPrefix, Run: run}
		cfg.backends = append(cfg.backends, set)
		if iptables {
			cfg.backends = append(cfg.backends, &backend.Iptables{Iptables: iptCmd, Ip6tables: ip6tCmd, Set: set, Hooks: h, LogRate: logRate, Run: run})
		}
	}
	if pfFile != "" {
		cfg.backends = append(cfg.backends, &backend.Pf{File: pfFile, Table: pfTable, Pfctl: pfctl, Run: run})
	}
	if textFile != "" || namesFile != "" {
		cfg.backends = append(cfg.backends, &backend.Text{File: textFile, NamesFile: namesFile})
	}
	if jsonFile != "" {
		cfg.backends = append(cfg.backends, &backend.JSON{File: jsonFile, Names: jsonNames})
	}
	if len(cfg.backends) == 0 && !cfg.dryRun {
		return nil, errors.New("no backend: give --nft, --ipset, --iptables, --pf, --text, --names-file or --json")
	}
	if cfg.notify != "" && (cfg.once || cfg.dryRun) {
		return nil, errors.New("--notify-listen is for daemon mode, not with --once or --dry-run")
	}
	return cfg, nil
}

// loop syncs at the interval (plus jitter), sooner after a failure, and at once on NOTIFY or SIGHUP.
func loop(ctx context.Context, cfg *config) error {
	var wake <-chan struct{}
	if cfg.notify != "" {
		allowed, err := serverAddrs(ctx, cfg.servers)
		if err != nil {
			return err
		}
		l, err := notify.Listen(cfg.notify, cfg.zone, allowed, cfg.key.Name, cfg.key.Secret, log.Printf)
		if err != nil {
			return fmt.Errorf("--notify-listen: %w", err)
		}
		defer l.Close()
		log.Printf("taking NOTIFY of %s on %s from %v", cfg.zone, l.Addr, allowed)
		wake = l.C
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		wait := cfg.interval
		if err := runOnce(ctx, cfg, os.Stdout); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Printf("sync failed, %s: %v", outcome(err), err)
			wait = min(cfg.retry, cfg.interval)
		}
		if cfg.jitter > 0 {
			wait += rand.N(cfg.jitter)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-wake:
			log.Printf("NOTIFY of %s: syncing now", cfg.zone)
		case <-hup:
			log.Printf("SIGHUP: syncing now")
		}
		t.Stop()
	}
}

// serverAddrs resolves the servers' hosts: NOTIFY is taken from these addresses only.
func serverAddrs(ctx context.Context, servers []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range servers {
		host, _, _ := net.SplitHostPort(s)
		if a, err := netip.ParseAddr(host); err == nil {
			out = append(out, a.Unmap())
			continue
		}
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s for NOTIFY: %w", host, err)
		}
		for _, a := range ips {
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}

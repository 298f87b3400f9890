// Command dnsbench holds the small helpers of the DNSBL benchmark (bench/run.sh):
//
//	dnsbench wait   -s ADDR -probes FILE -suffix SUF -want A -t0 UNIXNANO   time from t0 to the first correct answer
//	dnsbench verify -s ADDR -kaf FILE -suffix SUF [-fixed A]               every known answer, or exit 1
//	dnsbench parse  [-queries FILE -expect FILE | -rcode RCODE] OUTPUT      a dnsperf output as key=value
//
// wait polls every -every (default 2ms) until each probe name has been answered NOERROR with the wanted A
// record once, and prints the seconds since -t0 (the start of the server, taken by the caller just before
// it started the process). verify asks every name of a known-answer file (see bench/gen) and compares the
// rcode and the set of A records; with -fixed every name must answer NOERROR with that one A record (the
// stock CoreDNS ceiling). lat reads the per-query lines `> RCODE NAME TYPE SECONDS` that dnsperf -v prints
// and its final statistics, and prints the latency percentiles, the rcodes and the lost queries.
package main

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dnsbench wait|verify|parse ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "wait":
		err = wait(os.Args[2:])
	case "verify":
		err = verify(os.Args[2:])
	case "parse":
		err = parse(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dnsbench "+os.Args[1]+":", err)
		os.Exit(1)
	}
}

func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, nil
}

// ask sends one A query over UDP and returns the rcode and the sorted A records.
func ask(c *dns.Client, server, name string) (int, []string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	m.RecursionDesired = false
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return 0, nil, err
	}
	if r.Truncated {
		return 0, nil, errors.New("truncated answer")
	}
	var as []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			as = append(as, a.A.String())
		}
	}
	slices.Sort(as)
	return r.Rcode, as, nil
}

func wait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	server := fs.String("s", "127.0.0.1:53", "server address")
	probes := fs.String("probes", "", "file of names to ask, relative to -suffix")
	suffix := fs.String("suffix", "", "appended to each probe name")
	want := fs.String("want", "127.0.0.2", "the A record of a correct answer; - for NOERROR without any")
	pid := fs.Int("pid", 0, "give up as soon as this process has exited")
	t0 := fs.Int64("t0", 0, "start of the server, Unix nanoseconds (default: now)")
	every := fs.Duration("every", 2*time.Millisecond, "poll interval")
	timeout := fs.Duration("timeout", 120*time.Second, "give up after this long")
	fs.Parse(args)
	names, err := readLines(*probes)
	if err != nil {
		return err
	}
	start := time.Now()
	if *t0 != 0 {
		start = time.Unix(0, *t0)
	}
	c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	done := make([]bool, len(names))
	left := len(names)
	deadline := time.Now().Add(*timeout)
	var last error
	for left > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("no correct answer after %s (last: %v)", *timeout, last)
		}
		if *pid > 0 && !alive(*pid) {
			return fmt.Errorf("server process %d has exited (last: %v)", *pid, last)
		}
		for i, n := range names {
			if done[i] {
				continue
			}
			rcode, as, err := ask(c, *server, n+*suffix)
			switch {
			case err != nil:
				last = err
			case rcode == dns.RcodeSuccess && (slices.Contains(as, *want) || *want == "-" && len(as) == 0):
				done[i] = true
				left--
			default:
				last = fmt.Errorf("%s: %s %v", n, dns.RcodeToString[rcode], as)
			}
		}
		if left > 0 {
			time.Sleep(*every)
		}
	}
	fmt.Printf("%.3f\n", time.Since(start).Seconds())
	return nil
}

// alive reports whether the process exists and is not a zombie (the caller's shell has not reaped it).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X')
}

type known struct {
	rel, rcode, a, kind string
}

func verify(args []string) error {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	server := fs.String("s", "127.0.0.1:53", "server address")
	kafPath := fs.String("kaf", "", "known-answer file: RELNAME RCODE A|- KIND")
	suffix := fs.String("suffix", "", "appended to each name")
	fixed := fs.String("fixed", "", "expect NOERROR with this one A record (- for none) for every name instead")
	workers := fs.Int("workers", 8, "concurrent askers")
	fs.Parse(args)
	lines, err := readLines(*kafPath)
	if err != nil {
		return err
	}
	var ks []known
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 4 {
			return fmt.Errorf("bad known-answer line %q", l)
		}
		k := known{f[0], f[1], f[2], f[3]}
		if *fixed != "" {
			k.rcode, k.a = "NOERROR", *fixed
		}
		ks = append(ks, k)
	}
	var (
		mu     sync.Mutex
		bad    []string
		failed int
		wg     sync.WaitGroup
		next   = make(chan known)
	)
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &dns.Client{Net: "udp", Timeout: time.Second}
			for k := range next {
				var rcode int
				var as []string
				var err error
				for range 3 { // a lost UDP datagram is not a wrong answer
					if rcode, as, err = ask(c, *server, k.rel+*suffix); err == nil {
						break
					}
				}
				got := "-"
				if len(as) > 0 {
					got = strings.Join(as, ",")
				}
				mu.Lock()
				switch {
				case err != nil:
					failed++
					bad = append(bad, fmt.Sprintf("%s (%s): no answer: %v", k.rel, k.kind, err))
				case dns.RcodeToString[rcode] != k.rcode || got != k.a:
					bad = append(bad, fmt.Sprintf("%s (%s): got %s %s, want %s %s", k.rel, k.kind, dns.RcodeToString[rcode], got, k.rcode, k.a))
				}
				mu.Unlock()
			}
		}()
	}
	for _, k := range ks {
		next <- k
	}
	close(next)
	wg.Wait()
	slices.Sort(bad)
	fmt.Printf("verify: %d known answers, %d wrong, %d unanswered\n", len(ks), len(bad)-failed, failed)
	for i, b := range bad {
		if i == 20 {
			fmt.Printf("  ... and %d more\n", len(bad)-20)
			break
		}
		fmt.Println("  " + b)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d known answers wrong or missing", len(bad), len(ks))
	}
	return nil
}

func parse(args []string) error {
	fs := flag.NewFlagSet("parse", flag.ExitOnError)
	queries := fs.String("queries", "", "the dnsperf query file, to check each answered rcode (with -expect)")
	expectPath := fs.String("expect", "", "the rcode of each line of -queries")
	fixedRcode := fs.String("rcode", "", "expect this rcode for every query instead")
	fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("usage: dnsbench parse [-queries FILE -expect FILE | -rcode RCODE] DNSPERF_OUTPUT")
	}
	want := map[string]string{}
	if *queries != "" && *expectPath != "" {
		qs, err := readLines(*queries)
		if err != nil {
			return err
		}
		es, err := readLines(*expectPath)
		if err != nil {
			return err
		}
		if len(qs) != len(es) {
			return fmt.Errorf("%s has %d lines, %s %d", *queries, len(qs), *expectPath, len(es))
		}
		for i, q := range qs {
			want[strings.ToLower(strings.Fields(q)[0])] = es[i]
		}
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	var ls []float64
	rcodes := map[string]int{}
	lost, sent, timeouts, checked, wrong := -1, -1, 0, 0, 0
	var firstWrong string
	qps := math.NaN()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "> "): // dnsperf -v: > RCODE NAME TYPE SECONDS
			fs := strings.Fields(l)
			if len(fs) < 5 {
				continue
			}
			v, err := strconv.ParseFloat(fs[len(fs)-1], 64)
			if err != nil {
				continue
			}
			ls = append(ls, v)
			rcodes[fs[1]]++
			exp := *fixedRcode
			if exp == "" {
				exp = want[strings.ToLower(strings.TrimSuffix(fs[2], "."))]
			}
			if exp != "" {
				checked++
				if fs[1] != exp {
					wrong++
					if firstWrong == "" {
						firstWrong = fs[2] + ":" + fs[1] + "/want:" + exp
					}
				}
			}
		case strings.Contains(l, "Query timed out"):
			timeouts++
		case strings.HasPrefix(t, "Queries sent:"):
			sent = firstInt(t)
		case strings.HasPrefix(t, "Queries lost:"):
			lost = firstInt(t)
		case strings.HasPrefix(t, "Queries per second:"):
			qps, _ = strconv.ParseFloat(strings.Fields(t)[3], 64)
		case strings.HasPrefix(t, "Response codes:") && len(ls) == 0:
			// Without -v: "Response codes: NOERROR 98732 (30.03%), NXDOMAIN 230058 (69.97%)"
			fs := strings.Fields(strings.NewReplacer(",", " ").Replace(strings.TrimPrefix(t, "Response codes:")))
			for i := 0; i+1 < len(fs); i += 3 {
				n, _ := strconv.Atoi(fs[i+1])
				rcodes[fs[i]] += n
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if sent < 0 {
		return errors.New("no dnsperf statistics in the output")
	}
	if lost < 0 {
		lost = timeouts
	}
	pct := func(p float64) float64 {
		if len(ls) == 0 {
			return math.NaN()
		}
		i := int(math.Ceil(p/100*float64(len(ls)))) - 1
		return ls[max(0, min(i, len(ls)-1))] * 1000
	}
	slices.Sort(ls)
	answered := 0
	other := 0
	for k, v := range rcodes {
		answered += v
		if k != "NOERROR" && k != "NXDOMAIN" {
			other += v
		}
	}
	maxMs := math.NaN()
	if len(ls) > 0 {
		maxMs = ls[len(ls)-1] * 1000
	}
	fmt.Printf("sent=%d answered=%d lost=%d qps=%.0f noerror=%d nxdomain=%d other_rcode=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f checked=%d wrong=%d first_wrong=%s\n",
		sent, answered, lost, qps, rcodes["NOERROR"], rcodes["NXDOMAIN"], other, pct(50), pct(90), pct(99), pct(99.9), maxMs, checked, wrong, cmp.Or(firstWrong, "-"))
	return nil
}

func firstInt(l string) int {
	for _, f := range strings.Fields(l) {
		if n, err := strconv.Atoi(f); err == nil {
			return n
		}
	}
	return -1
}

package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// fail reports err and is the exit status of a failed operation.
func fail(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "threatstopctl: "+format+"\n", args...)
	return 1
}

// raw prints the server's answer to GET path as it came.
func raw(cl *client, path string, stdout, stderr io.Writer) int {
	var b []byte
	if _, err := cl.do("GET", path, nil, &b); err != nil {
		return fail(stderr, "%v", err)
	}
	stdout.Write(b)
	return 0
}

func listPolicies(cl *client, c *cmdline, stdout, stderr io.Writer) int {
	if c.json {
		return raw(cl, "/api/v1/policies", stdout, stderr)
	}
	var ps []policy
	if _, err := cl.do("GET", "/api/v1/policies", nil, &ps); err != nil {
		return fail(stderr, "%v", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY\tSERIAL\tLISTS\tBLOCK\tALLOW")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", p.Name, p.Serial, len(p.Lists), len(p.Block), len(p.Allow))
	}
	tw.Flush()
	return 0
}

// showPolicy prints one field a line, each entry on its own (awk '$1 == "block" { print $2 }').
func showPolicy(cl *client, c *cmdline, stdout, stderr io.Writer) int {
	name := c.args[0]
	if c.json {
		return raw(cl, policyPath(name), stdout, stderr)
	}
	p, err := cl.policy(name)
	if err != nil {
		return fail(stderr, "%s: %v", name, err)
	}
	fmt.Fprintf(stdout, "policy %s\nserial %d\n", p.Name, p.Serial)
	for _, f := range []struct {
		key    string
		values []string
	}{{"list", p.Lists}, {"block", p.Block}, {"allow", p.Allow}} {
		for _, v := range f.values {
			fmt.Fprintf(stdout, "%-6s %s\n", f.key, v)
		}
	}
	return 0
}

// addEntries adds each entry to the list; one that fails is reported and the others are still tried.
func addEntries(list string) func(*client, *cmdline, io.Writer, io.Writer) int {
	return func(cl *client, c *cmdline, stdout, stderr io.Writer) int {
		status := 0
		for _, e := range c.args[1:] {
			a, created, err := cl.add(c.args[0], list, e)
			if err != nil {
				status = fail(stderr, "%s %s %s: %v", list, c.args[0], e, err)
				continue
			}
			verb := "present"
			if created {
				verb = "added"
			}
			if a.Value != e { // say what the server keeps: 203.0.113.0/24 for 203.0.113.9/24
				fmt.Fprintf(stdout, "%s %s as %s\n", verb, e, a.Value)
			} else {
				fmt.Fprintf(stdout, "%s %s\n", verb, e)
			}
		}
		return status
	}
}

func removeEntries(list string) func(*client, *cmdline, io.Writer, io.Writer) int {
	return func(cl *client, c *cmdline, stdout, stderr io.Writer) int {
		status := 0
		for _, e := range c.args[1:] {
			if err := cl.remove(c.args[0], list, e); err != nil {
				status = fail(stderr, "un%s %s %s: %v", list, c.args[0], e, err)
				continue
			}
			fmt.Fprintf(stdout, "removed %s\n", e)
		}
		return status
	}
}

// listAudit prints a record a line: time (UTC), customer, client address, action, policy, list, entry.
func listAudit(cl *client, c *cmdline, stdout, stderr io.Writer) int {
	if c.json {
		return raw(cl, auditPath(c.limit), stdout, stderr)
	}
	var recs []auditRecord
	if _, err := cl.do("GET", auditPath(c.limit), nil, &recs); err != nil {
		return fail(stderr, "%v", err)
	}
	for _, r := range recs {
		fmt.Fprintf(stdout, "%s %s %s %s %s %s %s\n", r.Time.UTC().Format(time.RFC3339), r.Customer, r.From,
			r.Action, r.Policy, r.List, r.Value)
	}
	return 0
}

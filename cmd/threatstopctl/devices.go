package main

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// device is a device as the API shows it; secret, upload_token and configs only when it was just made
// or rotated.
type device struct {
	Name        string            `json:"name"`
	Policy      string            `json:"policy"`
	Key         string            `json:"key"`
	Algorithm   string            `json:"algorithm"`
	Created     time.Time         `json:"created"`
	Rotated     time.Time         `json:"rotated"`
	Secret      string            `json:"secret"`
	UploadToken string            `json:"upload_token"`
	Configs     map[string]string `json:"configs"`
}

func devicesPath(pol string) string { return policyPath(pol) + "/devices" }

func listDevices(cl *client, c *cmdline, stdout, stderr io.Writer) int {
	if c.json {
		return raw(cl, devicesPath(c.args[0]), stdout, stderr)
	}
	var ds []device
	if _, err := cl.do("GET", devicesPath(c.args[0]), nil, &ds); err != nil {
		return fail(stderr, "%s: %v", c.args[0], err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tKEY\tCREATED\tROTATED")
	for _, d := range ds {
		rot := "-"
		if !d.Rotated.IsZero() {
			rot = d.Rotated.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Name, d.Key, d.Created.UTC().Format(time.RFC3339), rot)
	}
	tw.Flush()
	return 0
}

// makeDevice creates (or rotates) a device and prints its secrets once: "key NAME", "algorithm ...",
// "secret ...", "upload-token ..." a line each, or with -config KIND that configuration alone.
func makeDevice(rotate bool) func(*client, *cmdline, io.Writer, io.Writer) int {
	return func(cl *client, c *cmdline, stdout, stderr io.Writer) int {
		pol, name := c.args[0], c.args[1]
		var d device
		var err error
		if rotate {
			_, err = cl.do("POST", devicesPath(pol)+"/"+url.PathEscape(name)+"/rotate", nil, &d)
		} else {
			_, err = cl.do("POST", devicesPath(pol), map[string]string{"name": name}, &d)
		}
		if err != nil {
			return fail(stderr, "%s %s: %v", pol, name, err)
		}
		if c.config != "" {
			text, ok := d.Configs[c.config]
			if !ok {
				kinds := make([]string, 0, len(d.Configs))
				for k := range d.Configs {
					kinds = append(kinds, k)
				}
				slices.Sort(kinds)
				// The device is made: its secrets must not be lost for a typo in -config.
				fmt.Fprintf(stdout, "key %s\nalgorithm %s\nsecret %s\nupload-token %s\n", d.Key, d.Algorithm, d.Secret, d.UploadToken)
				return fail(stderr, "-config %s: the server gave %s; the secrets are above", c.config, strings.Join(kinds, ", "))
			}
			io.WriteString(stdout, text)
			return 0
		}
		fmt.Fprintf(stdout, "key %s\nalgorithm %s\nsecret %s\nupload-token %s\n", d.Key, d.Algorithm, d.Secret, d.UploadToken)
		return 0
	}
}

func revokeDevice(cl *client, c *cmdline, stdout, stderr io.Writer) int {
	if _, err := cl.do("DELETE", devicesPath(c.args[0])+"/"+url.PathEscape(c.args[1]), nil, nil); err != nil {
		return fail(stderr, "%s %s: %v", c.args[0], c.args[1], err)
	}
	fmt.Fprintf(stdout, "revoked %s\n", c.args[1])
	return 0
}

// report is the part of threatlog's report that showReport prints.
type report struct {
	Policy  string `json:"policy"`
	Device  string `json:"device"`
	Events  int    `json:"events"`
	Listed  int    `json:"listed"`
	Blocked int    `json:"blocked"`
	Passed  int    `json:"passed"`
	Lists   []struct {
		Name string `json:"name"`
		Hits int    `json:"hits"`
	} `json:"lists"`
	Top []struct {
		Remote string   `json:"remote"`
		Hits   int      `json:"hits"`
		Lists  []string `json:"lists"`
	} `json:"top_remotes"`
	Infected []struct {
		Inside   string `json:"inside"`
		Contacts int    `json:"contacts"`
	} `json:"likely_infected"`
}

// showReport prints the totals, then one line per list ("list NAME HITS"), listed remote ("remote ADDR
// HITS LISTS") and likely infected inside host ("infected HOST CONTACTS").
func showReport(cl *client, c *cmdline, stdout, stderr io.Writer) int {
	q := url.Values{}
	for k, v := range map[string]string{"from": c.from, "to": c.to, "device": c.device} {
		if v != "" {
			q.Set(k, v)
		}
	}
	path := policyPath(c.args[0]) + "/report"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	if c.json {
		return raw(cl, path, stdout, stderr)
	}
	var r report
	if _, err := cl.do("GET", path, nil, &r); err != nil {
		return fail(stderr, "%s: %v", c.args[0], err)
	}
	fmt.Fprintf(stdout, "events %d\nlisted %d\nblocked %d\npassed %d\n", r.Events, r.Listed, r.Blocked, r.Passed)
	for _, l := range r.Lists {
		fmt.Fprintf(stdout, "list %s %d\n", l.Name, l.Hits)
	}
	for _, t := range r.Top {
		fmt.Fprintf(stdout, "remote %s %d %s\n", t.Remote, t.Hits, strings.Join(t.Lists, ","))
	}
	for _, h := range r.Infected {
		fmt.Fprintf(stdout, "infected %s %d\n", h.Inside, h.Contacts)
	}
	return 0
}

// passwd reads a password (the first line of stdin) and prints its bcrypt hash, for a Corefile's
// "user NAME HASH". It needs no server.
func passwd(stdout, stderr io.Writer) int {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return fail(stderr, "passwd: give the password on stdin")
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < 12 {
		return fail(stderr, "passwd: a password needs at least 12 characters")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), 12)
	if err != nil {
		return fail(stderr, "passwd: %v", err)
	}
	fmt.Fprintln(stdout, string(h))
	return 0
}

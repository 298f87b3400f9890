package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// line is one entry of a list file, as written there.
type line struct {
	n     int
	value string
}

// readList reads a text or CSV list: an entry a line, its first comma-separated field; blank lines and
// comments (from '#' or ';' to the end of the line) skipped. A first field with neither '.' nor ':' on
// the first line is a header: every address, prefix and name holds one. The server judges the rest.
func readList(r io.Reader) ([]line, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var out []line
	first := true
	for n := 1; sc.Scan(); n++ {
		s := sc.Text()
		if n == 1 {
			s = strings.TrimPrefix(s, "\ufeff") // what spreadsheets write first
		}
		if i := strings.IndexAny(s, "#;"); i >= 0 {
			s = s[:i]
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		s, _, _ = strings.Cut(s, ",")
		s = strings.TrimSpace(strings.Trim(strings.TrimSpace(s), `"`))
		if first {
			first = false
			if !strings.ContainsAny(s, ".:") {
				continue
			}
		}
		out = append(out, line{n, s})
	}
	return out, sc.Err()
}

// importList adds a file's entries to a policy's list, reporting each the server refuses by its line and
// going on; any other failure (the policy, the token, the server) stops it. -replace then removes the
// list's entries that the file does not hold, compared in the server's canonical form.
func importList(cl *client, c *cmdline, stdout, stderr io.Writer) int {
	pol, list, file := c.args[0], c.args[1], c.args[2]
	name, r := file, stdin
	if file == "-" {
		name = "stdin"
	} else {
		f, err := os.Open(file)
		if err != nil {
			return fail(stderr, "%v", err)
		}
		defer f.Close()
		r = f
	}
	lines, err := readList(r)
	if err != nil {
		return fail(stderr, "%s: %v", name, err)
	}
	if c.replace && len(lines) == 0 {
		// An empty download would otherwise empty the list.
		return fail(stderr, "%s holds no entries: -replace would remove every %s entry of %s; nothing done", name, list, pol)
	}

	var nAdded, nPresent, nRefused, nRemoved int
	summary := func() {
		fmt.Fprintf(stdout, "%d added, %d present, %d refused", nAdded, nPresent, nRefused)
		if c.replace {
			fmt.Fprintf(stdout, ", %d removed", nRemoved)
		}
		fmt.Fprintln(stdout)
	}
	keep := map[string]bool{}
	for _, l := range lines {
		a, created, err := cl.add(pol, list, l.value)
		var ae *apiError
		switch {
		case errors.As(err, &ae) && ae.code == http.StatusBadRequest:
			fmt.Fprintf(stderr, "%s:%d: %s\n", name, l.n, ae.msg)
			nRefused++
			continue
		case err != nil:
			fmt.Fprintf(stderr, "%s:%d: %v; import stopped\n", name, l.n, err)
			summary()
			return 1
		case created:
			nAdded++
		default:
			nPresent++
		}
		keep[a.Value] = true
	}

	status := 0
	if nRefused > 0 {
		status = 1
	}
	if c.replace {
		p, err := cl.policy(pol)
		if err != nil {
			fmt.Fprintf(stderr, "threatstopctl: %s: %v; nothing removed\n", pol, err)
			summary()
			return 1
		}
		have := p.Block
		if list == "allow" {
			have = p.Allow
		}
		for _, v := range have {
			if keep[v] {
				continue
			}
			var ae *apiError
			switch err := cl.remove(pol, list, v); {
			case err == nil:
				nRemoved++
			case errors.As(err, &ae) && ae.code == http.StatusNotFound && ae.msg == "no such entry":
				// removed by someone else meanwhile
			default:
				status = fail(stderr, "removing %s: %v", v, err)
			}
		}
	}
	summary()
	return status
}

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// line is one entry of a list file, as written there.
type line struct {
	n     int
	value string
}

// readList reads a text or CSV list: an entry a line, its first comma-separated field; blank lines and
// comments (from '#' or ';' to the end of the line) skipped. A first CSV line whose first field has
// neither '.' nor ':' is a header: no address or prefix, and few listed names, lack both. The server
// judges the rest.
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
		s, _, csv := strings.Cut(s, ",")
		s = strings.TrimSpace(strings.Trim(strings.TrimSpace(s), `"`))
		if first {
			first = false
			// A CSV header; a plain list's first line is an entry, a single-label name included.
			if csv && !strings.ContainsAny(s, ".:") {
				continue
			}
		}
		out = append(out, line{n, s})
	}
	return out, sc.Err()
}

// importList sends a file's entries to a policy's list as one import: one edit on the server (one serial
// step, one IXFR), however long the file. The lines the server refuses are reported by their line in the
// file and the rest is imported; with -replace the list becomes the file's entries, and a file with such
// lines changes nothing.
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
	// Line n of the body is line n of the file (its entry, or nothing), so the server's line numbers are
	// the file's.
	var body strings.Builder
	at := 1
	for _, l := range lines {
		for ; at < l.n; at++ {
			body.WriteByte('\n')
		}
		body.WriteString(l.value)
		body.WriteByte('\n')
		at++
	}
	res, err := cl.importText(pol, list, body.String(), c.replace)
	if err != nil {
		return fail(stderr, "%s: %v; nothing imported", name, err)
	}
	for _, e := range res.Errors {
		fmt.Fprintf(stderr, "%s:%d: %s\n", name, e.Line, e.Error)
	}
	if c.replace && len(res.Errors) > 0 {
		fmt.Fprintf(stdout, "nothing changed: -replace needs every line to be an entry (%d refused)\n", len(res.Errors))
		return 1
	}
	fmt.Fprintf(stdout, "%d added, %d present, %d refused", res.Added, res.Present, len(res.Errors))
	if c.replace {
		fmt.Fprintf(stdout, ", %d removed", res.Removed)
	}
	fmt.Fprintln(stdout)
	if len(res.Errors) > 0 {
		return 1
	}
	return 0
}

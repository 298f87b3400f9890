package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadList(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"198.51.100.7\n\n# comment\n; comment\nevil.example\n", "1:198.51.100.7 5:evil.example"},
		{"\ufeffip,comment\n192.0.2.1,\"a host\"\n\"203.0.113.0/24\",net\n", "2:192.0.2.1 3:203.0.113.0/24"},
		{"# header after a comment\nDomain,comment\nevil.example\n", "3:evil.example"},
		{"zip\nevil.example\n", "1:zip 2:evil.example"}, // a plain list: its first line is an entry, one label or not
		{"1.10.16.0/20 ; SBL256894\r\n2001:db8::/32 # note\r\n", "1:1.10.16.0/20 2:2001:db8::/32"},
		{"not-a-header,x\n", ""}, // a CSV header and nothing else
		{"evil..example\nbad entry\n,x\n", "1:evil..example 2:bad entry 3:"}, // the server refuses these
	} {
		ls, err := readList(strings.NewReader(c.in))
		var got []string
		for _, l := range ls {
			got = append(got, fmt.Sprintf("%d:%s", l.n, l.value))
		}
		if err != nil || strings.Join(got, " ") != c.want {
			t.Errorf("%q: %q %v, want %q", c.in, got, err, c.want)
		}
	}
}

func writeFile(t *testing.T, name, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImport: the good lines are added, each bad one reported by its file and line while the rest go on,
// and the exit status says some were refused.
func TestImport(t *testing.T) {
	s := start(t)
	file := writeFile(t, "list.csv", `entry,comment
198.51.100.7,"a scanner"
# from the ticket
evil.example,already there

203.0.113.9/24,a range
not an entry!,typo
*.bad.example
198.51.100.7/33
`)
	out, errs, code := s.ctl(t, demoToken, "import", "demo", "block", file)
	want(t, "summary", fmt.Sprint(code, " ", out), "1 3 added, 1 present, 2 refused\n")
	want(t, "refused", errs, file+`:7: "not an entry!" is not an address, a prefix, a domain name or *.domain`+"\n"+
		file+`:9: "198.51.100.7/33" is not a valid prefix`+"\n")
	for name, rc := range map[string]string{
		"7.100.51.198": "NOERROR", "1.113.0.203": "NOERROR", "www.bad.example": "NOERROR", "evil.example": "NOERROR",
		"8.100.51.198": "NXDOMAIN",
	} {
		want(t, name, s.rcode(t, name+".demo.threatstop.local."), rc)
	}
	want(t, "block", strings.Join(s.demo(t).Block, " "), "evil.example 198.51.100.7 203.0.113.0/24 *.bad.example")

	// Again from stdin: everything present.
	stdin = strings.NewReader("198.51.100.7\n")
	t.Cleanup(func() { stdin = os.Stdin })
	out, errs, code = s.ctl(t, demoToken, "import", "demo", "block", "-")
	want(t, "stdin", fmt.Sprint(code, " ", out, errs), "0 0 added, 1 present, 0 refused\n")

	// A policy of another customer: nothing imported.
	out, errs, code = s.ctl(t, otherToken, "import", "demo", "block", file)
	want(t, "other's token", fmt.Sprint(code, " ", out, errs), "1 threatstopctl: "+file+": no such policy; nothing imported\n")
}

// TestImportReplace: -replace removes the list's entries the file lacks, a Corefile entry and one written
// differently (canonical forms compared) included, and leaves the other list alone; a file with a bad
// line changes nothing.
func TestImportReplace(t *testing.T) {
	s := start(t)
	if _, errs, code := s.ctl(t, demoToken, "block", "demo", "192.0.2.0/24", "old.example", "2001:db8::/32"); code != 0 {
		t.Fatal(errs)
	}
	if _, errs, code := s.ctl(t, demoToken, "allow", "demo", "good.example"); code != 0 {
		t.Fatal(errs)
	}
	// A file with a line that is not an entry changes nothing: what it meant to keep is not known.
	bad := writeFile(t, "bad.txt", "new.example\nbad entry\n")
	out, errs, code := s.ctl(t, demoToken, "import", "demo", "block", bad, "-replace")
	want(t, "with a bad line", fmt.Sprint(code, " ", out), "1 nothing changed: -replace needs every line to be an entry (1 refused)\n")
	want(t, "refused", errs, bad+`:2: "bad entry" is not an address, a prefix, a domain name or *.domain`+"\n")
	want(t, "unchanged", s.rcode(t, "old.example.demo.threatstop.local."), "NOERROR")

	file := writeFile(t, "list.txt", "192.0.2.77/24\n2001:DB8:0::/32\nnew.example\n")
	out, errs, code = s.ctl(t, demoToken, "import", "demo", "block", file, "-replace")
	want(t, "summary", fmt.Sprint(code, " ", out, errs), "0 1 added, 2 present, 0 refused, 2 removed\n")
	p := s.demo(t)
	got := append([]string(nil), p.Block...)
	slices.Sort(got)
	want(t, "block", strings.Join(got, " "), "192.0.2.0/24 2001:db8::/32 new.example")
	want(t, "allow", strings.Join(p.Allow, " "), "good.example")
	want(t, "evil.example", s.rcode(t, "evil.example.demo.threatstop.local."), "NXDOMAIN")
	want(t, "old.example", s.rcode(t, "old.example.demo.threatstop.local."), "NXDOMAIN")
	want(t, "new.example", s.rcode(t, "new.example.demo.threatstop.local."), "NOERROR")
	want(t, "192.0.2.1", s.rcode(t, "1.2.0.192.demo.threatstop.local."), "NOERROR")

	// An empty file is refused rather than emptying the list.
	_, errs, code = s.ctl(t, demoToken, "import", "-replace", "demo", "block", writeFile(t, "empty.txt", "# nothing\n"))
	if code != 1 || !strings.Contains(errs, "nothing done") || len(s.demo(t).Block) != 3 {
		t.Errorf("empty -replace: %d %q", code, errs)
	}
}

package format_test

import (
	"fmt"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/format"
)

// A parser turns a feed body into entries. A bad line is counted and
// sampled, never fatal.
func ExampleNew() {
	p, err := format.New("hosts", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	body := `# a hosts file
127.0.0.1 localhost
0.0.0.0 evil.example
0.0.0.0 Tracker.Example.   # normalised
0.0.0.0 bad..name
`
	// localhost is the hosts preamble: skipped, not invalid.
	var b entryset.Builder
	var st format.Stats
	p.Parse(body, &b, &st)
	s := b.Set()
	fmt.Println(s.Names)
	fmt.Printf("lines=%d entries=%d invalid=%d skipped=%d\n", st.Lines, st.Entries, st.Invalid, st.Skipped)
	for _, is := range st.Samples {
		fmt.Println(is)
	}
	// Output:
	// ["evil.example" "tracker.example"]
	// lines=5 entries=2 invalid=1 skipped=1
	// line 5: not a host name: "0.0.0.0 bad..name"
}

// The plain format takes one address, prefix or name a line.
func ExampleNew_plain() {
	p, _ := format.New("plain", nil)
	var b entryset.Builder
	var st format.Stats
	p.Parse("192.0.2.1\n198.51.100.0/24\n2001:db8::/32\nbad.example\n; comment\nnot an entry!\n", &b, &st)
	s := b.Set()
	fmt.Println(s.Len(), s.Names)
	fmt.Println(st.Invalid, st.Samples)
	// Output:
	// 4 ["bad.example"]
	// 1 [line 6: text after the entry: "not an entry!"]
}

// Options are checked against what the format accepts.
func ExampleLookup() {
	f, ok := format.Lookup("ipsum")
	fmt.Println(f.Name, ok, f.Options)
	_, err := format.New("plain", map[string][]string{"min_score": {"3"}})
	fmt.Println(err)
	_, ok = format.Lookup("no-such-format")
	fmt.Println(ok)
	// Output:
	// ipsum true [min_score]
	// format plain takes no option "min_score"
	// false
}

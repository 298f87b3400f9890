package format_test

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/threatstop/threatstop/plugin/pkg/format"
)

func TestRefangText(t *testing.T) {
	for in, want := range map[string]string{
		"evil[.]example":                     "evil.example",
		"evil(.)example{.}com[DOT]net(dot)x": "evil.example.com.net.x",
		"hxxp://a[.]example/x":               "http://a.example/x",
		"hXXps[:]//a[.]example":              "https://a.example",
		"hxxps[://]a{.}example":              "https://a.example",
		"HXXP://1[.]2[.]3[.]4:80/":           "http://1.2.3.4:80/",
		"http://[2001:db8::1]:80/":           "http://[2001:db8::1]:80/", // a bracketed IPv6 host stays
		"xhxxp://a.example":                  "xhxxp://a.example",        // inside a word
		"hxxpd://a.example":                  "hxxpd://a.example",
		"hxxp":                               "hxxp",
		"a.hxxp:x":                           "a.hxxp:x",
		"(:)[:/]{:}[ . ][..]":                "(:)[:/]{:}[ . ][..]",
		"[[.]]":                              "[.]", // one pass
		"a[.]b\r\nc(.)d\n":                   "a.b\r\nc.d\n",
		"":                                   "",
	} {
		if got := format.Refang(in); got != want {
			t.Errorf("refang(%q) = %q, want %q", in, got, want)
		}
	}
	s := "nothing to undo here, http://a.example/x [x] (y) {z} h"
	if got := format.Refang(s); got != s || unsafe.StringData(got) != unsafe.StringData(s) {
		t.Errorf("refang changed or copied %q", s)
	}
}

func TestRefang(t *testing.T) {
	refang := map[string][]string{"refang": nil}
	runCases(t, []parseCase{
		{name: "refang", format: "plain", opts: refang,
			in:       "evil[.]example\n1[.]2[.]3[.]4\n2001[:]db8[:][:]1\n*(.)wild[dot]example\nhxxp://evil[.]example/x\n",
			prefixes: []string{"1.2.3.4/32", "2001:db8::1/128"}, names: []string{"evil.example"}, wild: []string{"wild.example"},
			lines: 5, entries: 4, skipped: 1},
		{name: "as written", format: "plain", in: "evil[.]example\n1[.]2[.]3[.]4\nhxxp://evil[.]example/x\n",
			lines: 3, invalid: 2, skipped: 1, bad: []int{1, 2}},
		{name: "refang with the format's options", format: "ipsum", opts: map[string][]string{"refang": {}, "min_score": {"2"}},
			in: "1[.]2[.]3[.]4\t3\n5[.]6[.]7[.]8\t1\n", prefixes: []string{"1.2.3.4/32"}, lines: 2, entries: 1, skipped: 1},
	})
	for _, opts := range []map[string][]string{{"refang": {"yes"}}, {"refang": {""}}} {
		if _, err := format.New("plain", opts); err == nil || !strings.Contains(err.Error(), "refang takes no value") {
			t.Errorf("New(plain, %q): %v", opts, err)
		}
	}
	for _, name := range format.Names() {
		f, _ := format.Lookup(name)
		if !f.Takes("refang") {
			t.Errorf("%s does not take refang", name)
		}
		if _, err := format.New(name, refang); err != nil {
			t.Errorf("New(%s, refang): %v", name, err)
		}
	}
}

// TestFeedRefang: TweetFeed's URLs defanged in six styles (SOURCES.md), read with refang, give what the
// URLs as published give; read as written, the 467 lines whose host is defanged are invalid.
func TestFeedRefang(t *testing.T) {
	defanged, plain := readFeed(t, "tweetfeed_week.urls.defanged.txt"), readFeed(t, "tweetfeed_week.urls.txt")
	if got := format.Refang(defanged); got != plain {
		t.Fatal("refang of the defanged URLs is not the URLs")
	}
	for _, paths := range []string{"skip", "keep"} {
		want, wst, _ := run(newParser(t, "url", map[string][]string{"paths": {paths}}), plain)
		p := newParser(t, "url", map[string][]string{"paths": {paths}, "refang": nil})
		got, st := checkMode(t, p, defanged, formatMode("url"))
		if !got.Equal(want) || st.Lines != wst.Lines || st.Entries != wst.Entries || st.Skipped != wst.Skipped || st.Invalid != 0 {
			t.Errorf("paths %s: refang gives %+v (%d entries), the URLs %+v (%d)", paths, st, got.Len(), wst, want.Len())
		}
	}
	// Styles 0 to 3 defang the host (117+117+117+116 lines of 699); 4 and 5 only the scheme or nothing.
	_, st, _ := run(newParser(t, "url", map[string][]string{"paths": {"keep"}}), defanged)
	if st.Invalid != 467 || st.Entries != 699-467 {
		t.Errorf("as written: %+v, want 467 invalid and 232 entries", st)
	}
}

// FuzzRefang: refang keeps line breaks, never grows the text, leaves a text without its markers as it is,
// and a format with refang reads the refanged text as the format alone does.
func FuzzRefang(f *testing.F) {
	addSeeds(f, headLines(f, "tweetfeed_week.urls.defanged.txt", 30),
		"evil(.)example{.}com[DOT]net(dot)x\nhXXps[:]//a[.]example\nhxxps[://]a{.}example\n[[.]]\n(:)[:/]{:}\nxhxxp://a\nhxxp\nhxxps\n",
		"1[.]2[.]3[.]4\n2001[:]db8[:][:]1\n*(.)wild[dot]example\nhttp://[2001:db8::1]:80/\n")
	plain := newParser(f, "plain", nil)
	refanged := newParser(f, "plain", map[string][]string{"refang": nil})
	f.Fuzz(func(t *testing.T, data string) {
		out := format.Refang(data)
		if len(out) > len(data) || strings.Count(out, "\n") != strings.Count(data, "\n") || strings.Count(out, "\r") != strings.Count(data, "\r") {
			t.Fatalf("refang(%q) = %q: longer, or other line breaks", data, out)
		}
		if !strings.ContainsAny(data, "[({") && !strings.Contains(strings.ToLower(data), "xxp") && out != data {
			t.Fatalf("refang(%q) = %q without a marker", data, out)
		}
		s, st := checkParse(t, refanged, data, true)
		want, wst, _ := run(plain, out)
		if !s.Equal(want) || st.Lines != wst.Lines || st.Entries != wst.Entries || st.Invalid != wst.Invalid || st.Skipped != wst.Skipped {
			t.Fatalf("refang parse %+v, parse of the refanged text %+v", st, wst)
		}
	})
}

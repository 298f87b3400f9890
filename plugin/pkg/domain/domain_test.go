package domain_test

import (
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/net/idna"

	"github.com/threatstop/threatstop/plugin/pkg/domain"
)

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// label returns a label of n bytes.
func label(n int) string { return strings.Repeat("a", n) }

// nameOfLen returns a valid name of exactly n bytes (n >= 3), made of 63-byte labels and a last label that
// is not all digits.
func nameOfLen(n int) string {
	var b strings.Builder
	for n-b.Len() > 63 {
		b.WriteString(label(min(63, n-b.Len()-2)))
		b.WriteByte('.')
	}
	b.WriteString(label(n - b.Len()))
	s := b.String()
	if len(s) != n {
		panic("nameOfLen")
	}
	return s
}

func TestNameOfLen(t *testing.T) {
	for _, n := range []int{3, 63, 64, 65, 127, 128, 253, 254} {
		s := nameOfLen(n)
		if len(s) != n {
			t.Fatalf("nameOfLen(%d) has %d bytes", n, len(s))
		}
		for _, l := range strings.Split(s, ".") {
			if len(l) == 0 || len(l) > 63 {
				t.Fatalf("nameOfLen(%d) has a label of %d bytes", n, len(l))
			}
		}
	}
}

func TestValid(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"example.com", true},
		{"EXAMPLE.COM", true},
		{"Www.Example.Com", true},
		{"com", true}, // single labels are valid; Listable refuses them
		{"a", true},
		{"a.b", true},
		{"xn--bcher-kva.example", true},
		{"a-b.com", true},
		{"a--b.com", true},
		{"_dmarc.example.com", true},
		{"_.com", true},
		{"a_.com", true},
		{"example._tcp", true},
		{"123.example.com", true},
		{"1.2.3.x", true},
		{"example.c0m", true},
		{"example.1a", true},
		{"example.a1", true},
		{"0x1.com", true},

		{"", false},
		{".", false},
		{"..", false},
		{".com", false},
		{"example.com.", false}, // Valid takes names with no trailing dot
		{"example..com", false},
		{"-example.com", false},
		{"example-.com", false},
		{"example.-com", false},
		{"example.com-", false},
		{"a.-", false},
		{"-", false},
		{"a.b-", false},
		{"1", false},
		{"123", false},
		{"1.2.3.4", false}, // all-numeric last label
		{"1.2.3", false},
		{"example.123", false},
		{"example.0", false},
		{"exa mple.com", false},
		{"example.com ", false},
		{"exa\tmple.com", false},
		{"exam!ple.com", false},
		{"*.example.com", false},
		{"example.com/", false},
		{"example.com:53", false},
		{"ex@mple.com", false},
		{"münchen.de", false},
		{"xn--mnchen-3ya.de", true},
		{"bücher.example", false},
		{"example.c\x00m", false},
		{"example.\xffcom", false},
		{"example\\.com", false},

		{label(63) + ".com", true},
		{label(64) + ".com", false},
		{"com." + label(63), true},
		{"com." + label(64), false},
		{label(63), true},
		{label(64), false},
		{nameOfLen(253), true},
		{nameOfLen(254), false},
		{strings.ToUpper(nameOfLen(253)), true},
	}
	for _, tt := range tests {
		if got := domain.Valid(tt.name); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"example.com", "example.com", true},
		{"Example.COM", "example.com", true},
		{"example.com.", "example.com", true},
		{"EXAMPLE.COM.", "example.com", true},
		{"_DMARC.Example.com", "_dmarc.example.com", true},
		{"com", "com", true},
		{"com.", "com", true},
		{"XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example", true},

		{"", "", false},
		{".", "", false},
		{"..", "", false},
		{"example.com..", "", false}, // only one trailing dot is removed
		{".example.com", "", false},
		{"example..com", "", false},
		{"-example.com", "", false},
		{"example-.com.", "", false},
		{"1.2.3.4", "", false},
		{"1.2.3.4.", "", false},
		{"*.example.com", "", false},

		// Internationalised names become punycode, mapped as for a lookup (UTS #46, non-transitional).
		{"münchen.de", "xn--mnchen-3ya.de", true},
		{"MÜNCHEN.DE", "xn--mnchen-3ya.de", true},
		{"Bücher.Example.", "xn--bcher-kva.example", true},
		{"bücher.example\u3002", "xn--bcher-kva.example", true}, // ideographic full stop as the trailing dot
		{"bücher\uff0eexample", "xn--bcher-kva.example", true},  // fullwidth full stop between labels
		{"faß.de", "xn--fa-hia.de", true},                       // non-transitional: ß is kept
		{"日本語.jp", "xn--wgv71a119e.jp", true},
		{"ｅｘａｍｐｌｅ.com", "example.com", true}, // fullwidth letters map to ASCII
		{"www.münchen.de", "www.xn--mnchen-3ya.de", true},
		{"مثال.إختبار", "xn--mgbh0fb.xn--kgbechtv", true},
		{"bücher.example.\u3002", "", false}, // two trailing dots: an empty label
		{"münchen..de", "", false},
		{".münchen.de", "", false},
		{"_dmarc.münchen.de", "", false}, // the IDNA profile takes STD3 characters only
		{"ab--c.münchen.de", "", false},  // hyphens in the 3rd and 4th places
		{"-münchen.de", "", false},
		{"münchen-.de", "", false},
		{"münchen.123", "", false},
		{"mün chen.de", "", false},
		{"münchen.de\x00", "", false},
		{"\xff.de", "", false},                                      // not UTF-8
		{"mü\xffnchen.de", "", false},                               // not UTF-8
		{"a\u200db.de", "", false},                                  // a joiner out of context
		{"\u0661.example", "", false},                               // an Arabic-Indic digit alone breaks the Bidi rule
		{"a\u0661.example", "", false},                              // a Bidi label mixing directions
		{"xn--zz.münchen.de", "", false},                            // a bad punycode label next to a Unicode one
		{strings.Repeat("ü", 60) + ".de", "", false},                // the A-label is longer than 63 bytes
		{strings.Repeat("ü", 20) + "." + nameOfLen(240), "", false}, // the whole name is longer than 253

		{label(63) + ".com.", label(63) + ".com", true},
		{label(64) + ".com.", "", false},
		{nameOfLen(253) + ".", nameOfLen(253), true},
		{strings.ToUpper(nameOfLen(253)) + ".", nameOfLen(253), true},
		{nameOfLen(254) + ".", "", false},
		{nameOfLen(254), "", false},
	}
	for _, tt := range tests {
		got, ok := domain.Normalize(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Normalize(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok && !domain.Valid(got) {
			t.Errorf("Normalize(%q) = %q, which is not Valid", tt.in, got)
		}
	}
}

// TestNormalizeNoCopy checks the package doc's promise: a name already in canonical form is returned as is,
// with no allocation and the same bytes.
func TestNormalizeNoCopy(t *testing.T) {
	for _, in := range []string{"example.com", "example.com.", "a.b.c.d.e.f.g", "_dmarc.example.com", "xn--mnchen-3ya.de",
		"1.2.3.4", "Example.com-", "münchen"[:1]} {
		if _, ok := domain.Normalize(in); !ok {
			// Refusals must not allocate either: "1.2.3.4" and "Example.com-" are refused.
			if n := testing.AllocsPerRun(100, func() { domain.Normalize(in) }); n != 0 {
				t.Errorf("Normalize(%q) refuses with %v allocations, want 0", in, n)
			}
			continue
		}
		got, _ := domain.Normalize(in)
		if unsafe.StringData(got) != unsafe.StringData(in) {
			t.Errorf("Normalize(%q) copied a name that was already canonical", in)
		}
		if n := testing.AllocsPerRun(100, func() { domain.Normalize(in) }); n != 0 {
			t.Errorf("Normalize(%q) allocates %v times, want 0", in, n)
		}
	}
	// The input must not be modified when lowering.
	in := "Example.COM"
	got, _ := domain.Normalize(in)
	if in != "Example.COM" || got != "example.com" {
		t.Errorf("Normalize changed its input or returned %q", got)
	}
}

// TestNormalizeASCII: the wire form refuses every non-ASCII byte and otherwise agrees with Normalize.
func TestNormalizeASCII(t *testing.T) {
	for _, in := range []string{"münchen.de", "MÜNCHEN.DE", "ｅｘａｍｐｌｅ.com", "\xff.de", "bücher.example\u3002"} {
		if got, ok := domain.NormalizeASCII(in); ok || got != "" {
			t.Errorf("NormalizeASCII(%q) = %q, %v; want refused", in, got, ok)
		}
	}
	for _, in := range []string{"example.com", "Example.COM.", "xn--mnchen-3ya.de", "_dmarc.example.com", "1.2.3.4", "", "a..b"} {
		got, ok := domain.NormalizeASCII(in)
		want, wantOK := domain.Normalize(in)
		if got != want || ok != wantOK {
			t.Errorf("NormalizeASCII(%q) = %q, %v; Normalize gives %q, %v", in, got, ok, want, wantOK)
		}
	}
	in := "example.com"
	if got, _ := domain.NormalizeASCII(in); unsafe.StringData(got) != unsafe.StringData(in) {
		t.Errorf("NormalizeASCII copied a canonical name")
	}
	if n := testing.AllocsPerRun(100, func() { domain.NormalizeASCII(in) }); n != 0 {
		t.Errorf("NormalizeASCII allocates %v times", n)
	}
}

func TestListable(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"example.com", true},
		{"a.b", true},
		{"www.example.co.uk", true},
		{"_dmarc.example.com", true},
		{"com", false},
		{"localhost", false},
		{"", false},
		{".com", false}, // not a valid name anyway; the dot must not be the first byte
	}
	for _, tt := range tests {
		if got := domain.Listable(tt.name); got != tt.want {
			t.Errorf("Listable(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParent(t *testing.T) {
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"www.example.com", "example.com", true},
		{"example.com", "com", true},
		{"a.b.c.d", "b.c.d", true},
		{"_dmarc.example.com", "example.com", true},
		{"com", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := domain.Parent(tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Parent(%q) = %q, %v, want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}

	// Walking up from a valid name visits every suffix and ends at the last label.
	name := "a.b.example.com"
	var walk []string
	for n, ok := name, true; ok; n, ok = domain.Parent(n) {
		walk = append(walk, n)
	}
	want := []string{"a.b.example.com", "b.example.com", "example.com", "com"}
	if strings.Join(walk, " ") != strings.Join(want, " ") {
		t.Errorf("walking up from %q gave %q, want %q", name, walk, want)
	}
	for _, n := range walk {
		if !domain.Valid(n) {
			t.Errorf("parent %q of a valid name is not valid", n)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"example.com", "Example.COM.", "", ".", "a..b", "-a.com", "a-.com", "1.2.3.4", "_x.y",
		label(63) + ".com", label(64) + ".com", nameOfLen(253), nameOfLen(254), "münchen.de", "a.b.", "Bücher.Example.",
		"bücher.example\u3002", "_dmarc.münchen.de", "ab--c.münchen.de", "\xff.de", "a\u200db.de", "日本語.jp", "ｅｘａｍｐｌｅ.com",
		"xn--mnchen-3ya.de", "xn--zz.münchen.de", strings.Repeat("ü", 60) + ".de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := domain.Normalize(s)
		ascii, asciiOK := domain.NormalizeASCII(s)
		if isASCII(s) && (got != ascii || ok != asciiOK) {
			t.Fatalf("ASCII %q: Normalize %q, %v; NormalizeASCII %q, %v", s, got, ok, ascii, asciiOK)
		}
		if !isASCII(s) && asciiOK {
			t.Fatalf("NormalizeASCII(%q) accepted a non-ASCII name", s)
		}
		if !ok {
			if got != "" {
				t.Fatalf("Normalize(%q) failed but returned %q", s, got)
			}
			if domain.Valid(strings.TrimSuffix(s, ".")) {
				t.Fatalf("Normalize(%q) failed on a valid name", s)
			}
			return
		}
		if !domain.Valid(got) || !isASCII(got) {
			t.Fatalf("Normalize(%q) = %q, not Valid", s, got)
		}
		if isASCII(s) {
			if got != strings.ToLower(strings.TrimSuffix(s, ".")) {
				t.Fatalf("Normalize(%q) = %q, want the lowercase name without its trailing dot", s, got)
			}
		} else {
			// The conversion is UTS #46 lookup's: what idna.Lookup gives, which it can turn back to Unicode.
			want, err := idna.Lookup.ToASCII(strings.TrimSuffix(s, "."))
			if err != nil || strings.TrimSuffix(want, ".") != got {
				t.Fatalf("Normalize(%q) = %q; idna.Lookup gives %q, %v", s, got, want, err)
			}
			if _, err := idna.Lookup.ToUnicode(got); err != nil {
				t.Fatalf("Normalize(%q) = %q, which does not convert back: %v", s, got, err)
			}
		}
		if again, ok := domain.Normalize(got); !ok || again != got {
			t.Fatalf("Normalize is not idempotent on %q: %q, %v", got, again, ok)
		}
		if len(got) == 0 || len(got) > 253 || got[len(got)-1] == '.' {
			t.Fatalf("Normalize(%q) = %q breaks the length or trailing-dot rule", s, got)
		}
		for _, l := range strings.Split(got, ".") {
			if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
				t.Fatalf("Normalize(%q) = %q has a bad label %q", s, got, l)
			}
		}
		if p, ok := domain.Parent(got); ok && !domain.Valid(p) {
			t.Fatalf("Parent(%q) = %q is not Valid", got, p)
		}
	})
}

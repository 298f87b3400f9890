package domain_test

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/threatstop/threatstop/plugin/pkg/domain"
)

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
		{"münchen.de", "", false},
		{"MÜNCHEN.DE", "", false},
		{"*.example.com", "", false},

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
	for _, in := range []string{"example.com", "example.com.", "a.b.c.d.e.f.g", "_dmarc.example.com"} {
		got, ok := domain.Normalize(in)
		if !ok {
			t.Fatalf("Normalize(%q) failed", in)
		}
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
		label(63) + ".com", label(64) + ".com", nameOfLen(253), nameOfLen(254), "münchen.de", "a.b."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := domain.Normalize(s)
		if !ok {
			if got != "" {
				t.Fatalf("Normalize(%q) failed but returned %q", s, got)
			}
			if domain.Valid(strings.TrimSuffix(s, ".")) {
				t.Fatalf("Normalize(%q) failed on a valid name", s)
			}
			return
		}
		if !domain.Valid(got) {
			t.Fatalf("Normalize(%q) = %q, not Valid", s, got)
		}
		if got != strings.ToLower(strings.TrimSuffix(s, ".")) {
			t.Fatalf("Normalize(%q) = %q, want the lowercase name without its trailing dot", s, got)
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

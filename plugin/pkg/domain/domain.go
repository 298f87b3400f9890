// Package domain normalises and validates the domain names that feeds list and queries ask about, so that
// every name stored or looked up has one spelling: lowercase ASCII, no trailing dot, labels of letters,
// digits, hyphens and underscores. Internationalised names are converted to their punycode (A-label) form.
// Normalising allocates only when the input is not already in that form.
package domain

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

const (
	maxName  = 253 // presentation length of a full name without the trailing dot (RFC 1035 §2.3.4)
	maxLabel = 63
)

// idnaProfile converts internationalised names the way a resolver looks them up (UTS #46 mapping, no
// transitional processing, RFC 5891 label checks, the Bidi rule, STD3 characters and DNS lengths). A name
// that it rejects is not a name.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.VerifyDNSLength(true),
	idna.Transitional(false),
)

// Normalize returns name in canonical form and whether it is a valid name. A single trailing dot is
// removed and ASCII letters are lowered. A name with non-ASCII characters is mapped and converted to
// punycode as for a lookup (UTS #46, non-transitional), "Bücher.Example" giving "xn--bcher-kva.example";
// what that conversion rejects is invalid, and its result must still pass Valid. It accepts single-label
// names; feeds use Listable to refuse them. A name that is already lowercase ASCII without a trailing dot
// is returned as is, without allocating.
func Normalize(name string) (string, bool) {
	name = strings.TrimSuffix(name, ".")
	if Valid(name) {
		return lower(name), true
	}
	if isASCII(name) || !utf8.ValidString(name) {
		return "", false
	}
	return toASCII(name)
}

// NormalizeASCII is Normalize without the conversion of internationalised names: a name with a byte
// outside ASCII is invalid. It suits names read off the wire, whose labels are bytes, not text.
func NormalizeASCII(name string) (string, bool) {
	name = strings.TrimSuffix(name, ".")
	if !Valid(name) {
		return "", false
	}
	return lower(name), true
}

// toASCII converts a name with non-ASCII characters (and no trailing ASCII dot) to its A-label form.
func toASCII(name string) (string, bool) {
	a, err := idnaProfile.ToASCII(name)
	if err != nil {
		return "", false
	}
	// A trailing full stop written as U+3002 or U+FF0E maps to '.', which is the root, as an ASCII one is;
	// two of them are an empty label.
	a = strings.TrimSuffix(a, ".")
	if !Valid(a) {
		return "", false
	}
	return lower(a), true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Valid reports whether name (no trailing dot, any case) is a syntactically valid name: 1 to 253 bytes,
// labels of 1 to 63 letters, digits, '-' and '_', no label starting or ending with '-', and a last label
// that is not all digits (so that a dotted-quad or a truncated address is never taken for a name). It
// takes ASCII names only: a name with non-ASCII characters is valid once Normalize has converted it.
func Valid(name string) bool {
	if len(name) == 0 || len(name) > maxName {
		return false
	}
	labelLen, digitsOnly := 0, true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if labelLen == 0 || name[i-1] == '-' {
				return false
			}
			labelLen, digitsOnly = 0, true
			continue
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
			digitsOnly = false
		case c == '-':
			if labelLen == 0 {
				return false
			}
			digitsOnly = false
		default:
			return false
		}
		labelLen++
		if labelLen > maxLabel {
			return false
		}
	}
	return labelLen > 0 && name[len(name)-1] != '-' && !digitsOnly
}

// Listable reports whether a valid, normalised name may be a feed entry: it needs at least two labels, so
// a feed line such as "localhost" or a stray word is never taken as a whole top-level domain.
func Listable(name string) bool {
	return strings.IndexByte(name, '.') > 0
}

// Parent returns the name with its first label removed, and false when name has a single label.
func Parent(name string) (string, bool) {
	i := strings.IndexByte(name, '.')
	if i < 0 {
		return "", false
	}
	return name[i+1:], true
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

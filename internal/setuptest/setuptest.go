// Package setuptest holds what the plugins' setup tests share. It imports no plugin, so a plugin's own
// (internal) tests can use it.
package setuptest

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var lineRE = regexp.MustCompile(`Testfile:(\d+) - Error during parsing: `)

// AssertLineError checks that err names Corefile line and says want, after CoreDNS's
// "Testfile:N - Error during parsing: " prefix (the file name caddy.NewTestController gives).
func AssertLineError(t testing.TB, err error, line int, want string) {
	t.Helper()
	msg := err.Error()
	m := lineRE.FindStringSubmatchIndex(msg)
	if m == nil {
		t.Fatalf("error %q names no line", msg)
	}
	if got := msg[m[2]:m[3]]; got != strconv.Itoa(line) {
		t.Errorf("error %q names line %s, want line %d", msg, got, line)
	}
	if !strings.Contains(msg[m[1]:], want) {
		t.Errorf("error %q, want it to say %q", msg, want)
	}
}

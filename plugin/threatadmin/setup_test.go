package threatadmin

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"

	"github.com/threatstop/threatstop/internal/setuptest"
)

func block(lines ...string) string {
	return "threatadmin {\n    customer demo {\n        policies demo\n    }\n    " + strings.Join(lines, "\n    ") + "\n}"
}

// TestSetup: a valid block, its defaults, and tokens kept only as digests with their scope.
func TestSetup(t *testing.T) {
	a, err := parse(caddy.NewTestController("dns", `threatadmin {
    listen 127.0.0.1:9999
    db /tmp/x.db
    customer demo {
        policies demo mail
        token demo-api-7f3c9a1e5b2d4c6e
        token demo-read-0123456789abcdef read
    }
    customer other {
        policies other
        token other-api-fedcba9876543210 write
        token sha256:944f581f8e3785e09cb0e73be0a517a5d39d73f5d61ecda2405d79a51e25a0c7 read
    }
}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.listen != "127.0.0.1:9999" || a.db != "/tmp/x.db" || len(a.customers) != 2 || len(a.tokens) != 4 {
		t.Fatalf("parsed %+v", a)
	}
	writes := 0
	for _, g := range a.tokens {
		if g.write {
			writes++
		}
	}
	if g, ok := a.tokens[sha256.Sum256([]byte("other-read-token-0123"))]; !ok || g.write || g.customer.name != "other" {
		t.Errorf("the token given by its digest (sha256 of other-read-token-0123): %+v %v", g, ok)
	}
	if writes != 2 || !a.customers[0].owns("mail") || a.customers[1].owns("demo") {
		t.Errorf("scopes or policies wrong: %d write tokens", writes)
	}
	d, err := parse(caddy.NewTestController("dns", block()))
	if err != nil || d.listen != DefaultListen || d.db != DefaultDB {
		t.Errorf("defaults: %v %+v", err, d)
	}
}

// TestSetupErrors: each mistake is refused naming its line.
func TestSetupErrors(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		line        int
		want        string
	}{
		{"argument", "threatadmin x {\n}", 1, "Wrong argument count"},
		{"no customer", "threatadmin {\n    listen 127.0.0.1:1\n}", 3, "at least one customer or operator"},
		{"operator without token", block("operator ops {", "}"), 6, "operator ops: no token"},
		{"operator twice", block("operator ops {", "token 0123456789abcdef", "}", "operator ops {"), 8, "operator ops defined twice"},
		{"operator's token of a customer", block("customer b {", "policies b", "token 0123456789abcdef", "}", "operator ops {", "token 0123456789abcdef", "}"), 10, "operator ops: a token given twice"},
		{"listen not host:port", block("listen 9156"), 5, "listen: address 9156: missing port"},
		{"db without a path", block("db"), 5, "Wrong argument count"},
		{"unknown property", block("port 1"), 5, `unknown property "port"`},
		{"customer name", block("customer Demo {", "}"), 5, "customer needs one name"},
		{"customer twice", block("customer demo {", "policies x", "}"), 5, "customer demo defined twice"},
		{"policy of two customers", block("customer b {", "policies demo", "}"), 6, "policy demo is customer demo's"},
		{"short token", block("customer b {", "policies b", "token short", "}"), 7, "at least 16 characters"},
		{"token scope", block("customer b {", "policies b", "token 0123456789abcdef admin", "}"), 7, `token scope "admin"`},
		{"token twice", block("customer b {", "policies b", "token 0123456789abcdef", "token 0123456789abcdef read", "}"), 8, "a token given twice"},
		{"tls without files", block("tls /nonexistent/cert.pem /nonexistent/key.pem"), 5, "tls: open /nonexistent/cert.pem"},
		{"tls with one file", block("tls cert.pem"), 5, "Wrong argument count"},
		{"bad digest", block("customer b {", "policies b", "token sha256:00ff", "}"), 7, "needs the 64 hex digits"},
		{"no policies", block("customer b {", "token 0123456789abcdef", "}"), 7, "customer b: no policies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(caddy.NewTestController("dns", tc.input))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.input)
			}
			setuptest.AssertLineError(t, err, tc.line, tc.want)
		})
	}
	if _, err := parse(caddy.NewTestController("dns", block()+"\n"+block())); !errors.Is(err, plugin.ErrOnce) {
		t.Errorf("two blocks: %v, want %v", err, plugin.ErrOnce)
	}
}

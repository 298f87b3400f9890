package transfer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/primarytest"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/zone"
)

const (
	origin  = "p.rpz.test."
	keyName = "p.key."
	secret  = "cC1rZXktb2YtY3VzdG9tZXItcC0zMi1ieXRlcy14eA=="
	wrong   = "d3Jvbmctc2VjcmV0LW9mLTMyLWJ5dGVzLXp6enp6eno="
)

func startPrimary(t *testing.T) *primarytest.Primary {
	return primarytest.Start(t, origin, keyName, secret)
}

func client(p ...*primarytest.Primary) *Client {
	c := &Client{Zone: origin, Key: Key{Name: keyName, Algorithm: dns.HmacSHA256, Secret: secret}, Timeout: 2 * time.Second}
	for _, x := range p {
		c.Servers = append(c.Servers, x.Addr)
	}
	return c
}

var v1 = []string{
	"@ NS ns1.test.",
	"24.0.2.0.192.rpz-ip CNAME .",
	"32.1.2.0.192.rpz-ip CNAME rpz-passthru.",
	"24.0.7.6.5.rpz-ip CNAME rpz-drop.",
	"32.zz.e480.2a06.rpz-ip CNAME .",
	"evil.example CNAME .",
	"*.evil.example CNAME .",
}

// v2: one rpz-ip trigger gone, two added, a name added.
var v2 = append(primarytest.Minus(v1, []string{"24.0.7.6.5.rpz-ip CNAME rpz-drop."}),
	"16.0.0.10.46.rpz-ip CNAME .", "24.0.100.51.198.rpz-ip CNAME rpz-drop.", "new.example CNAME .")

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestAXFRThenIXFR(t *testing.T) {
	p := startPrimary(t)
	p.Set(10, v1...)
	ctx := context.Background()
	c := client(p)
	r, err := c.Fetch(ctx, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != Full || r.Zone.Serial != 10 || !slices.Equal(r.Zone.Sorted(), sorted(v1)) {
		t.Fatalf("AXFR: %s serial %d\n%v", r.Kind, r.Zone.Serial, r.Zone.Sorted())
	}
	held := r.Zone

	// Unchanged: the single SOA.
	r, err = c.Fetch(ctx, held, false)
	if err != nil || r.Kind != Unchanged || r.Zone != held {
		t.Fatalf("same serial: %v %v", r.Kind, err)
	}

	p.Set(11, v2...)
	r, err = c.Fetch(ctx, held, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != Delta || r.Zone.Serial != 11 || r.Deleted != 1 || r.Added != 3 || !slices.Equal(r.Zone.Sorted(), sorted(v2)) {
		t.Fatalf("IXFR: %s serial %d -%d +%d\n%v", r.Kind, r.Zone.Serial, r.Deleted, r.Added, r.Zone.Sorted())
	}
	if !slices.Equal(held.Sorted(), sorted(v1)) || held.Serial != 10 {
		t.Fatal("the IXFR changed the zone it started from")
	}

	// From a serial the primary no longer holds: the whole zone, in IXFR form.
	r, err = c.Fetch(ctx, zone.New(origin, 3), false)
	if err != nil || r.Kind != Full || !slices.Equal(r.Zone.Sorted(), sorted(v2)) {
		t.Fatalf("IXFR from an unknown serial: %v %v", r.Kind, err)
	}
	if got := strings.Join(p.Queries(), " "); got != "AXFR IXFR IXFR IXFR" {
		t.Errorf("queries %s", got)
	}
}

// TestBrokenTransfers: every kind of bad answer is an error, and the zone held is untouched.
func TestBrokenTransfers(t *testing.T) {
	for _, tc := range []struct {
		fault        string
		axfr         bool
		inconsistent bool
		want         string
	}{
		{"delete-missing", false, true, "deletes 32.9.9.9.9.rpz-ip CNAME ., which the zone does not hold"},
		{"add-present", false, true, "which the zone already holds"},
		{"wrong-from", false, true, "difference starts at serial 110, we hold 10"},
		{"truncate", false, true, ""},
		{"truncate", true, true, ""},
		{"closing-mismatch", true, true, "closing SOA"},
		{"closing-mismatch", false, true, ""},
		{"refuse", false, false, "server answered REFUSED"},
	} {
		t.Run(fmt.Sprintf("%s axfr=%v", tc.fault, tc.axfr), func(t *testing.T) {
			p := startPrimary(t)
			p.Set(10, v1...)
			held, err := client(p).Fetch(context.Background(), nil, false)
			if err != nil {
				t.Fatal(err)
			}
			before := held.Zone.Sorted()
			p.Set(11, v2...)
			p.SetFault(tc.fault)
			r, err := client(p).Fetch(context.Background(), held.Zone, tc.axfr)
			if err == nil {
				t.Fatalf("accepted: %s serial %d", r.Kind, r.Zone.Serial)
			}
			var te *Error
			if !errors.As(err, &te) || te.Inconsistent != tc.inconsistent {
				t.Errorf("error %v: inconsistent %v, want %v", err, te != nil && te.Inconsistent, tc.inconsistent)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			if r.Zone != nil || !slices.Equal(held.Zone.Sorted(), before) || held.Zone.Serial != 10 {
				t.Error("the held zone changed")
			}
		})
	}
}

func TestBadKeyAndFailover(t *testing.T) {
	p := startPrimary(t)
	p.Set(10, v1...)
	c := client(p)
	c.Key.Secret = wrong
	_, err := c.Fetch(context.Background(), nil, false)
	if err == nil || !strings.Contains(err.Error(), "TSIG") {
		t.Fatalf("wrong secret: %v", err)
	}
	c = client(p)
	c.Key.Name = "other.key."
	if _, err := c.Fetch(context.Background(), nil, false); err == nil {
		t.Fatal("unknown key accepted")
	}

	// Failover: a closed port, then a refusing primary, then a good one.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	bad := startPrimary(t)
	bad.Set(10, v1...)
	bad.SetFault("refuse")
	c = client(bad, p)
	c.Servers = append([]string{deadAddr}, c.Servers...)
	r, err := c.Fetch(context.Background(), nil, false)
	if r.Zone == nil || r.Server != p.Addr {
		t.Fatalf("failover: %v from %s", err, r.Server)
	}
	if err == nil || !strings.Contains(err.Error(), deadAddr) || !strings.Contains(err.Error(), "REFUSED") {
		t.Errorf("the failed servers are not reported: %v", err)
	}
	// All down.
	c.Servers = []string{deadAddr}
	if _, err := c.Fetch(context.Background(), nil, false); err == nil {
		t.Fatal("no server, no error")
	}
}

func TestServerBehind(t *testing.T) {
	p := startPrimary(t)
	p.Set(10, v1...)
	_, err := client(p).Fetch(context.Background(), zone.New(origin, 20), false)
	if err == nil || !strings.Contains(err.Error(), "older") {
		t.Fatalf("a server behind us: %v", err)
	}
}

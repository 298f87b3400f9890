package zone

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestParseIPTrigger(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" for an error
	}{
		{"24.0.2.0.192", "192.0.2.0/24"},
		{"32.1.0.19.1", "1.19.0.1/32"},
		{"20.0.16.10.1", "1.10.16.0/20"},
		{"8.0.0.0.10", "10.0.0.0/8"},
		{"128.1.zz.db8.2001", "2001:db8::1/128"},
		{"32.zz.e480.2a06", "2a06:e480::/32"},
		{"128.1.zz.4001.1450.2a00", "2a00:1450:4001::1/128"},
		{"128.9001.zz.908.1.470.2001", "2001:470:1:908::9001/128"},
		{"64.zz.1.db8.2001", "2001:db8:1::/64"},
		{"48.zz.DB8.2001", "2001:db8::/48"},
		{"128.8.7.6.5.4.3.2.1", "1:2:3:4:5:6:7:8/128"},
		{"128.zz", "::/128"},
		{"128.1.zz", "::1/128"},
		{"16.zz.2001", "2001::/16"},
		{"1.0.0.0.0", "0.0.0.0/1"},
		// errors
		{"24.0.2.0", ""},              // three octets
		{"24.0.2.0.256", ""},          // octet range
		{"24.1.2.0.192", ""},          // host bits
		{"33.0.2.0.192", ""},          // length
		{"0.0.0.0.0", ""},             // /0 has no trigger
		{"024.0.2.0.192", ""},         // leading zero
		{"24.0.2.00.192", ""},         // leading zero octet
		{"x.0.2.0.192", ""},           // length not a number
		{"128.1.zz.zz.2001", ""},      // zz twice
		{"128.1.2.3.4.5.6.7", ""},     // seven groups
		{"128.1.2.3.4.5.6.7.8.9", ""}, // nine
		{"128.12345.zz", ""},          // group too long
		{"128.g.zz", ""},              // not hex
		{"129.1.zz", ""},              // length over 128
		{"24", ""},
		{"", ""},
	} {
		p, err := ParseIPTrigger(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q: got %s, want an error", tc.in, p)
		case tc.want != "" && err != nil:
			t.Errorf("%q: %v, want %s", tc.in, err, tc.want)
		case tc.want != "" && p.String() != tc.want:
			t.Errorf("%q: got %s, want %s", tc.in, p, tc.want)
		}
	}
}

func TestFormatIPTrigger(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.0/24":             "24.0.2.0.192",
		"2001:db8::1/128":          "128.1.zz.db8.2001",
		"2a06:e480::/32":           "32.zz.e480.2a06",
		"2001:db8:0:1:0:0:0:1/128": "128.1.zz.1.0.db8.2001",
		"1:0:0:2:0:0:0:3/128":      "128.3.zz.2.0.0.1",    // the longer run
		"1:0:0:2:0:0:3:4/128":      "128.4.3.0.0.2.zz.1",  // equal runs: the first
		"1:2:3:4:5:6:0:8/128":      "128.8.0.6.5.4.3.2.1", // one zero group: no zz
	} {
		if got := FormatIPTrigger(netip.MustParsePrefix(in)); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// FuzzParseIPTrigger: the decoder never panics, what it accepts is a valid masked prefix whose canonical
// form decodes to the same prefix, and every canonical form is accepted.
func FuzzParseIPTrigger(f *testing.F) {
	for _, s := range []string{"24.0.2.0.192", "128.1.zz.db8.2001", "32.zz.e480.2a06", "128.zz", "1.2.3", "128.8.7.6.5.4.3.2.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseIPTrigger(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p.Masked() != p || p.Bits() < 1 {
			t.Fatalf("%q: accepted %v", s, p)
		}
		canon := FormatIPTrigger(p)
		q, err := ParseIPTrigger(canon)
		if err != nil || q != p {
			t.Fatalf("%q -> %s -> %q -> %v, %v", s, p, canon, q, err)
		}
	})
}

func rr(t *testing.T, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestContent(t *testing.T) {
	const origin = "demo.rpz.threatstop.test."
	z := New(origin, 7)
	for _, s := range []string{
		"demo.rpz.threatstop.test. 300 IN NS ns1.threatstop.test.",
		"20.0.16.10.1.rpz-ip.demo.rpz.threatstop.test. 300 IN CNAME .",
		"32.1.0.19.1.rpz-ip.demo.rpz.threatstop.test. 300 IN CNAME rpz-passthru.",
		"24.0.7.6.5.rpz-ip.demo.rpz.threatstop.test. 300 IN CNAME rpz-drop.",
		"24.0.8.6.5.rpz-ip.demo.rpz.threatstop.test. 300 IN CNAME *.",
		"24.0.9.6.5.rpz-ip.demo.rpz.threatstop.test. 300 IN A 192.0.2.80",
		"24.0.9.6.5.rpz-ip.demo.rpz.threatstop.test. 300 IN AAAA 2001:db8::80",
		"24.0.10.6.5.rpz-ip.demo.rpz.threatstop.test. 300 IN CNAME rpz-tcp-only.",
		"32.zz.e480.2a06.rpz-ip.demo.rpz.threatstop.test. 300 IN CNAME .",
		"Evil.Example.demo.rpz.threatstop.test. 300 IN CNAME .",
		"*.fake.example.org.demo.rpz.threatstop.test. 300 IN CNAME *.",
		"good.example.demo.rpz.threatstop.test. 300 IN CNAME rpz-passthru.",
		"32.1.2.0.10.rpz-client-ip.demo.rpz.threatstop.test. 300 IN CNAME .",
		"ns.evil.rpz-nsdname.demo.rpz.threatstop.test. 300 IN CNAME .",
		"24.1.2.0.10.rpz-ip.demo.rpz.threatstop.test. 300 IN CNAME .", // host bits: bad
	} {
		r, err := FromRR(rr(t, s), origin)
		if err != nil {
			t.Fatal(err)
		}
		z.Records[r] = struct{}{}
	}
	if _, err := FromRR(rr(t, "x.other.test. 300 IN CNAME ."), origin); err == nil {
		t.Error("a record outside the zone was taken")
	}
	c := z.Content()
	var ips []string
	for _, t := range c.IP {
		ips = append(ips, t.Prefix.String()+" "+t.Action.String())
	}
	want := "1.10.16.0/20 nxdomain|1.19.0.1/32 passthru|5.6.7.0/24 drop|5.6.8.0/24 nodata|5.6.9.0/24 redirect|5.6.10.0/24 tcp-only|2a06:e480::/32 nxdomain"
	if got := strings.Join(ips, "|"); got != want {
		t.Errorf("IP triggers\n got %s\nwant %s", got, want)
	}
	var names []string
	for _, n := range c.Names {
		names = append(names, n.Name+" "+n.Action.String())
	}
	if got, want := strings.Join(names, "|"), "*.fake.example.org nodata|evil.example nxdomain|good.example passthru"; got != want {
		t.Errorf("names\n got %s\nwant %s", got, want)
	}
	if c.Ignored["rpz-client-ip"] != 1 || c.Ignored["rpz-nsdname"] != 1 || c.Bad != 1 {
		t.Errorf("ignored %v, bad %d %v", c.Ignored, c.Bad, c.BadFirst)
	}
}

func TestRecordString(t *testing.T) {
	r, err := FromRR(rr(t, "24.0.7.6.5.rpz-ip.z.test. 300 IN CNAME RPZ-DROP."), "z.test.")
	if err != nil {
		t.Fatal(err)
	}
	if s := r.String(); s != "24.0.7.6.5.rpz-ip CNAME rpz-drop." {
		t.Errorf("String %q", s)
	}
	back, err := ParseRecord(r.String())
	if err != nil || back != r {
		t.Errorf("ParseRecord: %v %v", back, err)
	}
}

// benchZone is a zone of n rpz-ip triggers.
func benchZone(n int) *Zone {
	z := New("p.rpz.test.", 1)
	for i := range n {
		z.Records[Record{Owner: "32." + strconv.Itoa(i&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i>>16&255) + ".11.rpz-ip", Type: dns.TypeCNAME, Data: "."}] = struct{}{}
	}
	return z
}

func itoa(i int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+i/100)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10)))
}

// BenchmarkContent: decoding 1M rpz-ip records into triggers.
func BenchmarkContent(b *testing.B) {
	z := benchZone(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if c := z.Content(); c.Bad != 0 || len(c.IP) != len(z.Records) {
			b.Fatalf("%d bad, %d triggers", c.Bad, len(c.IP))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(z.Records)), "ns/record")
}

// BenchmarkFromRR: one transferred record into the zone's form.
func BenchmarkFromRR(b *testing.B) {
	r, _ := dns.NewRR("32.4.3.2.1.rpz-ip.p.rpz.test. 300 IN CNAME .")
	b.ReportAllocs()
	for b.Loop() {
		_, _ = FromRR(r, "p.rpz.test.")
	}
}

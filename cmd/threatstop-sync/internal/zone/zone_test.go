package zone

import (
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

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

package threatstop

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
)

const testConfigZone = "config.threatstop.test."

var testCatalog = policy.Catalog{{Name: "drop", Category: "spam"}, {Name: "c2", Category: "botnet"}, {Name: "tor", Category: "tor"}}

// zoneBody is records as source.AXFR hands a zone to its reader: $ORIGIN, the SOA, one record a line.
func zoneBody(recs []confRec, extra ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n%s 0 IN SOA ns1.threatstop.test. hostmaster.threatstop.test. 7 3600 600 86400 60\n", testConfigZone, testConfigZone)
	all := append([]confRec{{"version", []string{configVersion}}}, recs...)
	for _, r := range all {
		rr := &dns.TXT{Hdr: dns.RR_Header{Name: r.owner + "." + testConfigZone, Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: r.txt}
		b.WriteString(rr.String() + "\n")
	}
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	return []byte(b.String())
}

// TestConfigRoundTrip: a definition rendered as the zone's records reads back as the same definition,
// whatever the order of its entries; so the edge serves what the aggregator does.
func TestConfigRoundTrip(t *testing.T) {
	cfgs := []policy.Config{
		{Name: "demo", Block: []int{1, 0}, Allow: []int{2}, Blocked: []string{"evil.example", "192.0.2.0/28", "*.phish.example", "2001:db8::/32"},
			Allowed: []string{"5.188.10.1"}, Answers: map[string]string{"spam": "127.0.0.4", "default": "127.0.0.2"},
			Actions: map[string]policy.Action{"botnet": {Kind: policy.Drop}, policy.CustomList: {Kind: policy.Redirect, Redirect: nil}}},
		{Name: "bare"},
	}
	cfgs[0].Actions[policy.CustomList] = mustAction(t, "redirect", "192.0.2.80", "2001:db8::80")
	var recs []confRec
	for i := range cfgs {
		recs = append(recs, configRecords(&cfgs[i], testCatalog)...)
	}
	defs, err := parseConfigZone(zoneBody(recs), testConfigZone)
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) != 2 {
		t.Fatalf("%d definitions, want 2", len(defs))
	}
	for i := range cfgs {
		got, missing := defs[cfgs[i].Name].config(cfgs[i].Name, testCatalog)
		if len(missing) > 0 {
			t.Errorf("%s: missing %v", cfgs[i].Name, missing)
		}
		if !sameConfig(&got, &cfgs[i], testCatalog) {
			t.Errorf("%s: read back as %+v", cfgs[i].Name, got)
		}
		if _, err := policy.New(got, testCatalog); err != nil {
			t.Errorf("%s: %v", cfgs[i].Name, err)
		}
	}
	// Over an edge's catalog of other IDs and without tor, the lists go by name.
	edgeCat := policy.Catalog{{Name: "c2", Category: "botnet"}, {Name: "drop", Category: "spam"}}
	got, missing := defs["demo"].config("demo", edgeCat)
	if !slices.Equal(missing, []string{"tor"}) || !slices.Equal(got.Block, []int{1, 0}) && !slices.Equal(got.Block, []int{0, 1}) {
		t.Errorf("over the edge's catalog: block %v, missing %v", got.Block, missing)
	}
}

func mustAction(t *testing.T, args ...string) policy.Action {
	a, err := policy.ParseAction(args)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestConfigZoneErrors: a zone that does not read fails whole, naming what; records of a later layout
// that this version does not know are left alone.
func TestConfigZoneErrors(t *testing.T) {
	ok := []confRec{{"demo.policies", []string{"lists", "drop"}}}
	for _, c := range []struct {
		body []byte
		want string
	}{
		{zoneBody(append(ok, confRec{"block.demo.policies", []string{"not an entry!"}})), "block.demo.policies"},
		{zoneBody(append(ok, confRec{"block.demo.policies", []string{"a.example", "b.example"}})), "one entry a record"},
		{zoneBody(append(ok, confRec{"demo.policies", []string{"answer", "spam", "10.0.0.1"}})), "demo.policies"},
		{zoneBody(append(ok, confRec{"demo.policies", []string{"answer", "spam"}})), "answer needs"},
		{zoneBody(append(ok, confRec{"demo.policies", []string{"action", "spam", "explode"}})), "demo.policies"},
		{zoneBody(append(ok, confRec{"Bad_Name.policies", []string{"lists"}})), "not a policy name"},
		{zoneBody(append(ok, confRec{"rpz.policies", []string{"lists"}})), "not a policy name"},
		{zoneBody(ok, `version.config.threatstop.test. 0 IN TXT "2"`), "layout version"},
		{[]byte("$ORIGIN " + testConfigZone + "\ndemo.policies 0 IN TXT \"lists\"\n"), "layout version"},
		{zoneBody(ok, `demo.policies.other.zone. 0 IN TXT "lists"`), "outside the zone"},
		{zoneBody(ok, `demo.policies 0 IN TXT "unterminated`), "bad TXT"},
	} {
		_, err := parseConfigZone(c.body, testConfigZone)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error with %q", c.body, err, c.want)
		}
	}
	defs, err := parseConfigZone(zoneBody(append(ok, confRec{"demo.policies", []string{"schedule", "nightly"}},
		confRec{"x.y.demo.policies", []string{"later"}}, confRec{"feeds", []string{"later"}})), testConfigZone)
	if err != nil || len(defs) != 1 || !slices.Equal(defs["demo"].lists, []string{"drop"}) {
		t.Errorf("later layout records: %v %+v", err, defs)
	}
}

// FuzzConfigZone: any zone body either fails to read or reads as definitions every one of which builds
// a policy over the catalog; nothing panics.
func FuzzConfigZone(f *testing.F) {
	cfg := policy.Config{Name: "demo", Block: []int{0}, Blocked: []string{"192.0.2.1", "evil.example"}, Allowed: []string{"*.ok.example"},
		Answers: map[string]string{"spam": "127.0.0.4"}, Actions: map[string]policy.Action{"spam": {Kind: policy.NoData}}}
	f.Add(zoneBody(configRecords(&cfg, testCatalog)))
	f.Add(zoneBody(nil))
	f.Add([]byte("$ORIGIN " + testConfigZone + "\nversion 0 IN TXT \"1\"\nx.policies 0 IN TXT \"action\" \"c\" \"redirect\" \"::1\"\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		defs, err := parseConfigZone(body, testConfigZone)
		if err != nil {
			return
		}
		for name, d := range defs {
			cfg, _ := d.config(name, testCatalog)
			if _, err := policy.New(cfg, testCatalog); err != nil {
				t.Fatalf("%s read, but does not build: %v", name, err)
			}
		}
	})
}

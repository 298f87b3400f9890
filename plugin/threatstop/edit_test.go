package threatstop_test

import (
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// TestEditLive: a policy edited while it is served (state.Store.Edit, what a management API calls)
// answers its new definition on the next query, over DNS: a new own block entry is listed with the custom
// answer and shows in the list pages, an allow entry unlists an address; only that policy's serial moves.
func TestEditLive(t *testing.T) {
	s, _ := start(t, "")
	st := state.FromInstance(s.Inst)
	if st == nil {
		t.Fatal("no state store in the instance")
	}
	const added = "7.100.51.198.demo.threatstop.local."
	if r := s.Query(t, added, dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Fatalf("before the edit: %s", dns.RcodeToString[r.Rcode])
	}
	demo0 := soaSerial(t, s.Query(t, "demo.threatstop.local.", dns.TypeSOA))
	tor0 := soaSerial(t, s.Query(t, "tor.threatstop.local.", dns.TypeSOA))

	edit := func(fn func(*policy.Config)) {
		t.Helper()
		if _, err := st.Edit(0, "demo", func(c *policy.Config) error { fn(c); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	edit(func(c *policy.Config) { c.Blocked = append(c.Blocked, "198.51.100.7") })
	r := s.Query(t, added, dns.TypeA)
	if got := answers(r); r.Rcode != dns.RcodeSuccess || !slices.Equal(got, []string{"127.0.0.10"}) {
		t.Errorf("after the edit: %s %v, want the custom answer 127.0.0.10", dns.RcodeToString[r.Rcode], got)
	}
	if got := answers(s.Query(t, added, dns.TypeTXT)); !slices.Equal(got, []string{"list=custom category=custom policy=demo"}) {
		t.Errorf("TXT after the edit: %q", got)
	}
	demo1 := soaSerial(t, s.Query(t, "demo.threatstop.local.", dns.TypeSOA))
	if int32(demo1-demo0) <= 0 {
		t.Errorf("demo's serial %d -> %d, want it moved on", demo0, demo1)
	}
	if tor1 := soaSerial(t, s.Query(t, "tor.threatstop.local.", dns.TypeSOA)); tor1 != tor0 {
		t.Errorf("tor's serial %d -> %d: an edit of demo moved it", tor0, tor1)
	}
	if !slices.Contains(allEntries(readPages(t, s, "demo")), "198.51.100.7/32") {
		t.Error("the list pages lack the edited entry")
	}

	// Allow wins: an allow entry for a DROP address unlists it; removing the block entry unlists the other.
	if r := s.Query(t, "9.10.188.5.demo.threatstop.local.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("5.188.10.9 not listed before: %s", dns.RcodeToString[r.Rcode])
	}
	edit(func(c *policy.Config) {
		c.Allowed = append(c.Allowed, "5.188.10.9")
		c.Blocked = slices.DeleteFunc(c.Blocked, func(e string) bool { return e == "198.51.100.7" })
	})
	for _, name := range []string{"9.10.188.5.demo.threatstop.local.", added} {
		if r := s.Query(t, name, dns.TypeA); r.Rcode != dns.RcodeNameError {
			t.Errorf("%s after allowing and removing: %s, want NXDOMAIN", name, dns.RcodeToString[r.Rcode])
		}
	}
	if tor2 := soaSerial(t, s.Query(t, "tor.threatstop.local.", dns.TypeSOA)); tor2 != tor0 {
		t.Errorf("tor's serial moved to %d", tor2)
	}
}

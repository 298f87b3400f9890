package threatlog

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/domain"
)

// FuzzParseIOC checks that an indicator is one kind or an error, in canonical form (an address
// unmapped and without zone, a prefix masked and shorter than an address, a name normalized), and that
// the canonical form reads back the same.
func FuzzParseIOC(f *testing.F) {
	for _, s := range []string{"1.10.16.5", " 1.10.16.0/20 ", "1.10.16.5/20", "1.2.3.4/32", "2001:db8::1", "2001:db8::/32",
		"::ffff:1.2.3.4", "::ffff:1.2.3.0/120", "::ffff:0:0/95", "fe80::1%eth0", "Evil.Example.", "*.evil.example",
		"bücher.example", "*.", "1.2.3.4/", "/24", "01.2.3.4", "-x.example", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, a, p, name, err := parseIOC(s)
		if err != nil {
			if kind != "" || name != "" {
				t.Fatalf("%q: an error (%v) with kind %q name %q", s, err, kind, name)
			}
			return
		}
		var canon string
		switch kind {
		case "address":
			if !a.IsValid() || a.Is4In6() || a.Zone() != "" || p != netip.PrefixFrom(a, a.BitLen()) || name != "" {
				t.Fatalf("%q: address %v %v %q", s, a, p, name)
			}
			canon = a.String()
		case "prefix":
			if !p.IsValid() || p != p.Masked() || p.Bits() >= p.Addr().BitLen() || p.Addr().Is4In6() || a != p.Addr() || name != "" {
				t.Fatalf("%q: prefix %v %v %q", s, a, p, name)
			}
			canon = p.String()
		case "name":
			if n, ok := domain.Normalize(name); !ok || n != name || name == "" {
				t.Fatalf("%q: name %q is not normalized", s, name)
			}
			canon = name
		default:
			t.Fatalf("%q: kind %q", s, kind)
		}
		kind2, a2, p2, name2, err := parseIOC(canon)
		if err != nil || kind2 != kind || a2 != a || p2 != p || name2 != name {
			t.Fatalf("%q is %s %v %v %q; its form %q reads %s %v %v %q %v", s, kind, a, p, name, canon, kind2, a2, p2, name2, err)
		}
	})
}

// FuzzDecodeIOC checks the labels in front of _check: they come back as written, or as the canonical
// form of an IPv6 address written with '-' for ':', which reads back the same when written that way.
func FuzzDecodeIOC(f *testing.F) {
	for _, s := range []string{"1.10.16.5", "2001-db8--1", "2001-DB8-0-0-0-0-0-1", "--1", "--", "-", "--ffff-102-304", "fe80--1%eth0",
		"evil.example", "a-b", "2001-db8--1.x", "1-2-3-4-5-6-7-8-9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, labels string) {
		out := decodeIOC(labels)
		if out == labels {
			return
		}
		a, err := netip.ParseAddr(out)
		if strings.Contains(labels, ".") || !strings.Contains(labels, "-") || err != nil || !a.Is6() || a.String() != out {
			t.Fatalf("%q decodes as %q, not an IPv6 address's canonical form", labels, out)
		}
		if strings.ContainsAny(out, ".%") {
			return // an IPv4 suffix or a zone: not a form with '-' only
		}
		if again := decodeIOC(strings.ReplaceAll(out, ":", "-")); again != out {
			t.Fatalf("%q decodes as %q, written back with '-' as %q", labels, out, again)
		}
	})
}

// FuzzPeriod checks the report parameters: a period given is one step kind, from before to, within the
// step limit, in UTC, and reads the same once written back in RFC 3339.
func FuzzPeriod(f *testing.F) {
	for _, c := range [][3]string{{"", "", ""}, {"2026-11-01", "2026-12-01", ""}, {"2026-11-01", "2026-11-02", "hour"},
		{"2026-11-01T10:00:00+05:30", "2026-11-01T12:00:00.5Z", "hour"}, {"0001-01-01", "9999-12-31", "day"},
		{"2026-12-01", "2026-11-01", ""}, {"2026-11-01", "", "week"}, {"2026-02-30", "", ""}, {"1e9", "", ""}} {
		f.Add(c[0], c[1], c[2])
	}
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	read := func(from, to, step string) (time.Time, time.Time, time.Duration, error) {
		q := url.Values{}
		for k, v := range map[string]string{"from": from, "to": to, "step": step} {
			if v != "" {
				q.Set(k, v)
			}
		}
		return period(&http.Request{URL: &url.URL{Path: "/report", RawQuery: q.Encode()}}, now)
	}
	f.Fuzz(func(t *testing.T, from, to, step string) {
		f0, t0, s0, err := read(from, to, step)
		if err != nil {
			if s0 != 0 {
				t.Fatalf("an error (%v) with a step %v", err, s0)
			}
			return
		}
		if s0 != time.Hour && s0 != 24*time.Hour || !f0.Before(t0) || t0.Sub(f0)/s0 > 10000 || f0.Location() != time.UTC || t0.Location() != time.UTC {
			t.Fatalf("from %q to %q step %q: %v to %v step %v", from, to, step, f0, t0, s0)
		}
		if step == "" && (s0 == time.Hour) != (t0.Sub(f0) <= 48*time.Hour) {
			t.Fatalf("from %v to %v: default step %v", f0, t0, s0)
		}
		name := map[time.Duration]string{time.Hour: "hour", 24 * time.Hour: "day"}[s0]
		f1, t1, s1, err := read(f0.Format(time.RFC3339Nano), t0.Format(time.RFC3339Nano), name)
		if err != nil || !f1.Equal(f0) || !t1.Equal(t0) || s1 != s0 {
			t.Fatalf("%v %v %v written back reads %v %v %v %v", f0, t0, s0, f1, t1, s1, err)
		}
	})
}

// FuzzAuthHead checks the credentials of a request against one device token and one TSIG key of policy
// demo: it is no credentials, bad ones, or exactly the token (with the policy as Basic user name, and the
// token's device if a device is named), or the key with a date within the skew.
func FuzzAuthHead(f *testing.F) {
	const tok, key = "7c0d0c4e1b9a4f0e8d1b2a3c", "demo.key."
	basic := func(user, pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	sec := strconv.FormatInt(now.Unix(), 10)
	for _, c := range [][4]string{
		{"Bearer " + tok, "", "", ""}, {"Bearer  " + tok + " ", "", "", "gw"}, {"Bearer " + tok, "", "", "other"},
		{basic("demo", tok), "", "", ""}, {basic("mail", tok), "", "", ""}, {basic("demo", tok+"x"), "", "", ""},
		{"", key, sec, "gw"}, {"", "DEMO.KEY", "+" + sec, ""}, {"", key, strconv.FormatInt(now.Unix()-301, 10), ""},
		{"", "other.key.", sec, ""}, {"bearer " + tok, "", "", ""}, {"Basic !!!", key, sec, ""}, {"", "", "", ""},
	} {
		f.Add(c[0], c[1], c[2], c[3])
	}
	tl := &Threatlog{skew: 5 * time.Minute, tokens: map[string]token{tok: {policy: "demo", device: "gw"}},
		keys: map[string]keyOf{key: {policy: "demo", secret: []byte("s")}}}
	defer SetClock(func() time.Time { return now })()
	f.Fuzz(func(t *testing.T, authorization, keyName, date, device string) {
		r := &http.Request{Header: http.Header{}}
		for k, v := range map[string]string{"Authorization": authorization, HeaderKey: keyName, HeaderDate: date, HeaderDevice: device} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		w, err := tl.authHead(r)
		presented, user, isBasic := bearer(r)
		switch {
		case errors.Is(err, errNoAuth):
			if presented != "" || keyName != "" || w != (who{}) {
				t.Fatalf("no credentials, with a token %q or key %q: %+v", presented, keyName, w)
			}
		case errors.Is(err, errBadAuth):
			if w != (who{}) {
				t.Fatalf("bad credentials yet %+v", w)
			}
		case err != nil:
			t.Fatalf("an error that is neither: %v", err)
		case w.policy != "demo":
			t.Fatalf("authenticated as %+v", w)
		case !w.hmac:
			if presented != tok || isBasic && user != "demo" || w.device != "gw" || device != "" && device != "gw" {
				t.Fatalf("token %q user %q device %q accepted as %+v", presented, user, device, w)
			}
		default:
			s, perr := strconv.ParseInt(date, 10, 64)
			if presented != "" || !strings.EqualFold(strings.TrimSuffix(keyName, "."), "demo.key") || perr != nil ||
				now.Sub(time.Unix(s, 0)).Abs() > 5*time.Minute || w.device != device {
				t.Fatalf("key %q date %q device %q accepted as %+v", keyName, date, device, w)
			}
		}
	})
}

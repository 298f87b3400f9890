package source

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fuzzRecord is record i (0 to 15) of a small universe, owner upper-case or TTL changed as b says: an
// IXFR deletion must match the record held whatever its owner's case and TTL.
func fuzzRecord(b byte) dns.RR {
	i := b & 0x0f
	owner := fmt.Sprintf("r%d.%s", i, testZone)
	if b&0x10 != 0 {
		owner = strings.ToUpper(owner)
	}
	ttl := uint32(60)
	if b&0x20 != 0 {
		ttl = 3600
	}
	return &dns.A{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
		A: []byte{192, 0, 2, i}}
}

// FuzzIXFRApply applies a primary's incremental answer, decoded from data (held records as a bit mask,
// the new serial, then per byte a SOA of serial b&0x3f when b&0x80, else a record), to a zone held at
// serial 1, and checks the result against RFC 1995 applied to a set: the same records, or an error
// exactly when a step starts from another serial, deletes a record not held, or the steps do not end
// at the new serial.
func FuzzIXFRApply(f *testing.F) {
	f.Add([]byte{0x03, 0x00, 2, 0x81, 0x00, 0x82, 0x02, 0x82})             // 1→2: delete r0, add r2
	f.Add([]byte{0x01, 0x00, 3, 0x81, 0x82, 0x05, 0x82, 0x30, 0x83, 0x83}) // 1→2→3, r0 deleted as R0 TTL 3600
	f.Add([]byte{0x01, 0x00, 2, 0x81, 0x01, 0x82, 0x82})                   // deletes r1, not held
	f.Add([]byte{0x00, 0x00, 2, 0x85, 0x82, 0x82})                         // a step from serial 5
	f.Add([]byte{0x00, 0x00, 2, 0x81, 0x82, 0x01})                         // no closing SOA
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 || len(data) > 64 {
			return
		}
		held := map[string]bool{}
		for i := range 16 {
			if (uint16(data[0])|uint16(data[1])<<8)&(1<<i) != 0 {
				held[line(fuzzRecord(byte(i)))] = true
			}
		}
		newSOA := soaRR(uint32(data[2] & 0x3f))
		rrs := []dns.RR{newSOA}
		for _, b := range data[3:] {
			if b&0x80 != 0 {
				rrs = append(rrs, soaRR(uint32(b&0x3f)))
			} else {
				rrs = append(rrs, fuzzRecord(b))
			}
		}
		a := &AXFR{Zone: testZone, soa: soaRR(1), records: slices.Sorted(maps.Keys(held))}
		before := slices.Clone(a.records)
		got, del, add, err := a.apply(rrs, newSOA)
		want, ok := applyModel(held, rrs, newSOA.Serial)
		if !slices.Equal(a.records, before) {
			t.Fatalf("apply changed the records held")
		}
		if (err == nil) != ok {
			t.Fatalf("apply: %v, the model says ok=%v", err, ok)
		}
		if err != nil {
			if got != nil || !errors.Is(err, errInconsistent) {
				t.Fatalf("an error (%v) with a result %q, or not errInconsistent", err, got)
			}
			return
		}
		if !slices.Equal(got, want) {
			t.Fatalf("apply:\n%q\nwant\n%q", got, want)
		}
		// The net change: exactly what was held and is gone, and what is new.
		var wantDel, wantAdd []string
		for _, l := range before {
			if !slices.Contains(got, l) {
				wantDel = append(wantDel, l)
			}
		}
		for _, l := range got {
			if !held[l] {
				wantAdd = append(wantAdd, l)
			}
		}
		if !slices.Equal(del, wantDel) || !slices.Equal(add, wantAdd) {
			t.Fatalf("the change: removed %q, added %q; want %q, %q", del, add, wantDel, wantAdd)
		}
	})
}

// applyModel is RFC 1995 §4 on a set: ok false when the answer does not apply.
func applyModel(held map[string]bool, rrs []dns.RR, newSerial uint32) ([]string, bool) {
	last, isSOA := rrs[len(rrs)-1].(*dns.SOA)
	if len(rrs) < 3 || !isSOA || last.Serial != newSerial {
		return nil, false
	}
	set := maps.Clone(held)
	serial, steps := uint32(1), 0
	body := rrs[1 : len(rrs)-1]
	for len(body) > 0 {
		old, ok := body[0].(*dns.SOA)
		if !ok || old.Serial != serial {
			return nil, false
		}
		body = body[1:]
		var del, add []string
		for len(body) > 0 {
			if _, ok := body[0].(*dns.SOA); ok {
				break
			}
			del, body = append(del, line(body[0])), body[1:]
		}
		if len(body) == 0 {
			return nil, false // no new SOA for the step
		}
		serial, body = body[0].(*dns.SOA).Serial, body[1:]
		for len(body) > 0 {
			if _, ok := body[0].(*dns.SOA); ok {
				break
			}
			add, body = append(add, line(body[0])), body[1:]
		}
		for _, d := range del {
			if !set[d] {
				return nil, false
			}
		}
		for _, d := range del {
			delete(set, d)
		}
		for _, r := range add {
			set[r] = true
		}
		steps++
	}
	if steps == 0 || serial != newSerial {
		return nil, false
	}
	return slices.Sorted(maps.Keys(set)), true
}

// FuzzAXFRZone reads data as a primary's answer to AXFR (any records, as miekg/dns unpacks them from
// the wire) and checks that a zone accepted holds exactly its records, in the zone, sorted and unique,
// and that the body handed to the rpz parser has one line per record, none of which can pass for a
// directive or another owner, and the records the rpz format reads (CNAME, A, AAAA, TXT) read back the
// same. (Not every type: miekg/dns writes some malformed records of others, a HIP without a key, in a
// form it cannot read back; the rpz format skips those types.)
func FuzzAXFRZone(f *testing.F) {
	for _, lines := range [][]string{
		{"a CNAME .", "32.1.2.0.192.rpz-ip CNAME rpz-drop.", "b 30 TXT \"x;y\" \"\\\"q\\\"\"", "c CNAME a"},
		{"A CNAME .", "a 99 CNAME ."},
		{"outside.example. CNAME ."},
		{"x MX 10 mx.example.", "x AAAA 2001:db8::1", "x CAA 0 issue \"ca.example\"", "y TYPE65280 \\# 2 abcd"},
	} {
		m := new(dns.Msg)
		m.Answer = append(append([]dns.RR{soaRR(7)}, rrs(f, lines...)...), soaRR(7))
		wire, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		m := new(dns.Msg)
		if m.Unpack(data) != nil {
			return
		}
		a := &AXFR{Zone: testZone}
		soa, records, err := a.wholeZone(m.Answer)
		if err != nil {
			if soa != nil || records != nil {
				t.Fatalf("an error (%v) with a result", err)
			}
			return
		}
		if len(records) > len(m.Answer)-2 || !slices.IsSorted(records) || len(slices.Compact(slices.Clone(records))) != len(records) {
			t.Fatalf("records not sorted, unique, at most the answer's: %q", records)
		}
		a.soa, a.records = soa, records
		body := strings.Split(strings.TrimSuffix(string(a.body()), "\n"), "\n")
		if len(body) != 2+len(records) || body[1] != line(soa) {
			t.Fatalf("body of %d lines, SOA %q, for %d records", len(body), body[1], len(records))
		}
		for i, l := range body[2:] {
			owner, _, _ := strings.Cut(l, "\t")
			if l != records[i] || !dns.IsSubDomain(testZone, owner) || owner == "" || owner[0] == '$' {
				t.Fatalf("body line %q for record %q", l, records[i])
			}
			switch f := strings.SplitN(l, "\t", 5); f[3] {
			case "CNAME", "A", "AAAA", "TXT":
				if f[4] == "" {
					break // no data (RDLENGTH 0): the rpz format skips it as it would any bad record
				}
				if rr, err := dns.NewRR(l); err != nil || line(rr) != l {
					t.Fatalf("%q reads back as %v, %v", l, rr, err)
				}
			}
		}
	})
}

// fuzzTransport answers every request with one response.
type fuzzTransport func(*http.Request) (*http.Response, error)

func (f fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzHTTPResponse makes one attempt against a server whose status, Content-Type, Retry-After, ETag and
// body the fuzzer chooses: a body is returned only for 200, never with an error; it is the body, or its
// gunzipped content when it starts with gzip's magic, within MaxSize and not an HTML page; an ETag is
// kept only when it could be sent back; a Retry-After is never negative.
func FuzzHTTPResponse(f *testing.F) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("192.0.2.1\n"))
	zw.Close()
	f.Add(200, "text/plain", "", `"v1"`, []byte("192.0.2.1\n"))
	f.Add(200, "", "", "", gz.Bytes())
	f.Add(200, "", "", "", gz.Bytes()[:12])
	f.Add(200, "text/html; charset=utf-8", "", "", []byte("x"))
	f.Add(200, "text/plain", "", "", []byte("\xef\xbb\xbf \r\n<!DOCTYPE HTML><p>portal"))
	f.Add(429, "", "120", "", []byte("slow down"))
	f.Add(503, "", "Wed, 21 Oct 2015 07:28:00 GMT", "", []byte(""))
	f.Add(200, "text/plain", "", "a\x00b", bytes.Repeat([]byte("x"), 80))
	f.Fuzz(func(t *testing.T, code int, ctype, retry, etag string, body []byte) {
		if code < 100 || code > 999 || code == http.StatusNotModified || len(body) > 1<<12 {
			return
		}
		const maxSize = 64
		h := &HTTP{URL: &url.URL{Scheme: "http", Host: "feed.example", Path: "/f"}, MaxSize: maxSize,
			Client: &http.Client{Transport: fuzzTransport(func(r *http.Request) (*http.Response, error) {
				hdr := http.Header{}
				for k, v := range map[string]string{"Content-Type": ctype, "Retry-After": retry, "ETag": etag} {
					if v != "" {
						hdr.Set(k, v)
					}
				}
				return &http.Response{StatusCode: code, Header: hdr, Body: io.NopCloser(bytes.NewReader(body)),
					ContentLength: int64(len(body)), Request: r}, nil
			})}}
		o := h.try(context.Background(), h.httpClient())
		if o.hasAfter && o.after < 0 {
			t.Fatalf("Retry-After %q: %v", retry, o.after)
		}
		if o.err != nil {
			if o.body != nil {
				t.Fatalf("an error (%v) with a body", o.err)
			}
			return
		}
		if code != http.StatusOK {
			t.Fatalf("status %d: a body and no error", code)
		}
		want := body
		if len(body) >= 2 && body[0] == 0x1f && body[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("a gzip body that does not decompress was returned: %v", err)
			}
			if want, err = io.ReadAll(zr); err != nil {
				t.Fatalf("a gzip body that does not decompress was returned: %v", err)
			}
		}
		if !bytes.Equal(o.body, want) || len(o.body) > maxSize || looksLikeHTML(o.body) {
			t.Fatalf("body %q, want %q (at most %d bytes, not HTML)", o.body, want, maxSize)
		}
		if got := h.Validators()[ValidatorETag]; got != etag && (got != "" || validHeaderValue(etag)) {
			t.Fatalf("ETag %q kept as %q", etag, got)
		}
	})
}

// FuzzRetryAfter checks that a Retry-After value is never a negative wait, and that one parsed reads
// the same once written back in the form the server should have used.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"120", " 0 ", "-1", "+5", "99999999999999999999", "9223372036", "Wed, 21 Oct 2015 07:28:00 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Fri, 31 Dec 9999 23:59:59 GMT", "soon"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := retryAfter(v, now)
		if !ok {
			if d != 0 {
				t.Fatalf("%q: not a Retry-After, yet %v", v, d)
			}
			return
		}
		if d < 0 {
			t.Fatalf("%q: %v", v, d)
		}
		if d%time.Second != 0 && d != time.Duration(1<<63-1) {
			t.Fatalf("%q: %v is not whole seconds", v, d)
		}
		if d < 1<<62 { // the largest are clamped
			again, ok := retryAfter(strconv.FormatInt(int64(d/time.Second), 10), now)
			if !ok || again != d {
				t.Fatalf("%q: %v, written back as seconds %v %v", v, d, again, ok)
			}
			if d > 0 && d < 100*365*24*time.Hour { // a date of four-digit years
				if again, ok := retryAfter(now.Add(d).Format(http.TimeFormat), now); !ok || again != d {
					t.Fatalf("%q: %v, written back as a date %v %v", v, d, again, ok)
				}
			}
		}
	})
}

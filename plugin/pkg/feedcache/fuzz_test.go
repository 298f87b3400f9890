package feedcache

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzParse reads a damaged or crafted cache file: a result comes only without an error, and what is
// read writes back into a file that reads the same (the body byte for byte, the metadata as JSON).
func FuzzParse(f *testing.F) {
	for _, c := range []struct {
		m    Meta
		body string
	}{
		{Meta{Feed: "f", Source: "http https://x/y", Format: "plain", Fetched: time.Unix(1700000000, 0).UTC(),
			Validators: map[string]string{"etag": `"abc"`}}, "192.0.2.1\nbad.example\n"},
		{Meta{Feed: "g"}, ""},
		{Meta{Feed: "h", Fetched: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))}, "\n\n\x00"},
	} {
		head, err := header(c.m, []byte(c.body))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append(head, c.body...))
	}
	f.Add([]byte(magic + " 00 0\n{}\n"))
	f.Add([]byte(magic + " e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 +0\n{\"validators\":{}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, body, err := parse(data)
		if err != nil {
			if body != nil || m.Feed != "" || m.Validators != nil {
				t.Fatalf("an error (%v) with a result", err)
			}
			return
		}
		head, err := header(m, body)
		if err != nil {
			t.Fatalf("read %+v but cannot write it back: %v", m, err)
		}
		m2, body2, err := parse(append(head, body...))
		if err != nil || !bytes.Equal(body2, body) || !sameJSON(t, m2, m) {
			t.Fatalf("written back, reads %+v %q %v; want %+v %q", m2, body2, err, m, body)
		}
	})
}

func sameJSON(t *testing.T, a, b Meta) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return bytes.Equal(ja, jb)
}

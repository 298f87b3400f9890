package threatlog

import (
	"strings"
	"testing"
)

// FuzzEDLHeaders: whatever Accept-Encoding and If-None-Match a device sends, the parsers neither panic
// nor match a tag the header does not hold: "*", or the exact quoted tag (weak or strong).
func FuzzEDLHeaders(f *testing.F) {
	f.Add("gzip, deflate;q=0.5", `"1796688560", W/"1796688560.gz"`, "1796688560")
	f.Add("gzip;q=0", `*`, "1")
	f.Add("", `"12-abcdef0123456789"`, "12-abcdef0123456789")
	f.Fuzz(func(t *testing.T, accept, inm, tag string) {
		acceptsGzip(accept)
		if noneMatch(inm, tag) && !strings.Contains(inm, "*") && !strings.Contains(inm, `"`+tag+`"`) {
			t.Fatalf("If-None-Match %q matched tag %q", inm, tag)
		}
		if strings.Contains(accept, "gzip;q=0,") && !strings.Contains(accept, "x-gzip") && !strings.Contains(accept, "*") &&
			strings.Count(accept, "gzip") == 1 && acceptsGzip(accept) {
			t.Fatalf("Accept-Encoding %q: gzip refused with q=0, yet taken", accept)
		}
	})
}

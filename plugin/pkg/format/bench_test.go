package format_test

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/format"
)

// syntheticPlain is a plain feed of n lines: 90% IPv4 addresses, 10% domain names, in random order.
func syntheticPlain(n int) string {
	r := rand.New(rand.NewPCG(7, 11))
	var b strings.Builder
	b.Grow(n * 16)
	for i := 0; i < n; i++ {
		if r.IntN(10) == 0 {
			b.WriteString("host")
			b.WriteString(strconv.Itoa(r.IntN(1 << 24)))
			b.WriteString(".example")
			b.WriteString(strconv.Itoa(r.IntN(100)))
			b.WriteString(".com\n")
			continue
		}
		v := r.Uint32()
		for k := 3; k >= 0; k-- {
			b.WriteString(strconv.Itoa(int(v >> (8 * k) & 0xff)))
			if k > 0 {
				b.WriteByte('.')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// benchParse measures one parse of data (Parse alone, and Parse then Builder.Set, which is what a feed
// update does), reporting bytes and lines per second.
func benchParse(b *testing.B, p format.Parser, data string) {
	lines := strings.Count(data, "\n")
	b.Run("parse", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var bld entryset.Builder
			var st format.Stats
			p.Parse(data, &bld, &st)
		}
		b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	})
	b.Run("parse+set", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var bld entryset.Builder
			var st format.Stats
			p.Parse(data, &bld, &st)
			bld.Set()
		}
		b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	})
}

func BenchmarkParseIpsum(b *testing.B) {
	benchParse(b, newParser(b, "ipsum", nil), readFeed(b, "ipsum.txt"))
}

func BenchmarkParseAdblockHagezi(b *testing.B) {
	benchParse(b, newParser(b, "adblock", nil), readFeed(b, "hagezi_tif.mini.adblock.txt"))
}

func BenchmarkParsePlainSynthetic1M(b *testing.B) {
	benchParse(b, newParser(b, "plain", nil), syntheticPlain(1_000_000))
}

// TestSyntheticPlain checks the benchmark's input: 1M lines, about 10% names, all of them valid entries.
func TestSyntheticPlain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 1M-line feed")
	}
	data := syntheticPlain(1_000_000)
	s, st, _ := run(newParser(t, "plain", nil), data)
	if st.Lines != 1_000_000 || st.Entries != 1_000_000 || st.Invalid != 0 {
		t.Fatalf("%+v", st)
	}
	if n := s.Names.Len(); n < 95_000 || n > 105_000 {
		t.Errorf("%d names, want about 100000", n)
	}
}

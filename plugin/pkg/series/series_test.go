package series

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestReplaceDeletesDropped(t *testing.T) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "x"}, []string{"policy", "result"})
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "y", Help: "y"}, []string{"policy"})
	o := New("policy", c, g)
	o.Replace([]string{"a", "b"})
	c.WithLabelValues("a", "listed").Inc()
	c.WithLabelValues("b", "listed").Inc()
	c.WithLabelValues("b", "clean").Inc()
	g.WithLabelValues("b").Set(1)
	o.Replace([]string{"a", "c"}) // b removed by a reload
	if n := testutil.CollectAndCount(c); n != 1 {
		t.Errorf("counter series after b was removed: %d, want 1 (a)", n)
	}
	if n := testutil.CollectAndCount(g); n != 0 {
		t.Errorf("gauge series after b was removed: %d, want 0", n)
	}
	if v := testutil.ToFloat64(c.WithLabelValues("a", "listed")); v != 1 {
		t.Errorf("a's counter %v after the reload, want 1 (kept)", v)
	}
}

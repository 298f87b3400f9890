package alert

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestDelivery: a 400 is not retried, a 503 is until Attempts; a key repeats only after its window.
func TestDelivery(t *testing.T) {
	FirstBackoff = time.Millisecond
	var n400, n503 atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/bad":
			n400.Add(1)
			w.WriteHeader(http.StatusBadRequest)
		default:
			n503.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	results := make(chan bool, 4)
	d := &Dispatcher{Now: func() time.Time { return now }, OnResult: func(_ string, ok bool) { results <- ok },
		Routes: map[string]*Route{"p": {Webhooks: []Webhook{{URL: srv.URL + "/bad", Secret: []byte("s")}, {URL: srv.URL + "/down", Secret: []byte("s")}},
			Windows: map[string]time.Duration{"hit": time.Hour}}}}
	d.Start()
	defer d.Stop()
	if !d.Fire(Alert{Policy: "p", Rule: "hit", Key: "k"}) {
		t.Fatal("first alert not queued")
	}
	if d.Fire(Alert{Policy: "p", Rule: "hit", Key: "k"}) {
		t.Error("the same key within its window queued again")
	}
	if d.Fire(Alert{Policy: "other", Rule: "hit", Key: "k"}) {
		t.Error("an alert of a policy without a route queued")
	}
	for range 2 {
		if ok := <-results; ok {
			t.Error("a failed delivery reported as done")
		}
	}
	if n400.Load() != 1 || n503.Load() != int32(Attempts) {
		t.Errorf("400 tried %d times (want 1), 503 %d times (want %d)", n400.Load(), n503.Load(), Attempts)
	}
	now = now.Add(time.Hour)
	if !d.Fire(Alert{Policy: "p", Rule: "hit", Key: "k"}) {
		t.Error("the same key after its window not queued")
	}
}

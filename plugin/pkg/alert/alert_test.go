package alert

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestDelivery: a 400 is not retried, a 503 is until Attempts; a key repeats only after its window.
func TestDelivery(t *testing.T) {
	defer func(b time.Duration) { FirstBackoff = b }(FirstBackoff)
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
	// A new Dispatcher over the same Memory (a reload) remembers what was sent.
	d2 := &Dispatcher{Now: d.Now, Memory: d.Memory, Routes: map[string]*Route{"p": {Windows: map[string]time.Duration{"hit": time.Hour}}}}
	d2.Start()
	if d2.Fire(Alert{Policy: "p", Rule: "hit", Key: "k"}) {
		t.Error("after a reload, the same key within its window queued again")
	}
	d2.Stop()
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

// TestSMTPHang: a relay that accepts and then says nothing neither holds up Stop nor other policies.
func TestSMTPHang(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent
		}
	}()
	got := make(chan string, 2)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.URL.Path }))
	defer hook.Close()
	d := &Dispatcher{SMTP: &SMTP{Addr: l.Addr().String(), From: "a@example.net"}, Routes: map[string]*Route{
		"mail": {Emails: []string{"soc@example.net"}, Windows: map[string]time.Duration{}},
		"hook": {Webhooks: []Webhook{{URL: hook.URL + "/hook", Secret: []byte("s")}}, Windows: map[string]time.Duration{}},
	}}
	d.Start()
	d.Fire(Alert{Policy: "mail", Rule: "hit", Key: "1"})
	d.Fire(Alert{Policy: "hook", Rule: "hit", Key: "1"})
	select {
	case p := <-got:
		if p != "/hook" {
			t.Errorf("webhook path %s", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a silent SMTP relay held up another policy's webhook")
	}
	done := make(chan struct{})
	go func() { d.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop waited for a silent SMTP relay")
	}
}

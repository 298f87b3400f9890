package httplisten

import (
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

type text string

func (t text) ServeHTTP(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, string(t)) }

func get(t *testing.T, c *http.Client, addr net.Addr) (int, string) {
	t.Helper()
	resp, err := c.Get("http://" + addr.String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// settled waits for the goroutine count to come down to at most want.
func settled(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 200 && n > want; i++ {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

func closed(addr net.Addr) bool {
	c, err := net.DialTimeout("tcp", addr.String(), time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// Twenty reloads: the new lease comes before the old one goes, on the same address; the handler served
// follows; after the last release the port is closed, and no goroutine is left over.
func TestReloadCyclesLeaveNothingBehind(t *testing.T) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		old, err := Acquire("test", "127.0.0.1:0", text("old"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		addr := old.Addr()
		if _, body := get(t, c, addr); body != "old" {
			t.Fatalf("cycle %d: %q, want old", i, body)
		}
		cur, err := Acquire("test", "127.0.0.1:0", text("new"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if cur.Addr().String() != addr.String() {
			t.Fatalf("cycle %d: second lease on %s, first on %s", i, cur.Addr(), addr)
		}
		if _, body := get(t, c, addr); body != "new" {
			t.Fatalf("cycle %d: %q after the new lease, want new", i, body)
		}
		old.Release()
		old.Release() // a second release does nothing
		if _, body := get(t, c, addr); body != "new" {
			t.Fatalf("cycle %d: %q after the old release, want new", i, body)
		}
		cur.Release()
		if !closed(addr) {
			t.Fatalf("cycle %d: %s still accepts after the last release", i, addr)
		}
	}
	c.CloseIdleConnections()
	if after := settled(before); after > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines: %d before, %d after 20 cycles\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
	mu.Lock()
	n := len(servers)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("%d servers left in the map", n)
	}
}

// Releasing the newest lease hands the address back to the one before it.
func TestReleaseNewestFallsBack(t *testing.T) {
	c := &http.Client{Timeout: 5 * time.Second}
	a, err := Acquire("test", "127.0.0.1:0", text("a"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	b, err := Acquire("test", "127.0.0.1:0", text("b"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	b.Release()
	if _, body := get(t, c, a.Addr()); body != "a" {
		t.Fatalf("%q, want a", body)
	}
	c.CloseIdleConnections()
}

// Two kinds on one address do not share a server: the second gets the listen error.
func TestKindsDoNotShare(t *testing.T) {
	a, err := Acquire("one", "127.0.0.1:0", text("a"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	b, err := Acquire("two", a.Addr().String(), text("b"), Options{})
	if err == nil {
		b.Release()
		t.Fatal("a second kind shares the address")
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Logf("listen error: %v", err)
	}
}

// The last release waits for a request in flight up to ShutdownTimeout, then closes its connection.
func TestReleaseBoundedByShutdownTimeout(t *testing.T) {
	started, stop := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	})
	l, err := Acquire("test", "127.0.0.1:0", h, Options{ShutdownTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + l.Addr().String() + "/")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	t0 := time.Now()
	l.Release()
	close(stop)
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("Release took %s", d)
	}
	if !closed(l.Addr()) {
		t.Fatal("still accepting")
	}
}

func TestOptionsDefaults(t *testing.T) {
	l, err := Acquire("test", "127.0.0.1:0", text("x"), Options{ReadTimeout: -1, WriteTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	s := l.s.srv
	if s.ReadHeaderTimeout != DefaultReadHeaderTimeout || s.ReadTimeout != 0 || s.WriteTimeout != 3*time.Second || s.IdleTimeout != DefaultIdleTimeout {
		t.Fatalf("%v %v %v %v", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
}

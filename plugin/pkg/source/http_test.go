package source

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCtx bounds every Fetch of a test.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fetchWithin runs Fetch and fails the test if it has not returned within d: a test of a wait that
// does not end must fail, not hang.
func fetchWithin(t *testing.T, d time.Duration, h *HTTP, ctx context.Context) ([]byte, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := h.Fetch(ctx)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-time.After(d):
		t.Fatalf("Fetch has not returned after %v", d)
		return nil, nil
	}
}

// newHTTP is a source for a test server with small durations: no retries unless a test sets them.
func newHTTP(t *testing.T, rawURL string) *HTTP {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return &HTTP{URL: u, Timeout: 2 * time.Second, ConnectTimeout: time.Second, Retries: -1, Backoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sleepOrGone waits d, or until the client has gone, so that servers close promptly.
func sleepOrGone(r *http.Request, d time.Duration) {
	select {
	case <-time.After(d):
	case <-r.Context().Done():
	}
}

const feedBody = "198.51.100.1\n203.0.113.0/24\n"

func TestHTTPFetch(t *testing.T) {
	var ua atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.Header.Get("User-Agent"))
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, feedBody)
	}))
	defer srv.Close()
	h := newHTTP(t, srv.URL+"/drop.txt")
	b, err := h.Fetch(testCtx(t))
	if err != nil || string(b) != feedBody {
		t.Fatalf("Fetch = %q, %v", b, err)
	}
	if ua.Load() != UserAgent {
		t.Errorf("User-Agent %q, want %q", ua.Load(), UserAgent)
	}
	if h.Validators() != nil {
		t.Errorf("Validators = %v, want none", h.Validators())
	}
	// No validators: the next fetch is a plain GET again and returns the body.
	if b, err := h.Fetch(testCtx(t)); err != nil || string(b) != feedBody {
		t.Fatalf("second Fetch = %q, %v", b, err)
	}
	if got, want := h.String(), "http "+srv.URL+"/drop.txt"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestHTTPTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, feedBody)
	}))
	defer srv.Close()
	h := newHTTP(t, srv.URL)
	h.Client = srv.Client()
	if b, err := h.Fetch(testCtx(t)); err != nil || string(b) != feedBody {
		t.Fatalf("Fetch = %q, %v", b, err)
	}
	// The built client does not trust the test certificate, and does not retry that.
	var n atomic.Int32
	srv2 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv2.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv2.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	srv2.StartTLS()
	defer srv2.Close()
	h = newHTTP(t, srv2.URL)
	h.Retries = 2
	if _, err := h.Fetch(testCtx(t)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Fetch with an untrusted certificate: %v", err)
	}
	if n.Load() != 1 {
		t.Errorf("%d connections, want 1 (no retry for a certificate)", n.Load())
	}
}

func TestHTTPETag(t *testing.T) {
	var inm atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inm.Store(r.Header.Get("If-None-Match"))
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, feedBody)
	}))
	defer srv.Close()
	h := newHTTP(t, srv.URL)
	if b, err := h.Fetch(testCtx(t)); err != nil || string(b) != feedBody {
		t.Fatalf("Fetch = %q, %v", b, err)
	}
	if inm.Load() != "" {
		t.Errorf("first request sent If-None-Match %q", inm.Load())
	}
	if b, err := h.Fetch(testCtx(t)); !errors.Is(err, ErrNotModified) || b != nil {
		t.Fatalf("second Fetch = %q, %v; want ErrNotModified", b, err)
	}
	if inm.Load() != `"v1"` {
		t.Errorf("second request sent If-None-Match %q", inm.Load())
	}
	if v := h.Validators(); len(v) != 1 || v[ValidatorETag] != `"v1"` {
		t.Errorf("Validators = %v", v)
	}
}

func TestHTTPLastModified(t *testing.T) {
	const lm = "Tue, 03 Feb 2026 10:00:00 GMT"
	var ims atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ims.Store(r.Header.Get("If-Modified-Since"))
		if r.Header.Get("If-None-Match") != "" {
			t.Errorf("If-None-Match %q sent without an ETag", r.Header.Get("If-None-Match"))
		}
		if r.Header.Get("If-Modified-Since") == lm {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Last-Modified", lm)
		io.WriteString(w, feedBody)
	}))
	defer srv.Close()
	h := newHTTP(t, srv.URL)
	if _, err := h.Fetch(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Fetch(testCtx(t)); !errors.Is(err, ErrNotModified) {
		t.Fatalf("second Fetch: %v; want ErrNotModified", err)
	}
	if ims.Load() != lm {
		t.Errorf("If-Modified-Since %q, want %q", ims.Load(), lm)
	}
}

func TestHTTPValidatorsRoundTrip(t *testing.T) {
	const lm = "Tue, 03 Feb 2026 10:00:00 GMT"
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("If-None-Match") == `W/"abc"` && r.Header.Get("If-Modified-Since") == lm {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `W/"abc"`)
		w.Header().Set("Last-Modified", lm)
		io.WriteString(w, feedBody)
	}))
	defer srv.Close()
	h := newHTTP(t, srv.URL)
	if _, err := h.Fetch(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	saved := h.Validators()
	if saved[ValidatorETag] != `W/"abc"` || saved[ValidatorLastModified] != lm {
		t.Fatalf("Validators = %v", saved)
	}
	// A new source, as after a restart: its first fetch is conditional.
	h2 := newHTTP(t, srv.URL)
	h2.SetValidators(saved)
	if _, err := h2.Fetch(testCtx(t)); !errors.Is(err, ErrNotModified) {
		t.Fatalf("first Fetch after SetValidators: %v; want ErrNotModified", err)
	}
	if requests.Load() != 2 {
		t.Errorf("%d requests, want 2", requests.Load())
	}
	// A damaged value is dropped rather than sent (it would fail every request).
	h3 := newHTTP(t, srv.URL)
	h3.SetValidators(map[string]string{ValidatorETag: "\"x\"\r\nX-Evil: 1", ValidatorLastModified: lm})
	if v := h3.Validators(); len(v) != 1 || v[ValidatorLastModified] != lm {
		t.Errorf("Validators after a damaged ETag = %v", v)
	}
	if b, err := h3.Fetch(testCtx(t)); err != nil || string(b) != feedBody {
		t.Errorf("Fetch after a damaged ETag = %q, %v", b, err)
	}
}

func TestHTTPUnconditional304(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotModified)
	}))
	defer srv.Close()
	_, err := newHTTP(t, srv.URL).Fetch(testCtx(t))
	if err == nil || errors.Is(err, ErrNotModified) || !strings.Contains(err.Error(), "304") {
		t.Fatalf("304 to an unconditional request: %v; want an error", err)
	}
}

func TestHTTPContentEncodingGzip(t *testing.T) {
	body := strings.Repeat(feedBody, 1000)
	zipped := gzipBytes(t, []byte(body))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			io.WriteString(w, body)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "text/plain")
		w.Write(zipped)
	}))
	defer srv.Close()
	h := newHTTP(t, srv.URL)
	h.MaxSize = int64(len(body)) // the limit applies to the decompressed body, which fits exactly
	b, err := h.Fetch(testCtx(t))
	if err != nil || string(b) != body {
		t.Fatalf("Fetch = %d bytes, %v; want %d bytes", len(b), err, len(body))
	}
}

func TestHTTPGzipFile(t *testing.T) {
	body := strings.Repeat(feedBody, 1000)
	zipped := gzipBytes(t, []byte(body))
	for _, ct := range []string{"application/gzip", "application/octet-stream", ""} {
		t.Run(ct, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ct)
				w.Write(zipped)
			}))
			defer srv.Close()
			b, err := newHTTP(t, srv.URL+"/drop.txt.gz").Fetch(testCtx(t))
			if err != nil || string(b) != body {
				t.Fatalf("Fetch = %d bytes, %v; want %d bytes", len(b), err, len(body))
			}
		})
	}
	// A gzip file served with Content-Encoding gzip as well: decompressed twice.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gzipBytes(t, zipped))
	}))
	defer srv.Close()
	if b, err := newHTTP(t, srv.URL).Fetch(testCtx(t)); err != nil || string(b) != body {
		t.Fatalf("doubly compressed Fetch = %d bytes, %v", len(b), err)
	}
}

func TestHTTPCorruptGzip(t *testing.T) {
	zipped := gzipBytes(t, []byte(strings.Repeat(feedBody, 100)))
	flipped := bytes.Clone(zipped)
	flipped[len(flipped)/2] ^= 0xff
	badCRC := bytes.Clone(zipped)
	badCRC[len(badCRC)-6] ^= 0xff // the CRC-32 in the trailer
	cases := []struct {
		name, encoding string
		body           []byte
	}{
		{"file flipped", "", flipped},
		{"file crc", "", badCRC},
		{"file cut", "", zipped[:len(zipped)/2]},
		{"file header only", "", zipped[:5]},
		{"encoding flipped", "gzip", flipped},
		{"encoding crc", "gzip", badCRC},
		{"encoding not gzip", "gzip", []byte("plain text, not gzip at all")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				if c.encoding != "" {
					w.Header().Set("Content-Encoding", c.encoding)
				}
				w.Write(c.body)
			}))
			defer srv.Close()
			h := newHTTP(t, srv.URL)
			h.Retries = 2
			b, err := h.Fetch(testCtx(t))
			if err == nil {
				t.Fatalf("Fetch = %d bytes, no error", len(b))
			}
			if !strings.Contains(err.Error(), "gzip") && !strings.Contains(err.Error(), "flate") {
				t.Errorf("error %q does not say gzip", err)
			}
			// A corrupt stream that arrived whole is the same on every attempt.
			if n.Load() != 1 {
				t.Errorf("%d attempts, want 1", n.Load())
			}
		})
	}
}

func TestHTTPSlowBody(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, feedBody)
		w.(http.Flusher).Flush()
		sleepOrGone(r, 5*time.Second)
	}))
	defer srv.Close()
	h := newHTTP(t, srv.URL)
	h.Timeout, h.Retries, h.Backoff = 200*time.Millisecond, 1, 10*time.Millisecond
	start := time.Now()
	_, err := h.Fetch(testCtx(t))
	elapsed := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "body not complete within 200ms") {
		t.Fatalf("Fetch: %v; want a timeout reading the body", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q does not wrap context.DeadlineExceeded", err)
	}
	if n.Load() != 2 {
		t.Errorf("%d attempts, want 2", n.Load())
	}
	if elapsed < 400*time.Millisecond || elapsed > 1500*time.Millisecond {
		t.Errorf("took %v; want about 2 × 200ms", elapsed)
	}
}

func TestHTTPSlowHeaders(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		sleepOrGone(r, 5*time.Second)
	}))
	defer srv.Close()
	h := newHTTP(t, srv.URL)
	h.Timeout, h.Retries, h.Backoff = 200*time.Millisecond, 1, 10*time.Millisecond
	start := time.Now()
	_, err := h.Fetch(testCtx(t))
	elapsed := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "no response within 200ms") {
		t.Fatalf("Fetch: %v; want a timeout waiting for the headers", err)
	}
	if n.Load() != 2 {
		t.Errorf("%d attempts, want 2", n.Load())
	}
	if elapsed < 400*time.Millisecond || elapsed > 1500*time.Millisecond {
		t.Errorf("took %v; want about 2 × 200ms", elapsed)
	}
}

var bomb = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for range 16 {
		zw.Write(zero)
	}
	zw.Close()
	return buf.Bytes() // 16 MiB of zeros in about 16 KiB
})

func TestHTTPTooLarge(t *testing.T) {
	const limit = 64 << 10
	const total = 64 << 20
	t.Run("plain", func(t *testing.T) {
		var written atomic.Int64
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			chunk := bytes.Repeat([]byte("192.0.2.1\n"), 1000)
			for written.Load() < total {
				m, err := w.Write(chunk)
				written.Add(int64(m))
				if err != nil {
					return
				}
			}
		}))
		h := newHTTP(t, srv.URL)
		h.MaxSize, h.Retries = limit, 2
		_, err := h.Fetch(testCtx(t))
		srv.Close() // waits for the handler, which stops when the client has gone
		if err == nil || !strings.Contains(err.Error(), "larger than the limit of 65536 bytes") {
			t.Fatalf("Fetch: %v; want the body over the limit", err)
		}
		if written.Load() >= total {
			t.Errorf("the server wrote all %d bytes", written.Load())
		}
		if n.Load() != 1 {
			t.Errorf("%d attempts, want 1", n.Load())
		}
	})
	t.Run("content-length", func(t *testing.T) {
		var written atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(total))
			chunk := bytes.Repeat([]byte("192.0.2.1\n"), 1000)
			for written.Load() < total {
				m, err := w.Write(chunk[:min(len(chunk), int(total-written.Load()))])
				written.Add(int64(m))
				if err != nil {
					return
				}
			}
		}))
		h := newHTTP(t, srv.URL)
		h.MaxSize = limit
		_, err := h.Fetch(testCtx(t))
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "more than the limit of 65536") {
			t.Fatalf("Fetch: %v; want Content-Length over the limit", err)
		}
		if written.Load() >= total {
			t.Errorf("the server wrote all %d bytes", written.Load())
		}
	})
	for _, encoding := range []string{"", "gzip"} {
		t.Run("bomb "+encoding, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if encoding != "" {
					w.Header().Set("Content-Encoding", encoding)
				}
				w.Header().Set("Content-Type", "application/gzip")
				w.Write(bomb())
			}))
			defer srv.Close()
			h := newHTTP(t, srv.URL)
			h.MaxSize = limit
			b, err := h.Fetch(testCtx(t))
			if err == nil || !strings.Contains(err.Error(), "decompressed body is larger than the limit of 65536 bytes") {
				t.Fatalf("Fetch = %d bytes, %v; want the decompressed body over the limit", len(b), err)
			}
		})
	}
	t.Run("at the limit", func(t *testing.T) {
		body := bytes.Repeat([]byte("x"), limit)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
		defer srv.Close()
		h := newHTTP(t, srv.URL)
		h.MaxSize = limit
		if b, err := h.Fetch(testCtx(t)); err != nil || len(b) != limit {
			t.Fatalf("Fetch = %d bytes, %v; want %d", len(b), err, limit)
		}
	})
}

// truncatingServer answers the first `bad` requests (all when bad < 0) with a body shorter than its
// Content-Length, by writing the response on the hijacked connection and closing it.
func truncatingServer(t *testing.T, bad int32, chunked bool) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := n.Add(1); bad >= 0 && k > bad {
			io.WriteString(w, feedBody)
			return
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		if chunked {
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n100\r\nonly part", len(feedBody), feedBody)
		} else {
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n%s", feedBody)
		}
		buf.Flush()
	}))
	return srv, &n
}

func TestHTTPTruncated(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			srv, n := truncatingServer(t, -1, chunked)
			defer srv.Close()
			h := newHTTP(t, srv.URL)
			h.Retries = 2
			b, err := h.Fetch(testCtx(t))
			if err == nil {
				t.Fatalf("Fetch = %q, no error", b)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "attempt 3 of 3") {
				t.Errorf("error %q; want io.ErrUnexpectedEOF after 3 attempts", err)
			}
			if n.Load() != 3 {
				t.Errorf("%d attempts, want 3", n.Load())
			}
		})
	}
	t.Run("recovers", func(t *testing.T) {
		srv, n := truncatingServer(t, 2, false)
		defer srv.Close()
		h := newHTTP(t, srv.URL)
		h.Retries = 3
		if b, err := h.Fetch(testCtx(t)); err != nil || string(b) != feedBody {
			t.Fatalf("Fetch = %q, %v", b, err)
		}
		if n.Load() != 3 {
			t.Errorf("%d attempts, want 3", n.Load())
		}
	})
}

func TestHTTPHTML(t *testing.T) {
	cases := []struct{ ct, body string }{
		{"text/html; charset=utf-8", feedBody},
		{"application/xhtml+xml", feedBody},
		{"text/plain", "\n  <!DOCTYPE html>\n<html><title>Log in to the hotel Wi-Fi</title>"},
		{"", "<HTML><body>error</body></HTML>"},
	}
	for _, c := range cases {
		t.Run(c.ct, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				w.Header()["Content-Type"] = []string{c.ct}
				io.WriteString(w, c.body)
			}))
			defer srv.Close()
			h := newHTTP(t, srv.URL)
			h.Retries = 2
			b, err := h.Fetch(testCtx(t))
			if err == nil || !strings.Contains(err.Error(), "an HTML page, not a feed") {
				t.Fatalf("Fetch = %q, %v; want an HTML error", b, err)
			}
			if n.Load() != 1 {
				t.Errorf("%d attempts, want 1", n.Load())
			}
			if h.Validators() != nil {
				t.Errorf("validators kept from a refused page: %v", h.Validators())
			}
		})
	}
}

func TestHTTPRetry5xx(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			http.Error(w, "oops", http.StatusInternalServerError)
		case 2:
			http.Error(w, "later", http.StatusBadGateway)
		default:
			io.WriteString(w, feedBody)
		}
	}))
	defer srv.Close()
	h := newHTTP(t, srv.URL)
	h.Retries, h.Backoff = 3, 10*time.Millisecond
	if b, err := h.Fetch(testCtx(t)); err != nil || string(b) != feedBody {
		t.Fatalf("Fetch = %q, %v", b, err)
	}
	if n.Load() != 3 {
		t.Errorf("%d attempts, want 3", n.Load())
	}

	// Always 500: every attempt is made, and the error names the status.
	n.Store(-100)
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv2.Close()
	h = newHTTP(t, srv2.URL+"/drop.txt")
	h.Retries = 2
	n.Store(0)
	_, err := h.Fetch(testCtx(t))
	want := "GET " + srv2.URL + "/drop.txt: 500 Internal Server Error (attempt 3 of 3)"
	if err == nil || err.Error() != want {
		t.Errorf("Fetch: %v; want %q", err, want)
	}
	if n.Load() != 3 {
		t.Errorf("%d attempts, want 3", n.Load())
	}
}

func TestHTTPDefaultRetries(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	h := newHTTP(t, srv.URL)
	h.Retries = 0 // the default, 3
	if _, err := h.Fetch(testCtx(t)); err == nil {
		t.Fatal("no error")
	}
	if n.Load() != 1+DefaultRetries {
		t.Errorf("%d attempts, want %d", n.Load(), 1+DefaultRetries)
	}
	n.Store(0)
	h.Retries = -1
	if _, err := h.Fetch(testCtx(t)); err == nil || strings.Contains(err.Error(), "attempt") {
		t.Fatalf("Fetch with no retries: %v", err)
	}
	if n.Load() != 1 {
		t.Errorf("%d attempts with Retries -1, want 1", n.Load())
	}
}

func TestHTTP404(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "no such\r\n\x1b[31mfeed\x00 here\xff"+strings.Repeat("A", 1000)+"END")
	}))
	defer srv.Close()
	h := newHTTP(t, srv.URL+"/missing.txt")
	h.Retries = 3
	_, err := h.Fetch(testCtx(t))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "GET "+srv.URL+"/missing.txt: 404 Not Found: \"no such [31mfeed here?AAA") {
		t.Errorf("error %q", msg)
	}
	if strings.Contains(msg, "END") || strings.Count(msg, "A") > 200 || strings.ContainsAny(msg, "\r\n\x1b\x00") {
		t.Errorf("error %q holds more than a sanitised excerpt", msg)
	}
	if n.Load() != 1 {
		t.Errorf("%d attempts, want 1 (no retry on 404)", n.Load())
	}
}

func TestHTTPRetryAfter(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, feedBody)
	}))
	defer srv.Close()
	h := newHTTP(t, srv.URL)
	h.Retries, h.Backoff, h.MaxBackoff = 1, time.Millisecond, 5*time.Second
	start := time.Now()
	if b, err := h.Fetch(testCtx(t)); err != nil || string(b) != feedBody {
		t.Fatalf("Fetch = %q, %v", b, err)
	}
	// The jittered backoff would be at most 1ms; Retry-After asks for 1s.
	if elapsed := time.Since(start); elapsed < time.Second || elapsed > 3*time.Second {
		t.Errorf("took %v; want about the 1s of Retry-After", elapsed)
	}
	if n.Load() != 2 {
		t.Errorf("%d attempts, want 2", n.Load())
	}
}

func TestHTTPRetryAfterTooLong(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	h := newHTTP(t, srv.URL)
	h.Retries = 3
	start := time.Now()
	_, err := h.Fetch(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "503 Service Unavailable") || !strings.Contains(err.Error(), "asks to wait 1h0m0s") {
		t.Fatalf("Fetch: %v", err)
	}
	if n.Load() != 1 || time.Since(start) > time.Second {
		t.Errorf("%d attempts in %v; want 1, promptly", n.Load(), time.Since(start))
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		v    string
		d    time.Duration
		okay bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{" 120 ", 2 * time.Minute, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"Tue, 03 Feb 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Tue, 03 Feb 2026 09:00:00 GMT", 0, true},
	} {
		if d, ok := retryAfter(c.v, now); d != c.d || ok != c.okay {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", c.v, d, ok, c.d, c.okay)
		}
	}
}

func TestHTTPHeaders(t *testing.T) {
	const key = "k3y-0f-the-api-5ecret"
	var gotKey, gotUA atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotKey.Store(r.Header.Get("X-Api-Key"))
		gotUA.Store(r.Header.Get("User-Agent"))
		// A server that echoes the key it refuses.
		http.Error(w, "invalid API key "+key, http.StatusForbidden)
	}))
	defer srv.Close()
	h := newHTTP(t, srv.URL)
	h.Header = http.Header{"x-api-key": {key}, "User-Agent": {"custom/2"}}
	_, err := h.Fetch(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "403 Forbidden") {
		t.Fatalf("Fetch: %v", err)
	}
	if gotKey.Load() != key {
		t.Errorf("X-Api-Key %q, want %q", gotKey.Load(), key)
	}
	if gotUA.Load() != "custom/2" {
		t.Errorf("User-Agent %q, want the configured one", gotUA.Load())
	}
	if strings.Contains(err.Error(), key) || strings.Contains(h.String(), key) {
		t.Errorf("the key shows: error %q, String %q", err, h.String())
	}
	if !strings.Contains(err.Error(), "invalid API key …") {
		t.Errorf("error %q lost the excerpt", err)
	}
}

func TestHTTPRedactedURL(t *testing.T) {
	const user, pass, key = "feeduser", "pa55word-xyz", "qk-123456789"
	var gotUser, gotPass, gotKey atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		gotUser.Store(u)
		gotPass.Store(p)
		gotKey.Store(r.URL.Query().Get("key"))
		http.Error(w, "bad request for "+r.URL.String()+" by "+u+":"+p, http.StatusInternalServerError)
	}))
	defer srv.Close()
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	raw := "http://" + user + ":" + pass + "@" + hostPort + "/feed.txt?key=" + key + "&format=plain"
	h := newHTTP(t, raw)
	h.Retries = 1
	_, err := h.Fetch(testCtx(t))
	if err == nil {
		t.Fatal("no error")
	}
	if gotUser.Load() != user || gotPass.Load() != pass || gotKey.Load() != key {
		t.Errorf("server saw %v:%v key %v", gotUser.Load(), gotPass.Load(), gotKey.Load())
	}
	redacted := "http://" + hostPort + "/feed.txt?…"
	if h.String() != "http "+redacted {
		t.Errorf("String = %q", h.String())
	}
	check := func(what, msg string) {
		t.Helper()
		for _, secret := range []string{pass, key, user + ":"} {
			if strings.Contains(msg, secret) {
				t.Errorf("%s %q shows %q", what, msg, secret)
			}
		}
	}
	check("error", err.Error())
	if !strings.HasPrefix(err.Error(), "GET "+redacted+": 500 Internal Server Error") {
		t.Errorf("error %q does not name the redacted URL", err)
	}

	// A network error: net/http's own error holds the whole URL.
	srv.Close()
	_, err = h.Fetch(testCtx(t))
	if err == nil {
		t.Fatal("no error from a closed server")
	}
	check("network error", err.Error())
	if !strings.HasPrefix(err.Error(), "GET "+redacted+": ") {
		t.Errorf("error %q does not name the redacted URL", err)
	}

	// An invalid scheme.
	u, _ := url.Parse("ftp://" + user + ":" + pass + "@example.com/x?key=" + key)
	h = &HTTP{URL: u}
	_, err = h.Fetch(testCtx(t))
	if err == nil {
		t.Fatal("no error for ftp")
	}
	check("scheme error", err.Error())
	check("String", h.String())
}

func TestHTTPRedirect(t *testing.T) {
	var otherKey atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherKey.Store(r.Header.Get("X-Api-Key"))
		io.WriteString(w, feedBody)
	}))
	defer other.Close()
	var sameKey atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "/here", http.StatusFound)
		case "/here":
			sameKey.Store(r.Header.Get("X-Api-Key"))
			io.WriteString(w, feedBody)
		case "/away":
			http.Redirect(w, r, other.URL+"/there", http.StatusFound)
		}
	}))
	defer srv.Close()

	h := newHTTP(t, srv.URL+"/moved")
	h.Header = http.Header{"X-Api-Key": {"secret-key"}}
	if b, err := h.Fetch(testCtx(t)); err != nil || string(b) != feedBody {
		t.Fatalf("same-host redirect: %q, %v", b, err)
	}
	if sameKey.Load() != "secret-key" {
		t.Errorf("same-host redirect lost the key: %q", sameKey.Load())
	}
	h = newHTTP(t, srv.URL+"/away")
	h.Header = http.Header{"X-Api-Key": {"secret-key"}}
	if b, err := h.Fetch(testCtx(t)); err != nil || string(b) != feedBody {
		t.Fatalf("cross-host redirect: %q, %v", b, err)
	}
	if otherKey.Load() != "" {
		t.Errorf("the key went to another host: %q", otherKey.Load())
	}

	// From https to http is refused.
	from, _ := http.NewRequest("GET", "https://feeds.example/a", nil)
	to, _ := http.NewRequest("GET", "http://feeds.example/b", nil)
	if err := h.checkRedirect(to, []*http.Request{from}); err == nil {
		t.Error("a redirect from https to http was allowed")
	}
}

func TestHTTPLimiter(t *testing.T) {
	var inFlight, peak, total atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := inFlight.Add(1)
		defer inFlight.Add(-1)
		total.Add(1)
		for {
			p := peak.Load()
			if k <= p || peak.CompareAndSwap(p, k) {
				break
			}
		}
		sleepOrGone(r, 30*time.Millisecond)
		io.WriteString(w, feedBody)
	}))
	defer srv.Close()
	limiter := make(chan struct{}, 2)
	var wg sync.WaitGroup
	ctx := testCtx(t)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := newHTTP(t, fmt.Sprintf("%s/feed%d", srv.URL, i))
			h.Limiter = limiter
			if _, err := h.Fetch(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if total.Load() != 8 {
		t.Errorf("%d requests, want 8", total.Load())
	}
	if peak.Load() != 2 {
		t.Errorf("at most %d requests at once, want 2", peak.Load())
	}
	if len(limiter) != 0 {
		t.Errorf("%d slots still held", len(limiter))
	}

	// Waiting for a slot gives up with the context.
	limiter <- struct{}{}
	limiter <- struct{}{}
	total.Store(0)
	h := newHTTP(t, srv.URL)
	h.Limiter = limiter
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := fetchWithin(t, 5*time.Second, h, short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Fetch with every slot held: %v; want context.DeadlineExceeded", err)
	}
	if time.Since(start) > time.Second || total.Load() != 0 {
		t.Errorf("took %v and made %d requests", time.Since(start), total.Load())
	}
}

func TestHTTPCancelBackoff(t *testing.T) {
	for _, retryAfter := range []string{"", "600"} {
		t.Run("Retry-After="+retryAfter, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				if retryAfter != "" {
					w.Header().Set("Retry-After", retryAfter)
				}
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			defer srv.Close()
			h := newHTTP(t, srv.URL)
			// A backoff of up to a year: the chance that the jittered sleep ends before the
			// cancellation is negligible.
			h.Retries, h.Backoff, h.MaxBackoff = 3, 365*24*time.Hour, 365*24*time.Hour
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			var wait time.Duration
			h.onBackoff = func(d time.Duration) {
				wait = d
				go cancel() // as the sleep begins
			}
			start := time.Now()
			_, err := fetchWithin(t, 5*time.Second, h, ctx)
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "503") {
				t.Errorf("Fetch: %v; want context.Canceled, naming the last error", err)
			}
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("took %v to notice the cancellation", elapsed)
			}
			if n.Load() != 1 {
				t.Errorf("%d attempts, want 1", n.Load())
			}
			if retryAfter == "600" && wait != 600*time.Second {
				t.Errorf("waited %v, want Retry-After's 10m0s", wait)
			}
		})
	}
}

func TestHTTPCancelRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sleepOrGone(r, 5*time.Second)
	}))
	defer srv.Close()
	h := newHTTP(t, srv.URL)
	h.Retries = 3
	ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := fetchWithin(t, 5*time.Second, h, ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Fetch: %v; want the context's deadline", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("took %v", elapsed)
	}
}

func TestHTTPBackoffBounds(t *testing.T) {
	h := &HTTP{Backoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for attempt, ceiling := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		ceiling *= time.Millisecond
		var top time.Duration
		for range 200 {
			d := h.backoff(attempt)
			if d < 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %v, outside [0, %v]", attempt, d, ceiling)
			}
			top = max(top, d)
		}
		if top < ceiling/2 {
			t.Errorf("backoff(%d) never above %v in 200 draws; want up to %v", attempt, top, ceiling)
		}
	}
	if d := h.backoff(1000); d < 0 || d > time.Second {
		t.Errorf("backoff(1000) = %v", d)
	}
	var zero HTTP
	if d := zero.backoff(0); d < 0 || d > DefaultBackoff {
		t.Errorf("default backoff(0) = %v", d)
	}
	if d := zero.backoff(20); d < 0 || d > DefaultMaxBackoff {
		t.Errorf("default backoff(20) = %v", d)
	}
}

// TestHTTPInterfaces uses an HTTP source the way package feed does: held as a Source, found to be a
// Revalidator by a type assertion (a method renamed or with another signature would only silently stop
// the cache from restoring validators), its validators saved after a fetch and restored into a new
// source, whose first fetch is then answered "not modified".
func TestHTTPInterfaces(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("If-None-Match") == `"v7"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v7"`)
		io.WriteString(w, feedBody)
	}))
	defer srv.Close()

	var s Source = newHTTP(t, srv.URL)
	r, ok := s.(Revalidator)
	if !ok {
		t.Fatalf("%T held as a Source is not a Revalidator", s)
	}
	if b, err := s.Fetch(testCtx(t)); err != nil || string(b) != feedBody {
		t.Fatalf("Fetch = %q, %v", b, err)
	}
	saved := r.Validators()
	if len(saved) != 1 || saved[ValidatorETag] != `"v7"` {
		t.Fatalf("Validators through the interface = %v", saved)
	}
	if got := s.String(); !strings.Contains(got, srv.Listener.Addr().String()) {
		t.Errorf("String() = %q, does not name the server", got)
	}

	var s2 Source = newHTTP(t, srv.URL) // as after a restart
	r2, ok := s2.(Revalidator)
	if !ok {
		t.Fatalf("%T held as a Source is not a Revalidator", s2)
	}
	r2.SetValidators(saved)
	if b, err := s2.Fetch(testCtx(t)); !errors.Is(err, ErrNotModified) || b != nil {
		t.Fatalf("first Fetch after restoring the validators = %q, %v; want ErrNotModified", b, err)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

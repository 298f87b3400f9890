package source

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/threatstop/threatstop/plugin/pkg/timeouts"
)

// Defaults of the HTTP source, used where a field is zero.
const (
	DefaultConnectTimeout = timeouts.FeedConnect
	DefaultTimeout        = timeouts.FeedFetch
	DefaultRetries        = 3
	DefaultBackoff        = 1 * time.Second
	DefaultMaxBackoff     = 30 * time.Second

	// UserAgent is sent unless the source's Header sets one.
	UserAgent = "threatstop/1 (+https://github.com/threatstop/threatstop)"

	// ValidatorETag and ValidatorLastModified are the keys of the map of HTTP.Validators.
	ValidatorETag         = "etag"
	ValidatorLastModified = "last-modified"
)

// excerptSize bounds the part of an error response's body that is quoted in the error.
const excerptSize = 200

// HTTP fetches a feed with GET over HTTP or HTTPS. It asks "changed since?" with the ETag and
// Last-Modified of the last body it returned, decompresses gzip (negotiated by the transport, or a .gz
// file served as is), refuses bodies over MaxSize, HTML pages and truncated bodies, and retries network
// errors, timeouts, 5xx and 429 with exponential backoff and full jitter.
//
// The exported fields are set before the first Fetch and never changed. The URL's user information and
// query string, and the values of Header, never appear in String or in errors.
type HTTP struct {
	URL    *url.URL
	Header http.Header // extra request headers, such as an API key

	MaxSize        int64         // bytes after decompression; 0 means DefaultMaxSize
	ConnectTimeout time.Duration // dial and TLS handshake; 0 means DefaultConnectTimeout
	Timeout        time.Duration // one whole attempt, headers and body; 0 means DefaultTimeout
	Retries        int           // further attempts after a failed one; 0 means DefaultRetries, -1 none
	Backoff        time.Duration // first backoff; 0 means DefaultBackoff
	MaxBackoff     time.Duration // 0 means DefaultMaxBackoff

	// Limiter, when not nil, is a semaphore shared by many sources: each attempt holds a slot (a value
	// sent into it) while it runs, so at most cap(Limiter) requests are under way at once.
	Limiter chan struct{}

	// Client, when not nil, is used instead of one built from ConnectTimeout. Its CheckRedirect then
	// governs redirects.
	Client *http.Client

	client *http.Client // built on first use when Client is nil

	onBackoff func(time.Duration) // tests: called as a backoff sleep begins

	mu           sync.Mutex // guards the validators, which Validators may read during a Fetch
	etag         string
	lastModified string
}

func (h *HTTP) String() string {
	if h.URL == nil {
		return "http (no URL)"
	}
	return "http " + Redact(h.URL)
}

// Validators implements Revalidator: the ETag and Last-Modified of the last body returned, under the
// keys ValidatorETag and ValidatorLastModified; nil when there are none.
func (h *HTTP) Validators() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.etag == "" && h.lastModified == "" {
		return nil
	}
	m := make(map[string]string, 2)
	if h.etag != "" {
		m[ValidatorETag] = h.etag
	}
	if h.lastModified != "" {
		m[ValidatorLastModified] = h.lastModified
	}
	return m
}

// SetValidators implements Revalidator. A value that could not be sent in a header (a control
// character, from a damaged cache) is dropped, so that it cannot make every later request fail.
func (h *HTTP) SetValidators(m map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.etag, h.lastModified = "", ""
	if v := m[ValidatorETag]; validHeaderValue(v) {
		h.etag = v
	}
	if v := m[ValidatorLastModified]; validHeaderValue(v) {
		h.lastModified = v
	}
}

func validHeaderValue(v string) bool {
	if v == "" || len(v) > 4096 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func (h *HTTP) maxSize() int64 {
	if h.MaxSize > 0 {
		return h.MaxSize
	}
	return DefaultMaxSize
}

func (h *HTTP) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return DefaultTimeout
}

func (h *HTTP) retries() int {
	switch {
	case h.Retries == 0:
		return DefaultRetries
	case h.Retries < 0:
		return 0
	}
	return h.Retries
}

func (h *HTTP) backoffs() (base, ceiling time.Duration) {
	base, ceiling = h.Backoff, h.MaxBackoff
	if base <= 0 {
		base = DefaultBackoff
	}
	if ceiling <= 0 {
		ceiling = DefaultMaxBackoff
	}
	return base, ceiling
}

// backoff returns the sleep before retry number attempt+1: uniformly random in
// [0, min(MaxBackoff, Backoff·2^attempt)].
func (h *HTTP) backoff(attempt int) time.Duration {
	base, ceiling := h.backoffs()
	d := ceiling
	if attempt < 63 && base <= ceiling>>uint(attempt) {
		d = base << uint(attempt)
	}
	if d <= 0 {
		return 0
	}
	if d == math.MaxInt64 {
		return time.Duration(rand.Int64N(int64(d)))
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

func (h *HTTP) httpClient() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	if h.client == nil {
		ct := h.ConnectTimeout
		if ct <= 0 {
			ct = DefaultConnectTimeout
		}
		dialer := &net.Dialer{Timeout: ct, KeepAlive: 30 * time.Second}
		h.client = &http.Client{
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				DialContext:           dialer.DialContext,
				TLSHandshakeTimeout:   ct,
				TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
				ForceAttemptHTTP2:     true,
				MaxIdleConns:          2,
				MaxIdleConnsPerHost:   2,
				IdleConnTimeout:       90 * time.Second,
				ExpectContinueTimeout: 1 * time.Second,
			},
			CheckRedirect: h.checkRedirect,
		}
	}
	return h.client
}

// checkRedirect follows at most 10 redirects, never from https to plain http, and does not send the
// configured headers (API keys) to another host. Go itself drops Authorization and Cookie there, but not
// a header such as X-Api-Key.
func (h *HTTP) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return errors.New("refusing a redirect from https to " + req.URL.Scheme)
	}
	if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
		for k := range h.Header {
			if k = http.CanonicalHeaderKey(k); k != "User-Agent" {
				req.Header.Del(k)
			}
		}
	}
	return nil
}

// Fetch implements Source.
func (h *HTTP) Fetch(ctx context.Context) ([]byte, error) {
	if h.URL == nil || (h.URL.Scheme != "http" && h.URL.Scheme != "https") || h.URL.Host == "" {
		return nil, h.errorf("%s: not an http or https URL", h)
	}
	client := h.httpClient()
	retries := h.retries()
	_, ceiling := h.backoffs()
	for attempt := 0; ; attempt++ {
		o := h.try(ctx, client)
		if o.err == nil || errors.Is(o.err, ErrNotModified) {
			return o.body, o.err
		}
		if ctx.Err() != nil {
			return nil, h.errorf("GET %s: %w", Redact(h.URL), context.Cause(ctx))
		}
		err := o.err
		if o.retry && o.hasAfter && o.after > ceiling {
			o.retry = false
			err = h.errorf("%w; the server asks to wait %v, longer than the maximum backoff of %v", err, o.after, ceiling)
		}
		if !o.retry || attempt >= retries {
			if attempt > 0 {
				err = h.errorf("%w (attempt %d of %d)", err, attempt+1, retries+1)
			}
			return nil, err
		}
		wait := h.backoff(attempt)
		if o.hasAfter {
			wait = o.after
		}
		if h.onBackoff != nil {
			h.onBackoff(wait)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, h.errorf("GET %s: %w while waiting to retry after: %v", Redact(h.URL), context.Cause(ctx), o.err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// outcome is the result of one attempt.
type outcome struct {
	body     []byte
	err      error
	retry    bool          // worth another attempt
	after    time.Duration // the server's Retry-After, when hasAfter
	hasAfter bool
}

// try makes one attempt, holding a slot of the Limiter and bounded by Timeout.
func (h *HTTP) try(ctx context.Context, client *http.Client) outcome {
	if h.Limiter != nil {
		select {
		case h.Limiter <- struct{}{}:
			defer func() { <-h.Limiter }()
		case <-ctx.Done():
			return outcome{err: ctx.Err()}
		}
	}
	name := Redact(h.URL)
	timeout := h.timeout()
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	timedOut := func() bool { return ctx.Err() == nil && actx.Err() != nil }

	req, err := http.NewRequestWithContext(actx, http.MethodGet, h.URL.String(), nil)
	if err != nil {
		return outcome{err: h.errorf("GET %s: cannot make a request", name)}
	}
	for k, vs := range h.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
		req.Header.Del("Host")
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", UserAgent)
	}
	h.mu.Lock()
	etag, lastModified := h.etag, h.lastModified
	h.mu.Unlock()
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lastModified != "" {
		req.Header.Set("If-Modified-Since", lastModified)
	}

	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message holds the whole URL
		}
		if timedOut() {
			return outcome{err: h.errorf("GET %s: no response within %v: %w", name, timeout, err), retry: true}
		}
		return outcome{err: h.errorf("GET %s: %w", name, err), retry: retryableRequestError(err)}
	}
	defer resp.Body.Close()
	status := statusText(resp.StatusCode)

	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		if etag == "" && lastModified == "" {
			return outcome{err: h.errorf("GET %s: %s to a request that was not conditional", name, status)}
		}
		return outcome{err: ErrNotModified}
	default:
		o := outcome{retry: resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			o.after, o.hasAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		if resp.StatusCode >= 400 {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, excerptSize))
			if e := h.scrub(sanitize(b)); e != "" {
				o.err = h.errorf("GET %s: %s: %q", name, status, e)
				return o
			}
		}
		o.err = h.errorf("GET %s: %s", name, status)
		return o
	}

	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && (mt == "text/html" || mt == "application/xhtml+xml") {
			return outcome{err: h.errorf("GET %s: an HTML page, not a feed: %s with Content-Type %s", name, status, mt)}
		}
	}

	limit := h.maxSize()
	body := &trackedReader{r: resp.Body}
	br := bufio.NewReader(body)
	magic, _ := br.Peek(2) // an error comes back from the reads below
	isGzip := len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	if !isGzip && resp.ContentLength > limit {
		return outcome{err: h.errorf("GET %s: the body has %d bytes, more than the limit of %d", name, resp.ContentLength, limit)}
	}
	var r io.Reader = br
	var zr *gzip.Reader
	if isGzip {
		zr, err = gzip.NewReader(br)
		if err == nil {
			r = zr
		}
	}
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(r, limit+1))
	}
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return outcome{err: ctx.Err()}
		case timedOut():
			return outcome{err: h.errorf("GET %s: body not complete within %v: %w", name, timeout, err), retry: true}
		case body.err != nil && !corruptGzip(body.err):
			// The connection failed or closed early (io.ErrUnexpectedEOF when the body is shorter
			// than its Content-Length or a chunk is cut short).
			return outcome{err: h.errorf("GET %s: reading the body: %w", name, err), retry: true}
		default:
			return outcome{err: h.errorf("GET %s: corrupt gzip: %w", name, err)}
		}
	}
	if int64(len(data)) > limit {
		what := "body"
		if isGzip || resp.Uncompressed {
			what = "decompressed body"
		}
		return outcome{err: h.errorf("GET %s: the %s is larger than the limit of %d bytes", name, what, limit)}
	}
	if looksLikeHTML(data) {
		return outcome{err: h.errorf("GET %s: an HTML page, not a feed: the body starts with an HTML tag", name)}
	}

	h.mu.Lock()
	h.etag, h.lastModified = "", ""
	if v := resp.Header.Get("ETag"); validHeaderValue(v) {
		h.etag = v
	}
	if v := resp.Header.Get("Last-Modified"); validHeaderValue(v) {
		h.lastModified = v
	}
	h.mu.Unlock()
	return outcome{body: data}
}

// trackedReader remembers the first error other than io.EOF of the reader it wraps, so that a failure
// of the connection can be told from a corrupt gzip stream above it.
type trackedReader struct {
	r   io.Reader
	err error
}

func (t *trackedReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// corruptGzip reports whether err is the transport's decompression (Content-Encoding gzip) finding a
// corrupt stream: not worth retrying.
func corruptGzip(err error) bool {
	var ce flate.CorruptInputError
	return errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.As(err, &ce)
}

// retryableRequestError reports whether an error from Client.Do is worth another attempt: network
// errors and timeouts are, a certificate that does not verify is not.
func retryableRequestError(err error) bool {
	var cv *tls.CertificateVerificationError
	return !errors.As(err, &cv)
}

// retryAfter parses a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		if s > int64(math.MaxInt64/time.Second) {
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// statusText names a status without the server's own reason phrase, which could say anything.
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// sanitize makes an excerpt of a body fit for one log line: valid UTF-8, printable characters only,
// runs of white space and control characters as one space.
func sanitize(b []byte) string {
	var sb strings.Builder
	space := false
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		if r == utf8.RuneError && n <= 1 {
			r = '?'
		}
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			space = sb.Len() > 0
			continue
		}
		if space {
			sb.WriteByte(' ')
			space = false
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// looksLikeHTML reports whether a body starts with an HTML document (a captive portal or an error page
// served as text/plain or with no Content-Type).
func looksLikeHTML(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) > 14 {
		b = b[:14]
	}
	l := bytes.ToLower(b)
	return bytes.HasPrefix(l, []byte("<!doctype html")) || bytes.HasPrefix(l, []byte("<html"))
}

// secrets lists what must never appear in an error: the URL as given, its query, user information and
// longer query values, and the values of the configured headers.
func (h *HTTP) secrets() []string {
	var s []string
	add := func(v string, min int) {
		if len(v) >= min {
			s = append(s, v)
			if e := url.QueryEscape(v); e != v {
				s = append(s, e)
			}
		}
	}
	if h.URL != nil {
		s = append(s, h.URL.String())
		add(h.URL.RawQuery, 1)
		if h.URL.User != nil {
			add(h.URL.User.String(), 1)
			add(h.URL.User.Username(), 4)
			if p, ok := h.URL.User.Password(); ok {
				add(p, 4)
			}
		}
		for _, vs := range h.URL.Query() {
			for _, v := range vs {
				add(v, 8)
			}
		}
	}
	for k, vs := range h.Header {
		if http.CanonicalHeaderKey(k) == "User-Agent" {
			continue
		}
		for _, v := range vs {
			add(v, 4)
		}
	}
	return s
}

// scrub replaces every secret in s.
func (h *HTTP) scrub(s string) string {
	for _, sec := range h.secrets() {
		if h.URL != nil && sec == h.URL.String() {
			s = strings.ReplaceAll(s, sec, Redact(h.URL))
		} else {
			s = strings.ReplaceAll(s, sec, "…")
		}
	}
	return s
}

// fetchError carries a scrubbed message and the error chain it was made from, so that errors.Is still
// finds ErrUnexpectedEOF or context.DeadlineExceeded.
type fetchError struct {
	msg string
	err error
}

func (e *fetchError) Error() string { return e.msg }
func (e *fetchError) Unwrap() error { return errors.Unwrap(e.err) }

func (h *HTTP) errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &fetchError{msg: h.scrub(err.Error()), err: err}
}

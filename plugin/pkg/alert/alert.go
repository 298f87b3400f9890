// Package alert delivers a customer's alerts: to webhooks (a JSON body signed with HMAC-SHA256, retried
// with backoff) and by email through an SMTP relay. A Dispatcher deduplicates (one alert per policy, rule
// and key within the rule's window) and rate-limits (at most Max alerts per policy an hour; the rest are
// counted, and the next alert that goes out says how many were held back). Delivery runs in the
// background: Fire never waits for a receiver.
package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/smtp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Alert is one event a customer is told of.
type Alert struct {
	Policy     string            `json:"policy"`
	Rule       string            `json:"rule"` // hit, infected, silent
	Key        string            `json:"key"`  // what it is about, the deduplication key within the rule
	Summary    string            `json:"summary"`
	Time       time.Time         `json:"time"`
	Details    map[string]string `json:"details,omitempty"`
	Suppressed int               `json:"suppressed,omitempty"` // alerts of the policy held back by the rate limit since the last one sent
}

// Webhook is a receiver of a policy's alerts.
type Webhook struct {
	URL    string
	Secret []byte
}

// Headers of a webhook request: the signature is the hex HMAC-SHA256, with the webhook's secret, of the
// timestamp, a '.', and the body; a receiver checks it and that the timestamp is recent.
const (
	HeaderSignature = "X-Threatstop-Signature" // "sha256=" and the hex digest
	HeaderTimestamp = "X-Threatstop-Timestamp" // Unix seconds
)

// Sign is the signature header's value for body sent at ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// SMTP is the relay that email alerts go through.
type SMTP struct {
	Addr           string // host:port
	From           string
	User, Password string // PLAIN authentication (over TLS only, as net/smtp insists), when User is set
	TLS            *tls.Config
}

// Route is where one policy's alerts go, and how often.
type Route struct {
	Webhooks []Webhook
	Emails   []string
	Windows  map[string]time.Duration // per rule: one alert per key within it
	Max      int                      // alerts an hour at most; 0: DefaultMax
}

// DefaultMax is the default rate limit: alerts a policy gets in an hour.
const DefaultMax = 20

// Retries of a webhook delivery: attempts in all, and the first wait, doubled each time.
var (
	Attempts     = 5
	FirstBackoff = time.Second
)

// Dispatcher sends alerts. Safe for concurrent use.
type Dispatcher struct {
	SMTP   *SMTP
	Routes map[string]*Route // by policy
	Now    func() time.Time  // nil: time.Now
	Client *http.Client      // nil: a client with a 10 s timeout

	// OnResult, if set, is told of each delivery: kind webhook or email, ok or not.
	OnResult func(kind string, ok bool)

	mu      sync.Mutex
	seen    map[string]time.Time // policy, rule, key → when it was last sent
	hour    map[string]*budget   // per policy: the current hour's alerts
	queue   chan Alert
	started sync.Once
	cancel  context.CancelFunc
	done    chan struct{}
}

type budget struct {
	start      time.Time
	sent, held int
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Start begins delivering; Stop ends it (alerts still queued are dropped).
func (d *Dispatcher) Start() {
	d.started.Do(func() {
		d.seen, d.hour = map[string]time.Time{}, map[string]*budget{}
		d.queue = make(chan Alert, 1024)
		ctx, cancel := context.WithCancel(context.Background())
		d.cancel, d.done = cancel, make(chan struct{})
		if d.Client == nil {
			d.Client = &http.Client{Timeout: 10 * time.Second}
		}
		go d.run(ctx)
	})
}

// Stop ends delivery.
func (d *Dispatcher) Stop() {
	if d.cancel != nil {
		d.cancel()
		<-d.done
	}
}

// Fire queues a for its policy's receivers unless it repeats one sent within the rule's window, or the
// policy's hour is used up; it reports whether it was queued.
func (d *Dispatcher) Fire(a Alert) bool {
	r := d.Routes[a.Policy]
	if r == nil || d.queue == nil {
		return false
	}
	now := d.now()
	if a.Time.IsZero() {
		a.Time = now
	}
	d.mu.Lock()
	k := a.Policy + "\x00" + a.Rule + "\x00" + a.Key
	if last, ok := d.seen[k]; ok && now.Sub(last) < r.Windows[a.Rule] {
		d.mu.Unlock()
		return false
	}
	b := d.hour[a.Policy]
	if b == nil || now.Sub(b.start) >= time.Hour {
		held := 0
		if b != nil {
			held = b.held
		}
		b = &budget{start: now, held: held}
		d.hour[a.Policy] = b
	}
	max := r.Max
	if max <= 0 {
		max = DefaultMax
	}
	if b.sent >= max {
		b.held++
		d.mu.Unlock()
		return false
	}
	b.sent++
	d.seen[k] = now
	a.Suppressed, b.held = b.held, 0
	d.mu.Unlock()
	select {
	case d.queue <- a:
		return true
	default:
		return false // a queue of 1024 alerts waiting: the receivers are away
	}
}

// Forget drops what deduplication remembers of one key: a silent device that uploads again may be told
// of again when it stops next.
func (d *Dispatcher) Forget(policy, rule, key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.seen, policy+"\x00"+rule+"\x00"+key)
}

func (d *Dispatcher) run(ctx context.Context) {
	defer close(d.done)
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-d.queue:
			r := d.Routes[a.Policy]
			for _, w := range r.Webhooks {
				d.result("webhook", d.post(ctx, w, a) == nil)
			}
			if len(r.Emails) > 0 && d.SMTP != nil {
				d.result("email", d.mail(r.Emails, a) == nil)
			}
		}
	}
}

func (d *Dispatcher) result(kind string, ok bool) {
	if d.OnResult != nil {
		d.OnResult(kind, ok)
	}
}

// post delivers a to w, retrying a network error, a 429 or a 5xx with backoff.
func (d *Dispatcher) post(ctx context.Context, w Webhook, a Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	wait := FirstBackoff
	for attempt := 1; ; attempt++ {
		err = d.postOnce(ctx, w, body)
		if err == nil || attempt >= Attempts || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

type statusError int

func (e statusError) Error() string { return "HTTP " + strconv.Itoa(int(e)) }

func retryable(err error) bool {
	if s, ok := err.(statusError); ok {
		return s == http.StatusTooManyRequests || s >= 500
	}
	return true // the network
}

func (d *Dispatcher) postOnce(ctx context.Context, w Webhook, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(d.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "threatstop-alert/1")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.Secret, ts, body))
	resp, err := d.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return statusError(resp.StatusCode)
	}
	return nil
}

// mail sends a as a plain-text message to the addresses, through the relay.
func (d *Dispatcher) mail(to []string, a Alert) error {
	s := d.SMTP
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: [threatstop] %s: %s\r\nDate: %s\r\nMessage-ID: <%d.%s@threatstop>\r\n",
		s.From, strings.Join(to, ", "), a.Policy, oneLine(a.Summary), a.Time.UTC().Format(time.RFC1123Z), a.Time.UnixNano(), a.Rule)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nAuto-Submitted: auto-generated\r\n\r\n")
	fmt.Fprintf(&b, "%s\r\n\r\npolicy: %s\r\nrule: %s\r\ntime: %s\r\n", a.Summary, a.Policy, a.Rule, a.Time.UTC().Format(time.RFC3339))
	for _, k := range slices.Sorted(maps.Keys(a.Details)) {
		fmt.Fprintf(&b, "%s: %s\r\n", k, oneLine(a.Details[k]))
	}
	if a.Suppressed > 0 {
		fmt.Fprintf(&b, "\r\n%d more alerts of this policy were held back by the rate limit before this one.\r\n", a.Suppressed)
	}
	return sendMail(s, to, []byte(b.String()))
}

func sendMail(s *SMTP, to []string, msg []byte) error {
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return err
	}
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := s.TLS
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return err
		}
	}
	if s.User != "" {
		if err := c.Auth(smtp.PlainAuth("", s.User, s.Password, host)); err != nil {
			return err
		}
	}
	if err := c.Mail(s.From); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

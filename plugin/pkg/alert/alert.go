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
	"net/mail"
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

	queue chan Alert // its own: a receiver that is away holds up no other policy's alerts
}

// DefaultMax is the default rate limit: alerts a policy gets in an hour.
const DefaultMax = 20

// routeQueue is how many alerts of one policy may wait for its receivers.
const routeQueue = 256

// Retries of a webhook delivery: attempts in all, and the first wait, doubled each time.
var (
	Attempts     = 5
	FirstBackoff = time.Second
)

// Memory is what deduplication and the rate limit remember: when each policy, rule and key was last
// sent, and each policy's hour. One Memory outlives the Dispatchers of successive configurations (a
// reload), so a reload tells nothing twice.
type Memory struct {
	mu   sync.Mutex
	seen map[string]time.Time
	hour map[string]*budget
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{seen: map[string]time.Time{}, hour: map[string]*budget{}} }

// Dispatcher sends alerts. Safe for concurrent use.
type Dispatcher struct {
	SMTP   *SMTP
	Routes map[string]*Route // by policy
	Now    func() time.Time  // nil: time.Now
	Client *http.Client      // nil: a client with a 10 s timeout
	Memory *Memory           // nil: one of its own

	// OnResult, if set, is told of each delivery: kind webhook or email, ok or not.
	OnResult func(kind string, ok bool)

	started sync.Once
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
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

// Start begins delivering, a worker per route; Stop ends it (alerts still queued are dropped).
func (d *Dispatcher) Start() {
	d.started.Do(func() {
		if d.Memory == nil {
			d.Memory = NewMemory()
		}
		if d.Client == nil {
			d.Client = &http.Client{Timeout: 10 * time.Second}
		}
		d.ctx, d.cancel = context.WithCancel(context.Background())
		for _, r := range d.Routes {
			r.queue = make(chan Alert, routeQueue)
			d.wg.Add(1)
			go d.run(r)
		}
	})
}

// Stop ends delivery, interrupting what is being sent.
func (d *Dispatcher) Stop() {
	if d.cancel != nil {
		d.cancel()
		d.wg.Wait()
	}
}

// Fire queues a for its policy's receivers unless it repeats one sent within the rule's window, or the
// policy's hour is used up (then it is counted, and the next alert sent says how many were held back);
// it reports whether it was queued. What it remembers is committed only once a is queued.
func (d *Dispatcher) Fire(a Alert) bool {
	r := d.Routes[a.Policy]
	if r == nil || r.queue == nil {
		return false
	}
	now := d.now()
	if a.Time.IsZero() {
		a.Time = now
	}
	m := d.Memory
	m.mu.Lock()
	defer m.mu.Unlock()
	k := a.Policy + "\x00" + a.Rule + "\x00" + a.Key
	if last, ok := m.seen[k]; ok && now.Sub(last) < r.Windows[a.Rule] {
		return false
	}
	b := m.hour[a.Policy]
	if b == nil || now.Sub(b.start) >= time.Hour {
		held := 0
		if b != nil {
			held = b.held
		}
		b = &budget{start: now, held: held}
		m.hour[a.Policy] = b
	}
	max := r.Max
	if max <= 0 {
		max = DefaultMax
	}
	if b.sent >= max {
		b.held++
		return false
	}
	a.Suppressed = b.held
	select {
	case r.queue <- a:
		b.sent++
		m.seen[k] = now
		b.held = 0
		return true
	default:
		b.held++ // its receivers are away: counted as held back, told of later
		return false
	}
}

// Forget drops what deduplication remembers of one key: a silent device that uploads again may be told
// of again when it stops next.
func (d *Dispatcher) Forget(policy, rule, key string) {
	if d.Memory == nil {
		return
	}
	d.Memory.mu.Lock()
	defer d.Memory.mu.Unlock()
	delete(d.Memory.seen, policy+"\x00"+rule+"\x00"+key)
}

func (d *Dispatcher) run(r *Route) {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case a := <-r.queue:
			for _, w := range r.Webhooks {
				d.result("webhook", d.post(d.ctx, w, a) == nil)
			}
			if len(r.Emails) > 0 && d.SMTP != nil {
				d.result("email", d.mail(d.ctx, r.Emails, a) == nil)
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
func (d *Dispatcher) mail(ctx context.Context, to []string, a Alert) error {
	s := d.SMTP
	var b strings.Builder
	now := d.now()
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: [threatstop] %s: %s\r\nDate: %s\r\nMessage-ID: <%d.%s@threatstop>\r\n",
		s.From, strings.Join(to, ", "), a.Policy, oneLine(a.Summary), now.UTC().Format(time.RFC1123Z), now.UnixNano(), a.Rule)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nAuto-Submitted: auto-generated\r\n\r\n")
	fmt.Fprintf(&b, "%s\r\n\r\npolicy: %s\r\nrule: %s\r\ntime: %s\r\n", a.Summary, a.Policy, a.Rule, a.Time.UTC().Format(time.RFC3339))
	for _, k := range slices.Sorted(maps.Keys(a.Details)) {
		fmt.Fprintf(&b, "%s: %s\r\n", k, oneLine(a.Details[k]))
	}
	if a.Suppressed > 0 {
		fmt.Fprintf(&b, "\r\n%d more alerts of this policy were held back by the rate limit before this one.\r\n", a.Suppressed)
	}
	return sendMail(ctx, s, to, []byte(b.String()))
}

// mailTimeout bounds one message's whole SMTP conversation.
var mailTimeout = time.Minute

func sendMail(ctx context.Context, s *SMTP, to []string, msg []byte) error {
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return err
	}
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(mailTimeout)) // a relay that says nothing holds up no one
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
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
	if err := c.Mail(bare(s.From)); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(bare(rcpt)); err != nil {
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

// bare is the address of "Name <addr>", for the envelope.
func bare(a string) string {
	if p, err := mail.ParseAddress(a); err == nil {
		return p.Address
	}
	return a
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

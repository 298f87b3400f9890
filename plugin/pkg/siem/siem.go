// Package siem sends threatstop's events (the in-line firewall's decisions, the hits of uploaded logs)
// to a SIEM's syslog receiver: RFC 5424 messages with a structured-data element, or ArcSight CEF in the
// message, over TCP or TLS with octet-counting framing (RFC 6587, RFC 5425). A sender never slows the
// caller: events wait in a bounded queue, and those that find it full are counted as dropped. A lost
// connection is dialled again with backoff; the message whose write failed is sent again once.
package siem

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Format is how an event is written.
type Format int

const (
	RFC5424 Format = iota // structured data [threatstop@32473 ...] and a key=value message
	CEF                   // CEF:0|threatstop|threatstop|1|... as the message of an RFC 5424 header
)

// ParseFormat reads rfc5424 or cef.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "rfc5424", "syslog":
		return RFC5424, nil
	case "cef":
		return CEF, nil
	}
	return 0, fmt.Errorf("format %q is not rfc5424 or cef", s)
}

// Event is one decision or hit.
type Event struct {
	Time     time.Time
	Kind     string // "decision" (in-line firewall) or "hit" (an uploaded log's event on a listed address)
	Policy   string
	Client   string // the asking client (decision) or the inside host (hit)
	Remote   string // the listed address (hit), or the answer address that matched (decision)
	QName    string
	List     string
	Category string
	Action   string // the firewall's action, or the device's (drop, reject, accept)
	Device   string // the uploading device (hit)
	Dir      string // in or out (hit)
}

// severity is the syslog severity and the CEF severity (0-10) of an event.
func (e Event) severity() (syslog, cef int) {
	switch e.Action {
	case "accept", "pass", "log", "passthru":
		return 5, 5 // notice: let through
	}
	return 4, 7 // warning: blocked
}

// sdID is the structured-data ID: the documentation enterprise number of RFC 5612.
const sdID = "threatstop@32473"

// Sender sends events to one receiver. Safe for concurrent use.
type Sender struct {
	Addr     string      // host:port
	TLS      *tls.Config // nil: plain TCP
	Format   Format
	Hostname string // of the RFC 5424 header; the host's name by default
	Queue    int    // events that may wait; DefaultQueue by default

	queue   chan []byte // never closed: Send may run during Stop
	stopped atomic.Bool
	dropped atomic.Uint64
	sent    atomic.Uint64
	start   sync.Once
	stop    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}

	// OnDrop, if set, is called for each event dropped (a full queue): a metric.
	OnDrop func()
}

// DefaultQueue is how many events wait for the receiver at most.
const DefaultQueue = 1 << 14

// Start begins sending; Stop ends it.
func (s *Sender) Start() {
	s.start.Do(func() {
		if s.Hostname == "" {
			s.Hostname, _ = os.Hostname()
		}
		if s.Queue <= 0 {
			s.Queue = DefaultQueue
		}
		s.queue = make(chan []byte, s.Queue)
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel, s.done, s.stop = cancel, make(chan struct{}), make(chan struct{})
		go s.run(ctx)
	})
}

// Stop stops sending, after at most a second to send what waits.
func (s *Sender) Stop() {
	if s.cancel == nil || s.stopped.Swap(true) {
		return
	}
	close(s.stop)
	select {
	case <-s.done:
	case <-time.After(time.Second):
		s.cancel()
		<-s.done
	}
}

// Send queues e; when the queue is full, e is dropped and counted.
func (s *Sender) Send(e Event) {
	if s.queue == nil || s.stopped.Load() {
		return
	}
	select {
	case s.queue <- s.encode(e):
	default:
		s.dropped.Add(1)
		if s.OnDrop != nil {
			s.OnDrop()
		}
	}
}

// Sent and Dropped are the events written to the connection and those dropped so far.
func (s *Sender) Sent() uint64    { return s.sent.Load() }
func (s *Sender) Dropped() uint64 { return s.dropped.Load() }

func (s *Sender) run(ctx context.Context) {
	defer close(s.done)
	var conn net.Conn
	unwatch := func() bool { return false }
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	backoff := time.Second
	for {
		var msg []byte
		select {
		case msg = <-s.queue:
		case <-s.stop:
			// What waits goes out, until the queue is empty or Stop's second is up.
			select {
			case msg = <-s.queue:
			default:
				return
			}
		}
		for tries := 0; tries < 2; tries++ {
			for conn == nil {
				c, err := s.dial(ctx)
				if err == nil {
					conn, backoff = c, time.Second
					// Stop interrupts a write the receiver does not take.
					unwatch = context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
					break
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, time.Minute)
			}
			conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := conn.Write(msg); err != nil {
				conn.Close()
				unwatch()
				conn = nil // dialled again, and the message written once more
				continue
			}
			s.sent.Add(1)
			break
		}
	}
}

func (s *Sender) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if s.TLS != nil {
		return (&tls.Dialer{NetDialer: d, Config: s.TLS}).DialContext(ctx, "tcp", s.Addr)
	}
	return d.DialContext(ctx, "tcp", s.Addr)
}

// encode writes e as one octet-counted frame: "LEN SP SYSLOG-MSG".
func (s *Sender) encode(e Event) []byte {
	sev, cefSev := e.severity()
	var b bytes.Buffer
	// PRI: facility local0 (16), the severity. VERSION, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID.
	fmt.Fprintf(&b, "<%d>1 %s %s threatstop %d %s ", 16*8+sev, e.Time.UTC().Format("2006-01-02T15:04:05.000000Z"),
		headerField(s.Hostname), os.Getpid(), headerField(e.Kind))
	fields := e.fields()
	switch s.Format {
	case CEF:
		b.WriteString("- ")
		name := "DNS firewall decision"
		if e.Kind == "hit" {
			name = "Firewall event on a listed address"
		}
		fmt.Fprintf(&b, "CEF:0|threatstop|threatstop|1|%s|%s|%d|", cefHeader(e.Kind), cefHeader(name), cefSev)
		ext := []string{"rt=" + strconv.FormatInt(e.Time.UnixMilli(), 10)}
		add := func(k, v string) {
			if v != "" {
				ext = append(ext, k+"="+cefValue(v))
			}
		}
		switch e.Kind {
		case "hit":
			src, dst := e.Remote, e.Client // inbound: from the listed address to the inside host
			if e.Dir == "out" {
				src, dst = e.Client, e.Remote
			}
			add("src", src)
			add("dst", dst)
			add("deviceDirection", map[string]string{"in": "0", "out": "1"}[e.Dir])
			add("dvchost", e.Device)
		default:
			add("src", e.Client)
			add("dhost", strings.TrimSuffix(e.QName, "."))
			add("dst", e.Remote)
		}
		add("act", e.Action)
		add("cat", e.Category)
		add("cs1Label", "policy")
		add("cs1", e.Policy)
		add("cs2Label", "list")
		add("cs2", e.List)
		b.WriteString(strings.Join(ext, " "))
	default:
		b.WriteString("[" + sdID)
		for _, f := range fields {
			fmt.Fprintf(&b, ` %s="%s"`, f[0], sdValue(f[1]))
		}
		b.WriteString("] ")
		// The message repeats the fields for receivers that show only it, each value quoted and escaped
		// as in the structured data: a query name with spaces or quotes adds no field.
		for i, f := range fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(f[0] + `="` + sdValue(f[1]) + `"`)
		}
	}
	msg := b.Bytes()
	out := make([]byte, 0, len(msg)+8)
	out = strconv.AppendInt(out, int64(len(msg)), 10)
	out = append(out, ' ')
	return append(out, msg...)
}

// fields are the event's set fields in a fixed order.
func (e Event) fields() [][2]string {
	var out [][2]string
	for _, f := range [][2]string{{"policy", e.Policy}, {"client", e.Client}, {"remote", e.Remote}, {"qname", e.QName},
		{"list", e.List}, {"category", e.Category}, {"action", e.Action}, {"device", e.Device}, {"dir", e.Dir}} {
		if f[1] != "" {
			out = append(out, f)
		}
	}
	return out
}

// headerField is an RFC 5424 header field: printable US-ASCII without spaces, "-" when empty.
func headerField(s string) string {
	s = strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return "-"
	}
	return s
}

// sdValue escapes a PARAM-VALUE: '"', '\' and ']' (RFC 5424, section 6.3.3).
func sdValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(s)
}

// cefHeader escapes a CEF header field: '|' and '\'.
func cefHeader(s string) string { return strings.NewReplacer(`\`, `\\`, `|`, `\|`).Replace(s) }

// cefValue escapes a CEF extension value: '=', '\' and line breaks.
func cefValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `=`, `\=`, "\n", `\n`, "\r", `\r`).Replace(s)
}

// Parse reads the arguments of a siem directive: "tcp://HOST:PORT|tls://HOST:PORT [rfc5424|cef]
// [ca FILE]" (ca: the receiver's CA for TLS, PEM; the system's roots without it).
func Parse(args []string) (*Sender, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("siem needs tcp://HOST:PORT or tls://HOST:PORT")
	}
	s := &Sender{}
	scheme, addr, ok := strings.Cut(args[0], "://")
	if !ok || scheme != "tcp" && scheme != "tls" {
		return nil, fmt.Errorf("siem %q: not tcp://HOST:PORT or tls://HOST:PORT", args[0])
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("siem %q: %v", args[0], err)
	}
	s.Addr = addr
	if scheme == "tls" {
		s.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	for rest := args[1:]; len(rest) > 0; rest = rest[1:] {
		switch rest[0] {
		case "ca":
			if len(rest) < 2 || s.TLS == nil {
				return nil, fmt.Errorf("siem: ca FILE is for a tls:// receiver")
			}
			pem, err := os.ReadFile(rest[1])
			if err != nil {
				return nil, fmt.Errorf("siem: ca: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("siem: ca %s holds no PEM certificate", rest[1])
			}
			s.TLS.RootCAs = pool
			rest = rest[1:]
		default:
			f, err := ParseFormat(rest[0])
			if err != nil {
				return nil, fmt.Errorf("siem: %v", err)
			}
			s.Format = f
		}
	}
	return s, nil
}

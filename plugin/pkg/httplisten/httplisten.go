// Package httplisten shares an HTTP listener between the plugin instances that serve on one address.
//
// A Corefile reload starts the new configuration before it stops the old one, on the same addresses, so
// a plugin cannot close its listener and open it again: the new instance would find the port taken.
// Instead each instance takes a Lease on the address: the first opens the listener and starts the
// server, later ones share it, and the handler served is the newest lease's, swapped atomically. When a
// lease is released, the handler goes back to the newest lease still held; the last release shuts the
// server down and waits for its goroutine, so a reload or a stop leaves no listener and no goroutine
// behind.
//
// Leases are kept per kind and address: two kinds (threatfeed's status endpoint, threatlog's HTTP API)
// never share a server, and the second to ask for a taken address gets the listen error.
package httplisten

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/threatstop/threatstop/plugin/pkg/timeouts"
)

// Defaults for the zero fields of Options (plugin/pkg/timeouts).
const (
	// DefaultReadHeaderTimeout bounds the wait for a request's headers (slowloris).
	DefaultReadHeaderTimeout = timeouts.HTTPReadHeader
	// DefaultReadTimeout bounds the reading of a whole request, body included.
	DefaultReadTimeout = timeouts.HTTPRead
	// DefaultWriteTimeout bounds a request's handling and answer, from the end of its headers.
	DefaultWriteTimeout = timeouts.HTTPWrite
	// DefaultIdleTimeout is how long a keep-alive connection waits for its next request.
	DefaultIdleTimeout = timeouts.HTTPIdle
	// DefaultShutdownTimeout is how long the last release waits for requests in flight before it closes
	// their connections.
	DefaultShutdownTimeout = timeouts.HTTPShutdown
)

// Options are the server's. The first lease on an address sets them; later leases share its server.
// A zero field takes its default; a negative one means no limit (no ShutdownTimeout: close at once).
type Options struct {
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout, ShutdownTimeout time.Duration
	// Certs, if set, serves HTTPS only with their certificate: the first lease's, like every option; a
	// later lease that asks for other files (or none, or some where there were none) is warned of.
	Certs *CertFiles
	// Unavailable answers while no handler is set: between the last release and the server's close.
	// Nil answers 503 "shutting down".
	Unavailable http.Handler
}

func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

type key struct{ kind, addr string }

// server is one listener and its http.Server, with the leases on it.
type server struct {
	key     key
	ln      net.Listener
	srv     *http.Server
	done    chan struct{} // closed when Serve has returned
	opts    Options
	handler atomic.Pointer[Lease]
	leases  []*Lease // in the order taken; guarded by mu
}

var (
	mu      sync.Mutex
	servers = map[key]*server{}
)

// Lease is one user's hold on a shared server.
type Lease struct {
	s        *server
	h        http.Handler
	released bool // guarded by mu
}

// Acquire takes a lease on the server of kind at addr, opening the listener if none is open, and makes
// h the handler served. Release the lease when done with it.
func Acquire(kind, addr string, h http.Handler, opts Options) (*Lease, error) {
	if h == nil {
		return nil, errors.New("httplisten: nil handler")
	}
	mu.Lock()
	defer mu.Unlock()
	k := key{kind, addr}
	s := servers[k]
	if s == nil {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		if opts.Certs != nil {
			ln = tls.NewListener(ln, opts.Certs.Config())
		}
		s = &server{key: k, ln: ln, done: make(chan struct{}), opts: opts}
		s.srv = &http.Server{
			Handler:           s,
			ReadHeaderTimeout: orDefault(opts.ReadHeaderTimeout, DefaultReadHeaderTimeout),
			ReadTimeout:       orDefault(opts.ReadTimeout, DefaultReadTimeout),
			WriteTimeout:      orDefault(opts.WriteTimeout, DefaultWriteTimeout),
			IdleTimeout:       orDefault(opts.IdleTimeout, DefaultIdleTimeout),
		}
		go func() {
			defer close(s.done)
			_ = s.srv.Serve(ln) // http.ErrServerClosed after Shutdown or Close
		}()
		servers[k] = s
	} else if had, want := s.opts.Certs.String(), opts.Certs.String(); had != want {
		// Credentials would go on in clear, or a certificate on after it was dropped: say so.
		clog.Warningf("%s: the tls settings changed; the listener keeps those it opened with (%q) until a restart", addr, had)
	}
	l := &Lease{s: s, h: h}
	s.leases = append(s.leases, l)
	s.handler.Store(l)
	return l, nil
}

// Addr is the listener's address (with the port chosen, for a port 0).
func (l *Lease) Addr() net.Addr { return l.s.ln.Addr() }

// Release ends the lease; a second call does nothing. If the lease's handler was the one served, the
// newest lease still held takes over; after the last, the server shuts down (requests in flight get
// ShutdownTimeout to finish) and Release returns once its listener is closed and its goroutine gone.
func (l *Lease) Release() {
	mu.Lock()
	defer mu.Unlock()
	if l.released {
		return
	}
	l.released = true
	s := l.s
	for i, o := range s.leases {
		if o == l {
			s.leases = append(s.leases[:i], s.leases[i+1:]...)
			break
		}
	}
	if n := len(s.leases); n > 0 {
		s.handler.CompareAndSwap(l, s.leases[n-1])
		return
	}
	s.handler.Store(nil)
	delete(servers, s.key)
	ctx, cancel := context.WithTimeout(context.Background(), orDefault(s.opts.ShutdownTimeout, DefaultShutdownTimeout))
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close() // requests still running after ShutdownTimeout: their connections are closed
	}
	<-s.done
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l := s.handler.Load(); l != nil {
		l.h.ServeHTTP(w, r)
		return
	}
	if s.opts.Unavailable != nil {
		s.opts.Unavailable.ServeHTTP(w, r)
		return
	}
	http.Error(w, "shutting down", http.StatusServiceUnavailable)
}

package httplisten

import (
	"crypto/tls"
	"os"
	"sync"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

// CertFiles serves the certificate of a PEM file pair and reads it again when either file changes, so a
// renewed certificate (certbot, an ACME client) is served without a restart: the listener outlives
// reloads, its first configuration's TLS settings with it.
type CertFiles struct {
	Cert, Key string

	mu    sync.Mutex
	cur   *tls.Certificate
	mtime [2]time.Time
}

// NewCertFiles checks that the pair loads; the plugins' tls directive calls it at start-up.
func NewCertFiles(cert, key string) (*CertFiles, error) {
	l := &CertFiles{Cert: cert, Key: key}
	if _, err := l.load(); err != nil {
		return nil, err
	}
	return l, nil
}

// String is the pair's files, "" for none (a nil CertFiles).
func (l *CertFiles) String() string {
	if l == nil {
		return ""
	}
	return l.Cert + " " + l.Key
}

// Config is a server TLS configuration (TLS 1.2 and later) that serves l's certificate.
func (l *CertFiles) Config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: l.Get}
}

func (l *CertFiles) load() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(l.Cert, l.Key)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// Get implements tls.Config.GetCertificate: the files are looked at (stat) on each handshake; a pair
// that does not load keeps the last good certificate.
func (l *CertFiles) Get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var now [2]time.Time
	for i, f := range []string{l.Cert, l.Key} {
		if fi, err := os.Stat(f); err == nil {
			now[i] = fi.ModTime()
		}
	}
	if l.cur == nil || now != l.mtime {
		c, err := l.load()
		switch {
		case err == nil:
			l.cur, l.mtime = c, now
		case l.cur == nil:
			return nil, err
		default:
			clog.Warningf("tls %s: %v; serving the certificate loaded before", l.Cert, err)
		}
	}
	return l.cur, nil
}

package threatadmin

import (
	"crypto/tls"
	"os"
	"sync"
	"time"
)

// certLoader serves the certificate of a PEM file pair and reads it again when either file changes, so a
// renewed certificate (certbot, an ACME client) is served without a restart: the listener outlives
// reloads, its first configuration's TLS settings with it.
type certLoader struct {
	cert, key string

	mu    sync.Mutex
	cur   *tls.Certificate
	mtime [2]time.Time
}

func (l *certLoader) load() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(l.cert, l.key)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// get implements tls.Config.GetCertificate: the files are looked at (stat) on each handshake; a pair
// that does not load keeps the last good certificate.
func (l *certLoader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var now [2]time.Time
	for i, f := range []string{l.cert, l.key} {
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
			log.Warningf("tls: %v; serving the certificate loaded before", err)
		}
	}
	return l.cur, nil
}

package threatlog

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Request headers of the HMAC scheme.
const (
	HeaderKey       = "X-Threatlog-Key"       // TSIG key name of the customer's policy
	HeaderDate      = "X-Threatlog-Date"      // Unix time in seconds, within skew of the server's clock
	HeaderSignature = "X-Threatlog-Signature" // hex HMAC-SHA256, see StringToSign
	HeaderDevice    = "X-Threatlog-Device"    // the device whose log this is
	HeaderBatch     = "X-Threatlog-Batch"     // optional batch ID; default the SHA-256 of the log
)

// StringToSign is what the HMAC covers: the method, the request URI (path and query), the date, the
// device and batch headers and the SHA-256 of the body as sent (compressed, if it is), each followed by
// a newline. The key is the TSIG secret (base64-decoded).
func StringToSign(method, requestURI, date, device, batch string, body []byte) string {
	sum := sha256.Sum256(body)
	return method + "\n" + requestURI + "\n" + date + "\n" + device + "\n" + batch + "\n" + hex.EncodeToString(sum[:]) + "\n"
}

// Sign computes the signature header for a request, for clients and tests.
func Sign(secret []byte, method, requestURI, date, device, batch string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(StringToSign(method, requestURI, date, device, batch, body)))
	return hex.EncodeToString(m.Sum(nil))
}

var (
	errNoAuth  = errors.New("authentication required")
	errBadAuth = errors.New("bad credentials")
)

// who is an authenticated customer.
type who struct {
	policy string
	device string // the token's device, or the device header of a signed request
	hmac   bool
}

// authHead checks what can be checked before the body is read: the token, or the HMAC headers (known
// key, date within skew). The signature itself is checked by authBody.
func (t *Threatlog) authHead(r *http.Request) (who, error) {
	if tok, user, basic := bearer(r); tok != "" {
		for k, v := range t.tokens {
			if subtle.ConstantTimeCompare([]byte(k), []byte(tok)) == 1 {
				if d := r.Header.Get(HeaderDevice); d != "" && d != v.device {
					return who{}, errBadAuth
				}
				// The user name says whose report the browser asks for: another policy's is a mistake
				// to refuse, not to answer with the token's.
				if basic && user != v.policy {
					return who{}, errBadAuth
				}
				return who{policy: v.policy, device: v.device}, nil
			}
		}
		if m := t.devices.Load(); m != nil {
			// Compared by digest, which leaks nothing of the token through the map's timing.
			if v, ok := (*m)[sha256.Sum256([]byte(tok))]; ok {
				if d := r.Header.Get(HeaderDevice); (d != "" && d != v.Device) || (basic && user != v.Policy) {
					return who{}, errBadAuth
				}
				return who{policy: v.Policy, device: v.Device}, nil
			}
		}
		return who{}, errBadAuth
	}
	key := r.Header.Get(HeaderKey)
	if key == "" {
		return who{}, errNoAuth
	}
	k, ok := t.keys[strings.ToLower(dns.Fqdn(key))]
	if !ok {
		return who{}, errBadAuth
	}
	sec, err := strconv.ParseInt(r.Header.Get(HeaderDate), 10, 64)
	if err != nil {
		return who{}, errBadAuth
	}
	if d := clock().Sub(time.Unix(sec, 0)); d > t.skew || d < -t.skew {
		return who{}, errBadAuth
	}
	return who{policy: k.policy, device: r.Header.Get(HeaderDevice), hmac: true}, nil
}

// authBody checks a signed request's signature over body.
func (t *Threatlog) authBody(r *http.Request, w who, body []byte) error {
	if !w.hmac {
		return nil
	}
	k := t.keys[strings.ToLower(dns.Fqdn(r.Header.Get(HeaderKey)))]
	want := Sign(k.secret, r.Method, r.URL.RequestURI(), r.Header.Get(HeaderDate), r.Header.Get(HeaderDevice), r.Header.Get(HeaderBatch), body)
	got := strings.ToLower(r.Header.Get(HeaderSignature))
	if !hmac.Equal([]byte(want), []byte(got)) {
		return errBadAuth
	}
	return nil
}

// bearer is the token of "Authorization: Bearer TOKEN", or the password of Basic authentication (which
// a browser asks for by itself, for the HTML report) with its user name, the policy.
func bearer(r *http.Request) (token, user string, basic bool) {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(tok), "", false
	}
	if user, pw, ok := r.BasicAuth(); ok {
		return pw, user, true
	}
	return "", "", false
}

package threatadmin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The portal's users sign in with a password (its bcrypt hash is in the Corefile) and get a session: a
// random ID in a cookie (HttpOnly, SameSite=Strict, Secure behind TLS) and a CSRF token that every form
// sends back. Sessions live in memory, shared by the instances of a reload; a restart of the process
// signs everyone out. Failed sign-ins are limited by address and by user name.

// Session limits.
const (
	sessionCookie = "threatadmin_session"
	csrfCookie    = "threatadmin_login" // the CSRF token of the sign-in form, before there is a session
	sessionIdle   = time.Hour
	sessionMax    = 12 * time.Hour
	loginWindow   = 15 * time.Minute
	loginFailures = 5 // per address and per user name in loginWindow; then 429 until the window passes
)

// user is one who signs in to the portal: a customer's (its policies) or an operator's (everything).
type user struct {
	name     string
	hash     []byte // bcrypt
	customer string // "" for an operator's user
	operator string
	write    bool
}

// session is one signed-in user.
type session struct {
	user    string
	csrf    string
	created time.Time
	seen    time.Time
}

// sessions are the portal's sessions and the record of failed sign-ins, shared across reloads.
type sessions struct {
	mu       sync.Mutex
	byID     map[string]*session
	failures map[string][]time.Time // by "ip ADDR" and "user NAME"
}

func newSessions() *sessions {
	return &sessions{byID: map[string]*session{}, failures: map[string][]time.Time{}}
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// limited reports whether sign-ins from ip or as name are refused now, forgetting failures older than
// the window.
func (s *sessions) limited(ip, name string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := false
	for _, k := range []string{"ip " + ip, "user " + name} {
		fs := s.failures[k]
		i := 0
		for i < len(fs) && now.Sub(fs[i]) > loginWindow {
			i++
		}
		if fs = fs[i:]; len(fs) == 0 {
			delete(s.failures, k)
		} else {
			s.failures[k] = fs
		}
		out = out || len(fs) >= loginFailures
	}
	return out
}

func (s *sessions) failed(ip, name string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range []string{"ip " + ip, "user " + name} {
		s.failures[k] = append(s.failures[k], now)
	}
}

// start makes a session for name.
func (s *sessions) start(name string, now time.Time) (id string, se *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, o := range s.byID { // the expired ones go when someone signs in
		if o.expired(now) {
			delete(s.byID, k)
		}
	}
	id = randomToken()
	se = &session{user: name, csrf: randomToken(), created: now, seen: now}
	s.byID[id] = se
	return id, se
}

func (se *session) expired(now time.Time) bool {
	return now.Sub(se.seen) > sessionIdle || now.Sub(se.created) > sessionMax
}

// get is the live session of id, seen now.
func (s *sessions) get(id string, now time.Time) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.byID[id]
	if se == nil {
		return session{}, false
	}
	if se.expired(now) {
		delete(s.byID, id)
		return session{}, false
	}
	se.seen = now
	return *se, true
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

// dummyHash is checked against when the user name is unknown, so that the answer takes as long.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.DefaultCost)

// checkPassword finds the user called name whose password is pw.
func (a *Admin) checkPassword(name, pw string) (*user, bool) {
	u := a.userOf(name)
	h := dummyHash
	if u != nil {
		h = u.hash
	}
	if bcrypt.CompareHashAndPassword(h, []byte(pw)) != nil || u == nil {
		return nil, false
	}
	return u, true
}

// secureCookies reports whether the portal's cookies are Secure: on a TLS listener, or behind a proxy
// that says the browser's connection is HTTPS.
func (a *Admin) secureCookies(r *http.Request) bool {
	return a.tls != nil || r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

func (a *Admin) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/ui/", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: a.secureCookies(r)})
}

// sameToken compares CSRF tokens in constant time.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

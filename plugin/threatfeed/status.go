package threatfeed

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/httplisten"
)

// The status endpoint: GET /feeds lists every feed's state as JSON, GET /feeds/NAME one feed, and
// POST /feeds/NAME/accept serves a version held back by the shrink or emptiness check. Bind it to an
// address only operators reach: accepting a version is an operator's decision.
//
// A listener outlives a Corefile reload (the new instance starts before the old one stops, on the same
// address): httplisten shares it between the instances on one address, the newest one's Feeds answering.

// statusKind names threatfeed's status listeners in httplisten.
const statusKind = "threatfeed status"

// statusServer is one instance's lease on its status listener.
type statusServer struct {
	lease *httplisten.Lease
}

func startStatus(addr string, f *Feeds) (*statusServer, error) {
	l, err := httplisten.Acquire(statusKind, addr, statusHandler{f}, httplisten.Options{
		ReadHeaderTimeout: 5 * time.Second,
		ShutdownTimeout:   time.Second,
	})
	if err != nil {
		return nil, err
	}
	return &statusServer{lease: l}, nil
}

// release ends f's use of the listener; the last user closes it and waits for its server to stop.
func (s *statusServer) release(*Feeds) { s.lease.Release() }

// FeedStatus is one feed in the status document.
type FeedStatus struct {
	Name        string         `json:"name"`
	Category    string         `json:"category"`
	Source      string         `json:"source"`
	Format      string         `json:"format"`
	Refresh     string         `json:"refresh"`
	Loaded      bool           `json:"loaded"`
	Version     uint64         `json:"version,omitempty"`
	Entries     int            `json:"entries"`
	LoadedAt    *time.Time     `json:"loaded_at,omitempty"`
	FromCache   bool           `json:"from_cache,omitempty"`
	Lines       int            `json:"lines"`
	Invalid     int            `json:"invalid"`
	Skipped     int            `json:"skipped"`
	Dropped     map[string]int `json:"dropped_by_guard,omitempty"`
	LastAttempt *time.Time     `json:"last_attempt,omitempty"`
	LastSuccess *time.Time     `json:"last_success,omitempty"`
	LastError   string         `json:"last_error,omitempty"`
	AgeSeconds  *float64       `json:"age_seconds,omitempty"`
	MaxAge      string         `json:"max_age,omitempty"`
	Stale       bool           `json:"stale"`
	Served      bool           `json:"served"`
	Held        *HeldStatus    `json:"held,omitempty"`
}

// HeldStatus is a version held back.
type HeldStatus struct {
	Entries       int       `json:"entries"`
	Reason        string    `json:"reason"`
	Since         time.Time `json:"since"`
	NeedsOperator bool      `json:"needs_operator"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Status describes every feed.
func (f *Feeds) Status() []FeedStatus {
	now := time.Now()
	out := make([]FeedStatus, len(f.feeds))
	for i, fd := range f.feeds {
		st := fd.Status()
		s := FeedStatus{
			Name: fd.Name, Category: fd.Category, Source: fd.Source.String(), Format: fd.Format,
			Refresh: fd.Refresh.String(), Lines: st.Stats.Lines, Invalid: st.Stats.Invalid, Skipped: st.Stats.Skipped,
			LastAttempt: timePtr(st.LastAttempt), LastSuccess: timePtr(st.LastSuccess),
			Stale: fd.Stale(now), Served: fd.Serving(now) != nil,
		}
		if st.LastError != nil {
			s.LastError = st.LastError.Error()
		}
		if fd.MaxAge > 0 {
			s.MaxAge = fd.MaxAge.String()
		}
		if !st.LastSuccess.IsZero() {
			age := now.Sub(st.LastSuccess).Seconds()
			s.AgeSeconds = &age
		}
		if c := fd.Content(); c != nil {
			s.Loaded, s.Version, s.Entries, s.LoadedAt, s.FromCache = true, c.Version, c.Set.Len(), timePtr(c.Loaded), c.FromCache
			s.Dropped = c.Dropped.Count
		}
		if h := fd.Held(); h != nil {
			s.Held = &HeldStatus{Entries: h.Set.Len(), Reason: h.Reason, Since: h.Since, NeedsOperator: h.NeedsOperator}
		}
		out[i] = s
	}
	return out
}

// Accept serves the held version of the named feed, as an operator's decision.
func (f *Feeds) Accept(name string) (bool, error) {
	i, ok := f.byName[name]
	if !ok {
		return false, errors.New("no such feed")
	}
	fd := f.feeds[i]
	if !fd.Accept() {
		return false, nil
	}
	log.Infof("feed %s (%s): held version accepted by an operator: version %d, %d entries", fd.Name, fd.Source, fd.Content().Version, fd.Content().Set.Len())
	f.record(fd, fd.Content())
	heldGauge.WithLabelValues(fd.Name).Set(0)
	f.logMu.Lock()
	f.lastErr[i] = ""
	f.logMu.Unlock()
	f.rebuild()
	return true, nil
}

// statusHandler answers for one instance's feeds.
type statusHandler struct{ f *Feeds }

func (h statusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := h.f
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	switch {
	case path == "feeds" && r.Method == http.MethodGet:
		enc.Encode(map[string]any{"feeds": f.Status(), "ready": f.Ready()})
	case len(parts) == 2 && parts[0] == "feeds" && r.Method == http.MethodGet:
		i, ok := f.byName[parts[1]]
		if !ok {
			http.Error(w, `{"error":"no such feed"}`, http.StatusNotFound)
			return
		}
		enc.Encode(f.Status()[i])
	case len(parts) == 3 && parts[0] == "feeds" && parts[2] == "accept":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, `{"error":"use POST"}`, http.StatusMethodNotAllowed)
			return
		}
		accepted, err := f.Accept(parts[1])
		switch {
		case err != nil:
			http.Error(w, `{"error":"no such feed"}`, http.StatusNotFound)
		case !accepted:
			w.WriteHeader(http.StatusConflict)
			enc.Encode(map[string]any{"accepted": false, "error": "no version is held back"})
		default:
			enc.Encode(map[string]any{"accepted": true})
		}
	default:
		http.Error(w, `{"error":"GET /feeds, GET /feeds/NAME or POST /feeds/NAME/accept"}`, http.StatusNotFound)
	}
}

package threatfeed

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/feed"
	"github.com/threatstop/threatstop/plugin/pkg/httplisten"
)

// The status endpoint: GET /feeds lists every feed's state as JSON, GET /feeds/NAME one feed, and
// POST /feeds/NAME/accept serves a version held back by the shrink or emptiness check (with
// ?sha256=HEX, only that version). Bind it to an address only operators reach: accepting a version is an
// operator's decision, logged with the address it came from.
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
	SkippedBy   map[string]int `json:"skipped_by_reason,omitempty"` // where the format names its reasons
	TopSkip     string         `json:"top_skip_reason,omitempty"`
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
	Entries  int       `json:"entries"`
	Reason   string    `json:"reason"`
	SHA256   string    `json:"sha256"`    // of the body, for POST /feeds/NAME/accept?sha256=
	Since    time.Time `json:"since"`     // the fetch that first saw it
	LastSeen time.Time `json:"last_seen"` // the latest fetch that saw it
	Fetches  int       `json:"fetches_seen"`
	// A shrunk version is served by the first fetch that sees it from ReleasesAt on, once FetchesNeeded
	// fetches have; an empty one only by an operator.
	FetchesNeeded int        `json:"fetches_needed,omitempty"`
	ReleasesAt    *time.Time `json:"releases_at,omitempty"`
	NeedsOperator bool       `json:"needs_operator"`
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
			Stale: fd.Stale(now), Served: fd.Serving(now) != nil, SkippedBy: st.Stats.Skips,
		}
		s.TopSkip, _ = st.Stats.TopSkip()
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
			s.Held = &HeldStatus{Entries: h.Set.Len(), Reason: h.Reason, SHA256: hex.EncodeToString(h.Sum[:]),
				Since: h.Since, LastSeen: h.Seen, Fetches: h.Fetches, NeedsOperator: h.NeedsOperator}
			if !h.NeedsOperator {
				s.Held.FetchesNeeded, s.Held.ReleasesAt = feed.ShrinkFetches, timePtr(h.ReleaseAfter)
			}
		}
		out[i] = s
	}
	return out
}

// errNoFeed answers an accept for a feed that is not defined.
var errNoFeed = errors.New("no such feed")

// Accept serves the held version of the named feed, as the decision of the operator at from; with sum,
// only the version of that SHA-256.
func (f *Feeds) Accept(name string, sum []byte, from string) error {
	i, ok := f.byName[name]
	if !ok {
		return errNoFeed
	}
	fd := f.feeds[i]
	was := fd.Content()
	h, err := fd.AcceptHeld(sum)
	if err != nil {
		return err
	}
	c := fd.Content()
	wasN := 0
	if was != nil {
		wasN = was.Set.Len()
	}
	log.Warningf("feed %s (%s): held version accepted by an operator from %s at %s: version %d, %d entries (was %d), held since %s on %d fetches: %s",
		fd.Name, fd.Source, from, time.Now().Format(time.RFC3339), c.Version, c.Set.Len(), wasN, h.Since.Format(time.RFC3339), h.Fetches, h.Reason)
	f.record(fd, c)
	recordHeld(fd)
	f.logMu.Lock()
	f.lastErr[i] = ""
	f.logMu.Unlock()
	f.rebuild()
	return nil
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
		var sum []byte
		if v := r.URL.Query().Get("sha256"); v != "" {
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				http.Error(w, `{"error":"sha256 needs the 64 hex digits of the held version's sha256"}`, http.StatusBadRequest)
				return
			}
			sum = b
		}
		switch err := f.Accept(parts[1], sum, r.RemoteAddr); {
		case errors.Is(err, errNoFeed):
			http.Error(w, `{"error":"no such feed"}`, http.StatusNotFound)
		case err != nil:
			w.WriteHeader(http.StatusConflict)
			enc.Encode(map[string]any{"accepted": false, "error": err.Error()})
		default:
			enc.Encode(map[string]any{"accepted": true})
		}
	default:
		http.Error(w, `{"error":"GET /feeds, GET /feeds/NAME or POST /feeds/NAME/accept"}`, http.StatusNotFound)
	}
}

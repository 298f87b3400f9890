package threatlog

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/httplisten"
	"github.com/threatstop/threatstop/plugin/pkg/logstore"
	"github.com/threatstop/threatstop/plugin/pkg/siem"
)

// The HTTP endpoint: POST /upload, GET /report (JSON), /report.csv, /report.html, /check, and a
// customer's own data: GET /export and DELETE /logs (privacy.go). A listener outlives a Corefile reload
// (the new instance starts before the old one stops, on the same address): httplisten shares it between
// the instances on one address, the newest one answering.

// httpKind names threatlog's listeners in httplisten.
const httpKind = "threatlog http"

// httpServer is one instance's lease on its listener.
type httpServer struct {
	lease *httplisten.Lease
}

// Server timeouts. An upload sets its own body deadline (read_timeout) and a CSV export pushes its write
// deadline on while the client reads; writeTimeout bounds the rest: a wait for an upload slot and the
// upload's processing, or computing and sending a JSON or HTML report.
const (
	writeTimeout = 10 * time.Minute
	csvStall     = time.Minute // the longest a CSV client may stop reading
)

func startHTTP(addr string, t *Threatlog) (*httpServer, error) {
	// Headers, idle connections and the close wait take httplisten's defaults (plugin/pkg/timeouts).
	opts := httplisten.Options{
		ReadTimeout:  2 * time.Minute,
		WriteTimeout: writeTimeout,
		Unavailable: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			httpError(w, http.StatusServiceUnavailable, "shutting down")
		}),
	}
	opts.Certs = t.tls // the first instance's: the listener outlives reloads with them
	l, err := httplisten.Acquire(httpKind, addr, httpHandler{t}, opts)
	if err != nil {
		return nil, err
	}
	return &httpServer{lease: l}, nil
}

// release ends t's use of the listener; the last user closes it and waits for its server to stop.
func (s *httpServer) release(*Threatlog) { s.lease.Release() }

// httpHandler answers for one instance.
type httpHandler struct{ t *Threatlog }

func (h httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := h.t
	switch r.URL.Path {
	case "/upload":
		t.serveUpload(w, r)
	case "/report", "/report.json", "/report.csv", "/report.html":
		t.serveReport(w, r)
	case "/check":
		t.serveCheckHTTP(w, r)
	case "/export":
		t.serveExport(w, r)
	case "/logs":
		t.serveDeleteLogs(w, r)
	default:
		if strings.HasPrefix(r.URL.Path, "/edl/") {
			t.serveEDL(w, r)
			return
		}
		httpError(w, http.StatusNotFound, "POST /upload, GET /report, /report.csv, /report.html, /check?ioc=, /export or /edl/POLICY/FILE, DELETE /logs")
	}
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="threatlog"`)
	}
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// authenticate checks the request's credentials (with its body, for a signed one) and answers 401 when
// they fail; ok false means the answer is written.
func (t *Threatlog) authenticate(w http.ResponseWriter, r *http.Request, body []byte) (who, bool) {
	wh, err := t.authHead(r)
	if err == nil {
		err = t.authBody(r, wh, body)
	}
	if err != nil {
		httpError(w, http.StatusUnauthorized, err.Error())
		return who{}, false
	}
	return wh, true
}

// UploadResult is the answer to an upload.
type UploadResult struct {
	Policy    string `json:"policy"`
	Device    string `json:"device"`
	Batch     string `json:"batch"`
	Duplicate bool   `json:"duplicate"` // stored before: nothing stored now
	Stored    int    `json:"stored"`
	ingestStats
}

func (t *Threatlog) serveUpload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	// What can be refused before the body is read is refused first.
	if _, err := t.authHead(r); err != nil {
		uploads.WithLabelValues("-", "unauthorized").Inc()
		httpError(w, http.StatusUnauthorized, err.Error())
		return
	}
	if r.ContentLength > t.maxSize {
		uploads.WithLabelValues("-", "too_large").Inc()
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("more than %d bytes", t.maxSize))
		return
	}
	// The body arrives, within read_timeout, and its signature is checked before the upload takes a
	// processing slot: slow or unsigned clients hold no slot, and only what they have sent in memory.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(t.readTimeout))
	rc.SetWriteDeadline(time.Now().Add(t.readTimeout + writeTimeout))
	receiving.Add(1)
	var buf bytes.Buffer
	if r.ContentLength > 0 { // one allocation of the right size, not a doubling one
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, t.maxSize))
	raw := buf.Bytes()
	receiving.Add(-1)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			uploads.WithLabelValues("-", "too_large").Inc()
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("more than %d bytes", t.maxSize))
		case errors.Is(err, os.ErrDeadlineExceeded):
			uploads.WithLabelValues("-", "bad_request").Inc()
			httpError(w, http.StatusRequestTimeout, fmt.Sprintf("the body did not arrive within %s", t.readTimeout))
		default:
			httpError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		}
		return
	}
	wh, ok := t.authenticate(w, r, raw)
	if !ok {
		uploads.WithLabelValues("-", "unauthorized").Inc() // an upload's, not a report's or a list's
		return
	}
	device := wh.device
	if !deviceRE.MatchString(device) {
		uploads.WithLabelValues(wh.policy, "bad_request").Inc()
		httpError(w, http.StatusBadRequest, "name the device in "+HeaderDevice+" (letters, digits, '.', '_', '-', at most 64)")
		return
	}
	// Decompressing, parsing and storing: a few uploads at a time.
	select {
	case uploadSlots <- struct{}{}:
		defer func() { <-uploadSlots }()
	case <-r.Context().Done():
		return
	}
	// The log is parsed as it is decompressed, never kept whole, and hashed on the way (the default
	// batch ID).
	var text io.Reader = bytes.NewReader(raw)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		if text, err = gzip.NewReader(text); err != nil {
			uploads.WithLabelValues(wh.policy, "bad_request").Inc()
			httpError(w, http.StatusBadRequest, "not gzip: "+err.Error())
			return
		}
	default:
		httpError(w, http.StatusUnsupportedMediaType, "Content-Encoding "+enc+" is not supported (use gzip)")
		return
	}
	batch := r.Header.Get(HeaderBatch)
	if len(batch) > 128 {
		httpError(w, http.StatusBadRequest, HeaderBatch+" is longer than 128 characters")
		return
	}
	sum := sha256.New()
	counted := &countingReader{r: io.TeeReader(io.LimitReader(text, t.maxSize+1), sum)}
	now := clock()
	cur := t.state.Load()
	sp := cur.Blocks[t.block].Policy(wh.policy)
	m := &matcher{p: sp.Policy, snap: cur.SnapOf(sp), t: t}
	// Each record is kept only in its stored form (logstore.Batch), a fraction of the parsed one.
	var b logstore.Batch
	hitsOf := map[string]int{}
	var listed []logstore.Record // for the SIEM and the alert rules, once stored
	keepListed := t.siem != nil || t.alertsOn(wh.policy)
	overflow := 0                                // listed events beyond those kept
	sense := t.newSensed(wh.policy, device, now) // what the sensor table learns once it is stored
	st, err := m.ingestSides(counted, device, now, func(rec *logstore.Record, sd sides) error {
		sense.noteInside(sd.inside, rec.Time)
		if t.listedOnly && !rec.Listed() {
			return nil
		}
		for _, l := range rec.Lists {
			hitsOf[l]++
		}
		if keepListed && rec.Listed() {
			if len(listed) < siem.DefaultQueue {
				listed = append(listed, *rec) // at most what the SIEM's queue holds
			} else {
				overflow++
			}
		}
		sense.noteStored(rec, sd)
		return b.Add(rec)
	})
	switch {
	case counted.n > t.maxSize:
		uploads.WithLabelValues(wh.policy, "too_large").Inc()
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("more than %d bytes decompressed", t.maxSize))
		return
	case err != nil:
		uploads.WithLabelValues(wh.policy, "bad_request").Inc()
		httpError(w, http.StatusBadRequest, "reading the log: "+err.Error())
		return
	case counted.n == 0:
		uploads.WithLabelValues(wh.policy, "bad_request").Inc()
		httpError(w, http.StatusBadRequest, "empty log")
		return
	}
	if batch == "" {
		batch = "sha256:" + hex.EncodeToString(sum.Sum(nil))
	}
	if st.Events == 0 {
		uploads.WithLabelValues(wh.policy, "bad_request").Inc()
		httpError(w, http.StatusUnprocessableEntity, fmt.Sprintf("none of the %d lines is in a known log format", st.Lines))
		return
	}
	res := UploadResult{Policy: wh.policy, Device: device, Batch: batch, ingestStats: st}
	switch err := t.store.AddBatch(wh.policy, device, batch, now, &b); {
	case errors.Is(err, logstore.ErrDuplicate):
		res.Duplicate = true
		uploads.WithLabelValues(wh.policy, "duplicate").Inc()
		t.alertUpload(wh.policy, device, nil) // the device is alive
		sense.commit(false)                   // its reports were made when it was stored
	case err != nil:
		log.Errorf("store upload of %s/%s: %v", wh.policy, device, err)
		httpError(w, http.StatusInternalServerError, "could not store the log")
		return
	default:
		res.Stored = b.Len()
		uploads.WithLabelValues(wh.policy, "stored").Inc()
		sense.commit(true) // acknowledged: committed
		for f, n := range st.Formats {
			lines.WithLabelValues(wh.policy, string(f)).Add(float64(n))
		}
		lines.WithLabelValues(wh.policy, "unknown").Add(float64(st.Unknown))
		for l, n := range hitsOf {
			hits.WithLabelValues(wh.policy, l).Add(float64(n))
		}
		for i := range listed {
			if rec := &listed[i]; t.siem != nil {
				t.siem.Send(siem.Event{Time: rec.Time, Kind: "hit", Policy: wh.policy, Client: rec.Inside, Remote: rec.Remote,
					QName: rec.QName, List: strings.Join(rec.Lists, ","), Category: strings.Join(rec.Categories, ","), Action: rec.Action, Device: rec.Device, Dir: rec.Dir})
			}
		}
		if t.siem != nil && overflow > 0 {
			siemDropped.Add(float64(overflow))
		}
		t.alertUpload(wh.policy, device, listed)
	}
	writeJSON(w, res)
}

// uploadSlots bounds the uploads decompressed, parsed and stored at once, over all listeners; receiving
// counts the bodies being received (for tests).
var (
	uploadSlots = make(chan struct{}, 4)
	receiving   atomic.Int64
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// period reads from, to (RFC 3339 or YYYY-MM-DD; default the last 7 days) and step (hour or day;
// default hour for up to two days, else day).
func period(r *http.Request, now time.Time) (from, to time.Time, step time.Duration, err error) {
	q := r.URL.Query()
	to, from = now, now.Add(-7*24*time.Hour)
	parse := func(s string) (time.Time, error) {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.UTC(), nil
		}
		return time.Parse("2006-01-02", s)
	}
	if s := q.Get("from"); s != "" {
		if from, err = parse(s); err != nil {
			return from, to, 0, fmt.Errorf("from %q is not RFC 3339 or YYYY-MM-DD", s)
		}
	}
	if s := q.Get("to"); s != "" {
		if to, err = parse(s); err != nil {
			return from, to, 0, fmt.Errorf("to %q is not RFC 3339 or YYYY-MM-DD", s)
		}
	}
	if !from.Before(to) {
		return from, to, 0, errors.New("from must be before to")
	}
	switch q.Get("step") {
	case "hour":
		step = time.Hour
	case "day":
		step = 24 * time.Hour
	case "":
		step = time.Hour
		if to.Sub(from) > 48*time.Hour {
			step = 24 * time.Hour
		}
	default:
		return from, to, 0, errors.New("step is hour or day")
	}
	if to.Sub(from)/step > 10000 {
		return from, to, 0, errors.New("too many steps: use step=day or a shorter period")
	}
	return from, to, step, nil
}

func (t *Threatlog) serveReport(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		httpError(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	wh, ok := t.authenticate(w, r, nil)
	if !ok {
		return
	}
	t.ServeReport(w, r, wh.policy)
}

// ServeReport answers the report of policy for the request's period (from, to, step, top; its path's
// .csv and .html as /report's), to a caller that another plugin (threatadmin) authenticated.
func (t *Threatlog) ServeReport(w http.ResponseWriter, r *http.Request, policy string) {
	w.Header().Set("Cache-Control", "private, no-store")
	if r.URL.Path == "/report.csv" {
		from, to, _, err := period(r, clock())
		if err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		t.serveCSV(w, policy, from, to)
		return
	}
	rep, err := t.ReportOf(r, policy)
	var bad errBadQuery
	switch {
	case errors.As(err, &bad):
		httpError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		log.Errorf("report of %s: %v", policy, err)
		httpError(w, http.StatusInternalServerError, "could not read the log")
		return
	}
	if r.URL.Path == "/report.html" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		renderHTML(w, rep)
		return
	}
	writeJSON(w, rep)
}

// errBadQuery is a report query that does not parse: the client's mistake.
type errBadQuery struct{ error }

// ReportOf is the report of policy that r's query asks for: from, to (RFC 3339 or YYYY-MM-DD), step (hour
// or day), top (1 to 1000) and device (one device's events; "" for all). A query that does not parse is
// an error that says what is wrong.
func (t *Threatlog) ReportOf(r *http.Request, policy string) (*Report, error) {
	from, to, step, err := period(r, clock())
	if err != nil {
		return nil, errBadQuery{err}
	}
	q := r.URL.Query()
	top := 20
	if s := q.Get("top"); s != "" {
		if top, err = strconv.Atoi(s); err != nil || top < 1 || top > 1000 {
			return nil, errBadQuery{errors.New("top is 1 to 1000")}
		}
	}
	return t.report(policy, q.Get("device"), from, to, step, top)
}

// Check says which feeds hold ioc (an address, a prefix or a name) and what policy does with it, in the
// State served now; an ioc that does not parse is an error that says why.
func (t *Threatlog) Check(ioc, policy string) (*CheckResult, error) {
	return t.check(ioc, policy)
}

// CSVHeader is the first row of the CSV export.
var CSVHeader = []string{"time", "device", "format", "direction", "action", "proto", "inside", "remote", "remote_port", "qname", "lists", "categories", "allowed"}

func (t *Threatlog) serveCSV(w http.ResponseWriter, customer string, from, to time.Time) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="threatlog-%s-%s.csv"`, customer, from.Format("20060102")))
	// A long export goes on as long as the client reads; one that stops reading for csvStall is dropped.
	// Each never calls back inside a read transaction, so a stalled client blocks no writer meanwhile.
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(csvStall))
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	n := 0
	err := t.store.Each(customer, from, to, func(r *logstore.Record) error {
		if n++; n%1024 == 0 {
			rc.SetWriteDeadline(time.Now().Add(csvStall))
		}
		port := ""
		if r.RemotePort != 0 {
			port = strconv.Itoa(int(r.RemotePort))
		}
		return cw.Write([]string{r.Time.Format(time.RFC3339Nano), r.Device, r.Format, r.Dir, r.Action, r.Proto, r.Inside,
			r.Remote, port, r.QName, strings.Join(r.Lists, " "), strings.Join(r.Categories, " "), strconv.FormatBool(r.Allowed)})
	})
	cw.Flush()
	if err != nil {
		log.Errorf("CSV of %s: %v", customer, err)
	}
}

func (t *Threatlog) serveCheckHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		httpError(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	q := r.URL.Query()
	// Shared feeds are anyone's to ask about; a policy's decision (its own entries) only its customer's.
	var pol string
	if _, err := t.authHead(r); err != errNoAuth || q.Get("policy") != "" {
		wh, ok := t.authenticate(w, r, nil)
		if !ok {
			return
		}
		if p := q.Get("policy"); p != "" && p != wh.policy {
			httpError(w, http.StatusForbidden, "these credentials are not policy "+p+"'s")
			return
		}
		pol = wh.policy
	}
	res, err := t.check(q.Get("ioc"), pol)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	checks.WithLabelValues("http").Inc()
	w.Header().Set("Cache-Control", "private, no-store")
	writeJSON(w, res)
}

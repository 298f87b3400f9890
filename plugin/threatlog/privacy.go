package threatlog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/logstore"
)

// A customer's own data: GET /export gives all of it, with the customer's credentials as /report;
// DELETE /logs deletes it, signed with the policy's key only.

// ExportEvent is one line of an export: a stored event (Type "event", the CSV's columns), one of the
// customer's sensor contributions (Type "sensor": Address, First, Last, Count), or the last line (Type
// "end": Events and Sensor, how many lines of each came before; a cut-off export has none).
type ExportEvent struct {
	Type string `json:"type"`

	Time       *time.Time `json:"time,omitempty"`
	Device     string     `json:"device,omitempty"`
	Format     string     `json:"format,omitempty"`
	Direction  string     `json:"direction,omitempty"`
	Action     string     `json:"action,omitempty"`
	Proto      string     `json:"proto,omitempty"`
	Inside     string     `json:"inside,omitempty"`
	Remote     string     `json:"remote,omitempty"`
	RemotePort uint16     `json:"remote_port,omitempty"`
	QName      string     `json:"qname,omitempty"`
	Lists      []string   `json:"lists,omitempty"`
	Categories []string   `json:"categories,omitempty"`
	Allowed    bool       `json:"allowed,omitempty"`

	Address string     `json:"address,omitempty"`
	First   *time.Time `json:"first,omitempty"`
	Last    *time.Time `json:"last,omitempty"`
	Count   int        `json:"count,omitempty"`

	Events int `json:"events,omitempty"`
	Sensor int `json:"sensor,omitempty"`
}

// exportEnd is a moment no stored event reaches: an export reads every day.
var exportEnd = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

func (t *Threatlog) serveExport(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		httpError(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	wh, ok := t.authenticate(w, r, nil)
	if !ok {
		return
	}
	t.ServeExport(w, wh.policy)
}

// ServeExport streams everything kept of policy as NDJSON (ExportEvent lines): its stored events in
// time order, read a page at a time as the CSV report is, then its sensor contributions, then an end
// line; for a caller that another plugin (threatadmin) authenticated.
func (t *Threatlog) ServeExport(w http.ResponseWriter, policy string) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="threatlog-%s-export.ndjson"`, policy))
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(csvStall))
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	n := 0
	err := t.store.Each(policy, time.Time{}, exportEnd, func(rec *logstore.Record) error {
		if n++; n%1024 == 0 {
			rc.SetWriteDeadline(time.Now().Add(csvStall))
		}
		ts := rec.Time
		return enc.Encode(ExportEvent{Type: "event", Time: &ts, Device: rec.Device, Format: rec.Format, Direction: rec.Dir,
			Action: rec.Action, Proto: rec.Proto, Inside: rec.Inside, Remote: rec.Remote, RemotePort: rec.RemotePort,
			QName: rec.QName, Lists: rec.Lists, Categories: rec.Categories, Allowed: rec.Allowed})
	})
	if err != nil {
		bw.Flush()
		log.Errorf("export of %s: %v", policy, err)
		return // no end line: the client sees the export is cut off
	}
	tbl := sensors()
	tbl.Expire(clock())
	cs := tbl.Contributions(ReporterID(t.blockKey, policy))
	for _, c := range cs {
		first, last := c.First, c.Last
		if err := enc.Encode(ExportEvent{Type: "sensor", Address: c.Addr.String(), First: &first, Last: &last, Count: c.Count}); err != nil {
			return
		}
	}
	enc.Encode(ExportEvent{Type: "end", Events: n, Sensor: len(cs)})
	bw.Flush()
}

// DeleteResult is the answer to DELETE /logs.
type DeleteResult struct {
	Policy string `json:"policy"`
	Events int    `json:"events"` // stored events deleted
	Sensor int    `json:"sensor"` // addresses whose sensor reports by the customer were deleted
}

func (t *Threatlog) serveDeleteLogs(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodDelete {
		w.Header().Set("Allow", http.MethodDelete)
		httpError(w, http.StatusMethodNotAllowed, "use DELETE")
		return
	}
	wh, ok := t.authenticate(w, r, nil)
	if !ok {
		return
	}
	if !wh.hmac {
		// A device's token sits on the device: whoever takes it may upload and read, not destroy the
		// customer's record. Deleting takes the policy's key.
		httpError(w, http.StatusForbidden, "DELETE /logs must be signed with the policy's TSIG key (X-Threatlog-Key, X-Threatlog-Date, X-Threatlog-Signature); a device token may not delete")
		return
	}
	res, err := t.DeleteLogs(wh.policy)
	if err != nil {
		log.Errorf("delete of %s: %v", wh.policy, err)
		httpError(w, http.StatusInternalServerError, "could not delete the log")
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	writeJSON(w, res)
}

// DeleteLogs deletes every stored event of policy (with its batch IDs), in one transaction, and its
// sensor reports: the next List no longer counts it. An upload that arrives afterwards is new data.
func (t *Threatlog) DeleteLogs(policy string) (DeleteResult, error) {
	n, err := t.store.DeleteCustomer(policy)
	if err != nil {
		return DeleteResult{}, err
	}
	log.Infof("deleted the %d stored events and the sensor reports of %s", n, policy)
	return DeleteResult{Policy: policy, Events: n, Sensor: sensors().Forget(ReporterID(t.blockKey, policy))}, nil
}

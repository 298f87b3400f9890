package threatadmin

import (
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/state"
	"github.com/threatstop/threatstop/plugin/threatstop"
)

// openAPI is the API's description, served at /api/v1/openapi.json; TestOpenAPI keeps it and routes
// the same.
//
//go:embed openapi.json
var openAPI []byte

// route is one operation of the API.
type route struct {
	method, path string // path in OpenAPI form: {name} for a parameter
	write        bool   // needs a token of scope write
	operator     bool   // operators only
	h            func(a *Admin, w http.ResponseWriter, r *http.Request, g grant)
}

// routes are every operation; the OpenAPI document lists exactly these.
var routes = []route{
	{method: "GET", path: "/api/v1/policies", h: (*Admin).listPolicies},
	{method: "POST", path: "/api/v1/policies", write: true, h: (*Admin).createPolicy},
	{method: "GET", path: "/api/v1/policies/{policy}", h: (*Admin).getPolicy},
	{method: "DELETE", path: "/api/v1/policies/{policy}", write: true, h: (*Admin).deletePolicy},
	{method: "PUT", path: "/api/v1/policies/{policy}/selection", write: true, h: (*Admin).putSelection},
	{method: "POST", path: "/api/v1/policies/{policy}/{list}", write: true, h: (*Admin).addEntry},
	{method: "POST", path: "/api/v1/policies/{policy}/{list}/import", write: true, h: (*Admin).importEntries},
	{method: "DELETE", path: "/api/v1/policies/{policy}/{list}/{value}", write: true, h: (*Admin).removeEntry},
	{method: "GET", path: "/api/v1/policies/{policy}/config/{device}", write: true, h: (*Admin).getSnippet},
	{method: "GET", path: "/api/v1/policies/{policy}/report", h: (*Admin).getReport},
	{method: "GET", path: "/api/v1/policies/{policy}/devices", h: (*Admin).listDevices},
	{method: "POST", path: "/api/v1/policies/{policy}/devices", write: true, h: (*Admin).createDevice},
	{method: "DELETE", path: "/api/v1/policies/{policy}/devices/{device}", write: true, h: (*Admin).deleteDevice},
	{method: "POST", path: "/api/v1/policies/{policy}/devices/{device}/rotate", write: true, h: (*Admin).rotateDevice},
	{method: "GET", path: "/api/v1/policies/{policy}/devices/{device}/config/{kind}", h: (*Admin).getDeviceSnippet},
	{method: "PUT", path: "/api/v1/policies/{policy}/lists", write: true, h: (*Admin).putUses},
	{method: "GET", path: "/api/v1/lists", h: (*Admin).listLists},
	{method: "POST", path: "/api/v1/lists", write: true, h: (*Admin).createList},
	{method: "GET", path: "/api/v1/lists/{name}", h: (*Admin).getList},
	{method: "DELETE", path: "/api/v1/lists/{name}", write: true, h: (*Admin).deleteListHTTP},
	{method: "POST", path: "/api/v1/lists/{name}/entries", write: true, h: (*Admin).addListEntry},
	{method: "DELETE", path: "/api/v1/lists/{name}/entries/{value}", write: true, h: (*Admin).removeListEntry},
	{method: "POST", path: "/api/v1/lists/{name}/import", write: true, h: (*Admin).importList},
	{method: "GET", path: "/api/v1/users", h: (*Admin).listUsers},
	{method: "POST", path: "/api/v1/users", write: true, h: (*Admin).createUser},
	{method: "DELETE", path: "/api/v1/users/{user}", write: true, h: (*Admin).deleteUser},
	{method: "GET", path: "/api/v1/tokens", h: (*Admin).listTokens},
	{method: "POST", path: "/api/v1/tokens", write: true, h: (*Admin).createToken},
	{method: "DELETE", path: "/api/v1/tokens/{id}", write: true, h: (*Admin).deleteToken},
	{method: "GET", path: "/api/v1/check", h: (*Admin).getCheck},
	{method: "GET", path: "/api/v1/audit", h: (*Admin).listAudit},
	{method: "GET", path: "/api/v1/customers", operator: true, h: (*Admin).listCustomers},
	{method: "GET", path: "/api/v1/feeds", operator: true, h: (*Admin).listFeeds},
}

const (
	maxBody   = 64 << 10
	maxImport = 16 << 20 // a list of a few hundred thousand entries
)

func (a *Admin) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	for _, rt := range routes {
		pattern := rt.method + " " + strings.Replace(rt.path, "{value}", "{value...}", 1) // a prefix has a '/'
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			g, ok := a.auth(r)
			switch {
			case !ok:
				w.Header().Set("WWW-Authenticate", `Bearer realm="threatstop"`)
				writeError(w, http.StatusUnauthorized, "a valid Bearer token is needed")
			case rt.operator && g.operator == "":
				writeError(w, http.StatusForbidden, "for operators only")
			case rt.write && !g.write:
				writeError(w, http.StatusForbidden, "this token may only read")
			default:
				rt.h(a, w, r, g)
			}
		})
	}
	a.portalRoutes(mux)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such resource; see /api/v1/openapi.json")
	})
	return counted{mux}
}

// auth finds the grant of the request's Bearer token.
func (a *Admin) auth(r *http.Request) (grant, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return grant{}, false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if g, ok := a.tokens[sum]; ok {
		return g, true
	}
	return a.tokenGrant(sum) // one made through the API

}

// policyOf is the policy named in the path when the caller's customer owns it. Another customer's
// policy is answered like one that does not exist: the answer tells nothing of it.
func (a *Admin) policyOf(w http.ResponseWriter, r *http.Request, g grant) (*state.State, *state.Policy, bool) {
	name := r.PathValue("policy")
	st := a.store.Load()
	p := st.Blocks[a.block].Policy(name)
	if p == nil || !a.owns(g, name) {
		writeError(w, http.StatusNotFound, "no such policy")
		return nil, nil, false
	}
	return st, p, true
}

// policyView is a policy as the API shows it.
type policyView struct {
	Name       string            `json:"name"`
	Serial     uint32            `json:"serial"`
	Lists      []string          `json:"lists"`
	AllowLists []string          `json:"allow_lists"`
	Answers    map[string]string `json:"answers"`
	Block      []string          `json:"block"`
	Allow      []string          `json:"allow"`
	UserLists  uses              `json:"user_lists"` // the customer's lists it takes in, beside Block and Allow
	MinScore   int               `json:"min_score,omitempty"`
	MinScores  map[string]int    `json:"min_scores,omitempty"`
	MaxEntries int               `json:"max_entries,omitempty"`
}

// view is policy p of st as the API shows it: its own entries apart from those of the user-defined lists
// it takes in.
func (a *Admin) view(st *state.State, p *state.Policy) policyView {
	v := policyView{Name: p.Name, Serial: st.Serial(p), Lists: []string{}, AllowLists: []string{}, Answers: map[string]string{},
		UserLists: uses{Block: []string{}, Allow: []string{}}}
	for _, id := range p.Config.Block {
		v.Lists = append(v.Lists, st.Catalog[id].Name)
	}
	for _, id := range p.Config.Allow {
		v.AllowLists = append(v.AllowLists, st.Catalog[id].Name)
	}
	for c, a := range p.Config.Answers {
		v.Answers[c] = a
	}
	v.MinScore, v.MinScores, v.MaxEntries = p.Config.MinScore, maps.Clone(p.Config.MinScores), p.Config.MaxEntries
	a.bolt.mu.Lock()
	defer a.bolt.mu.Unlock()
	v.Block, v.Allow = append([]string{}, a.ownLocked(p.Name, listBlock)...), append([]string{}, a.ownLocked(p.Name, listAllow)...)
	if u := a.deltaOf(p.Name).Uses; u != nil {
		v.UserLists.Block, v.UserLists.Allow = append(v.UserLists.Block, u.Block...), append(v.UserLists.Allow, u.Allow...)
	}
	return v
}

func (a *Admin) listPolicies(w http.ResponseWriter, _ *http.Request, g grant) {
	st := a.store.Load()
	out := []policyView{}
	for _, p := range st.Blocks[a.block].Policies {
		if a.owns(g, p.Name) {
			out = append(out, a.view(st, p))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Admin) getPolicy(w http.ResponseWriter, r *http.Request, g grant) {
	if st, p, ok := a.policyOf(w, r, g); ok {
		writeJSON(w, http.StatusOK, a.view(st, p))
	}
}

// newPolicy is the body of a policy's creation.
type newPolicy struct {
	Name     string   `json:"name"`
	Like     string   `json:"like"`     // served like this policy of the caller's; default: its first
	Customer string   `json:"customer"` // whose: a customer's token says, an operator names one
	Block    []string `json:"block"`
	Allow    []string `json:"allow"`
}

func (a *Admin) createPolicy(w http.ResponseWriter, r *http.Request, g grant) {
	var np newPolicy
	if !decodeBody(w, r, maxBody, &np, `the body must be {"name": ..., "like": ..., "block": [...], "allow": [...]}: `) {
		return
	}
	if !nameRE.MatchString(np.Name) || threatstop.Reserved(np.Name) {
		writeError(w, http.StatusBadRequest, "a policy's name is one DNS label of lowercase letters, digits and '-' (not rpz, catalog or config)")
		return
	}
	owner := np.Customer
	switch {
	case g.customer != nil && owner != "" && owner != g.customer.name:
		writeError(w, http.StatusForbidden, "a customer creates its own policies")
		return
	case g.customer != nil:
		owner = g.customer.name
	case !slices.ContainsFunc(a.customers, func(cu *customer) bool { return cu.name == owner }):
		writeError(w, http.StatusBadRequest, "an operator names the customer of the policy")
		return
	}
	var cu *customer
	for _, c := range a.customers {
		if c.name == owner {
			cu = c
		}
	}
	like := np.Like
	if like == "" {
		like = cu.policies[0]
	}
	st := a.store.Load()
	if st.Blocks[a.block].Policy(like) == nil || a.ownerOf(like) != owner {
		writeError(w, http.StatusBadRequest, "like: no policy "+strconv.Quote(like)+" of customer "+owner)
		return
	}
	var block, allow []string
	for _, l := range []struct {
		in  []string
		out *[]string
	}{{np.Block, &block}, {np.Allow, &allow}} {
		for _, e := range l.in {
			c, err := policy.Canonical(e)
			if err != nil {
				writeError(w, http.StatusBadRequest, err.Error())
				return
			}
			if !slices.Contains(*l.out, c) {
				*l.out = append(*l.out, c)
			}
		}
	}
	if _, err := a.create(g, remoteIP(r), owner, np.Name, like, block, allow); !failed(w, err) {
		return
	}
	edits.WithLabelValues("create").Inc()
	st = a.store.Load()
	writeJSON(w, http.StatusCreated, a.view(st, st.Blocks[a.block].Policy(np.Name)))
}

func (a *Admin) deletePolicy(w http.ResponseWriter, r *http.Request, g grant) {
	_, p, ok := a.policyOf(w, r, g)
	if !ok {
		return
	}
	if failed(w, a.remove(g, remoteIP(r), p.Name)) {
		edits.WithLabelValues("delete").Inc()
		w.WriteHeader(http.StatusNoContent)
	}
}

// getSnippet answers the configuration of a device for the policy, as text to paste.
func (a *Admin) getSnippet(w http.ResponseWriter, r *http.Request, g grant) {
	_, p, ok := a.policyOf(w, r, g)
	if !ok {
		return
	}
	key, secret := "", ""
	for _, k := range p.KeyNames() {
		if s, ok := a.secrets[k]; ok {
			key, secret = k, s
			break
		}
	}
	text, err := snippet(r.PathValue("device"), p, a.zone, a.primary, key, secret)
	if !failed(w, err) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store") // it holds a secret
	io.WriteString(w, text)
}

// getReport is threatlog's report of the policy (what its devices' uploaded logs say), scoped to the
// caller by the policy's owner.
func (a *Admin) getReport(w http.ResponseWriter, r *http.Request, g grant) {
	_, p, ok := a.policyOf(w, r, g)
	if !ok {
		return
	}
	if a.logs == nil {
		writeError(w, http.StatusNotFound, "no threatlog in this server block: no reports")
		return
	}
	a.logs.ServeReport(w, r, p.Name)
}

// getCheck is threatlog's Check IoC: which feeds hold the indicator and since when, and with policy=P
// what the caller's policy P does with it (another customer's policy is answered 404).
func (a *Admin) getCheck(w http.ResponseWriter, r *http.Request, g grant) {
	q := r.URL.Query()
	pol := q.Get("policy")
	if pol != "" && (a.store.Load().Blocks[a.block].Policy(pol) == nil || !a.owns(g, pol)) {
		writeError(w, http.StatusNotFound, "no such policy")
		return
	}
	if a.logs == nil {
		writeError(w, http.StatusNotFound, "no threatlog in this server block: no Check IoC")
		return
	}
	res, err := a.logs.Check(q.Get("ioc"), pol)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// entryResult answers an edit.
type entryResult struct {
	Policy string `json:"policy"`
	List   string `json:"list"`
	Value  string `json:"value"`
	Serial uint32 `json:"serial"`
}

func (a *Admin) addEntry(w http.ResponseWriter, r *http.Request, g grant) {
	_, p, ok := a.policyOf(w, r, g)
	if !ok {
		return
	}
	list, ok := listOf(w, r)
	if !ok {
		return
	}
	value, ok := entryOf(w, r)
	if !ok {
		return
	}
	changed, serial, err := a.edit(g, remoteIP(r), p.Name, list, value, false)
	if err != nil {
		editFailed(w, err)
		return
	}
	code := http.StatusOK // it was there already
	if changed {
		code = http.StatusCreated
		edits.WithLabelValues("add").Inc()
	}
	writeJSON(w, code, entryResult{Policy: p.Name, List: list, Value: value, Serial: serial})
}

func (a *Admin) removeEntry(w http.ResponseWriter, r *http.Request, g grant) {
	_, p, ok := a.policyOf(w, r, g)
	if !ok {
		return
	}
	list, ok := listOf(w, r)
	if !ok {
		return
	}
	value, err := policy.Canonical(r.PathValue("value"))
	if err != nil {
		writeError(w, http.StatusNotFound, "no such entry: "+err.Error())
		return
	}
	if _, _, err := a.edit(g, remoteIP(r), p.Name, list, value, true); failed(w, err) {
		edits.WithLabelValues("remove").Inc()
		w.WriteHeader(http.StatusNoContent)
	}
}

// lineError is an import line that is not an entry.
type lineError struct {
	Line  int    `json:"line"`
	Value string `json:"value"`
	Error string `json:"error"`
}

// importResult answers an import.
type importResult struct {
	Added   int         `json:"added"`
	Present int         `json:"present"`
	Removed int         `json:"removed"`
	Serial  uint32      `json:"serial"`
	Errors  []lineError `json:"errors"`
}

// importEntries adds every entry of a text list (one a line, '#' and ';' comments) or a CSV file
// (Content-Type text/csv: the first column; a first line without a dot or colon is a header) as one edit. Lines that are not
// entries are reported with their numbers and the rest is imported; with replace=true the list becomes
// the file's entries, and a file with errors changes nothing (422), since what it meant to keep is not
// known.
func (a *Admin) importEntries(w http.ResponseWriter, r *http.Request, g grant) {
	_, p, ok := a.policyOf(w, r, g)
	if !ok {
		return
	}
	list, ok := listOf(w, r)
	if !ok {
		return
	}
	values, errs, replace, ok := importOf(w, r)
	if !ok {
		return
	}
	res := importResult{Errors: errs}
	if replace && len(values) == 0 {
		// A failed download would otherwise unblock everything.
		writeError(w, http.StatusBadRequest, "replace=true needs at least one entry: it would empty the list")
		return
	}
	if replace && len(errs) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, res)
		return
	}
	cr, err := a.change(g, remoteIP(r), p.Name, list, values, nil, replace, "import",
		strconv.Itoa(len(values))+" entries"+map[bool]string{true: ", replace", false: ""}[replace])
	if err != nil {
		editFailed(w, err)
		return
	}
	if cr.added > 0 {
		edits.WithLabelValues("add").Add(float64(cr.added))
	}
	if cr.removed > 0 {
		edits.WithLabelValues("remove").Add(float64(cr.removed))
	}
	res.Added, res.Present, res.Removed, res.Serial = cr.added, cr.present, cr.removed, cr.serial
	writeJSON(w, http.StatusOK, res)
}

// decodeBody decodes r's JSON body (at most limit octets, no unknown field) into v, or answers 400 with
// what, the shape expected, and the decoder's reason.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any, what string) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, what+err.Error())
		return false
	}
	return true
}

// entryOf is the canonical entry of a {"value": ENTRY} body, or an answered 400.
func entryOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	var body struct {
		Value string `json:"value"`
	}
	if !decodeBody(w, r, maxBody, &body, `the body must be {"value": "ENTRY"}: `) {
		return "", false
	}
	v, err := policy.Canonical(body.Value)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return "", false
	}
	return v, true
}

// importOf reads an import request: its entries, the lines that are not entries, and ?replace=true; or
// answers 400 or 413.
func importOf(w http.ResponseWriter, r *http.Request) (values []string, errs []lineError, replace, ok bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxImport+1))
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
		return nil, nil, false, false
	case len(body) > maxImport:
		writeError(w, http.StatusRequestEntityTooLarge, "an import is at most 16 MiB")
		return nil, nil, false, false
	}
	values, errs = parseImport(string(body), strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv"))
	return values, errs, r.URL.Query().Get("replace") == "true", true
}

// parseImport reads an import body: the canonical entries, and the lines that are not entries.
func parseImport(body string, csv bool) ([]string, []lineError) {
	values, errs := []string{}, []lineError{}
	for n, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if csv {
			line, _, _ = strings.Cut(line, ",")
			line = strings.Trim(strings.TrimSpace(line), `"`)
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if i := strings.IndexAny(line, "#;"); i > 0 && !csv {
			line = strings.TrimSpace(line[:i]) // a comment after the entry
		}
		if csv && n == 0 && !strings.ContainsAny(line, ".:") {
			continue // a header: no address or name of a list is a single label
		}
		v, err := policy.Canonical(line)
		if err != nil {
			errs = append(errs, lineError{Line: n + 1, Value: line, Error: err.Error()})
			continue
		}
		values = append(values, v)
	}
	return values, errs
}

func (a *Admin) putSelection(w http.ResponseWriter, r *http.Request, g grant) {
	_, p, ok := a.policyOf(w, r, g)
	if !ok {
		return
	}
	var sel selection
	if !decodeBody(w, r, maxBody, &sel, "the body must be a selection (lists, categories, allow_lists, answers, actions): ") {
		return
	}
	serial, err := a.choose(g, remoteIP(r), p.Name, sel)
	if !failed(w, err) {
		return
	}
	st := a.store.Load()
	v := a.view(st, st.Blocks[a.block].Policy(p.Name))
	v.Serial = serial
	writeJSON(w, http.StatusOK, v)
}

func (a *Admin) listAudit(w http.ResponseWriter, r *http.Request, g grant) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "limit: 1 to 10000")
			return
		}
		limit = n
	}
	customer := "" // an operator reads every record
	if g.customer != nil {
		customer = g.customer.name
	}
	recs, err := audits(a.bolt.DB, customer, limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, recs)
}

// customerView is a customer as an operator sees it.
type customerView struct {
	Name     string   `json:"name"`
	Policies []string `json:"policies"`
}

func (a *Admin) listCustomers(w http.ResponseWriter, _ *http.Request, _ grant) {
	out := []customerView{}
	for _, cu := range a.customers {
		out = append(out, customerView{Name: cu.name, Policies: cu.policies})
	}
	writeJSON(w, http.StatusOK, out)
}

// listFeeds is the threatfeed status endpoint's document, for operators.
func (a *Admin) listFeeds(w http.ResponseWriter, _ *http.Request, _ grant) {
	writeJSON(w, http.StatusOK, map[string]any{"feeds": a.feeds.Status(), "ready": a.feeds.Ready()})
}

func listOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	switch l := r.PathValue("list"); l {
	case listBlock, listAllow:
		return l, true
	}
	writeError(w, http.StatusNotFound, "a policy's lists are block and allow")
	return "", false
}

func remoteIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// Status codes of the operations' errors; any other is editFailed's.
var (
	notFound = []error{errNoEntry, errNoKind, errNoDevice, errNoList, errNoUser, errNoToken}
	conflict = []error{errExists, errCorefile, errNoKey, errDeviceExists, errNoTSIG, errKeyTaken, errListExists, errListInUse, errUserExists}
)

// failed answers err of an operation, and reports whether there was none: 404 for what does not exist,
// 409 for what is in the way, 400 for what the request got wrong, else editFailed.
func failed(w http.ResponseWriter, err error) bool {
	is := func(errs []error) bool {
		return slices.ContainsFunc(errs, func(e error) bool { return errors.Is(err, e) })
	}
	var bad errBadSelection
	switch {
	case err == nil:
		return true
	case is(notFound):
		writeError(w, http.StatusNotFound, err.Error())
	case is(conflict):
		writeError(w, http.StatusConflict, err.Error())
	case errors.As(err, &bad), errors.Is(err, errWeak):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		editFailed(w, err)
	}
	return false
}

// editFailed answers an edit that did not happen: 503 while a reload hands the database over (the client
// retries), 500 otherwise.
func editFailed(w http.ResponseWriter, err error) {
	if errors.Is(err, errSuperseded) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeError(w, http.StatusInternalServerError, err.Error())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// counted counts requests by method and status.
type counted struct{ h http.Handler }

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) { s.code = code; s.ResponseWriter.WriteHeader(code) }

func (c counted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	c.h.ServeHTTP(sw, r)
	requests.WithLabelValues(r.Method, strconv.Itoa(sw.code)).Inc()
}

package threatadmin

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
)

// listView is a user-defined list as the API shows it.
type listView struct {
	Name     string    `json:"name"`
	Customer string    `json:"customer"`
	Count    int       `json:"count"`
	Entries  []string  `json:"entries,omitempty"` // GET of the one list
	Policies []string  `json:"policies"`          // those that take it in
	Updated  time.Time `json:"updated"`
}

// listCustomer is the customer whose lists the request names: the caller's, or for an operator the
// ?customer= one.
func (a *Admin) listCustomer(w http.ResponseWriter, r *http.Request, g grant) (string, bool) {
	if g.customer != nil {
		if c := r.URL.Query().Get("customer"); c != "" && c != g.customer.name {
			writeError(w, http.StatusNotFound, errNoList.Error())
			return "", false
		}
		return g.customer.name, true
	}
	c := r.URL.Query().Get("customer")
	if !slices.ContainsFunc(a.customers, func(cu *customer) bool { return cu.name == c }) {
		writeError(w, http.StatusBadRequest, "an operator names the customer: ?customer=NAME")
		return "", false
	}
	return c, true
}

func (a *Admin) listView(l userList, entries bool) listView {
	v := listView{Name: l.Name, Customer: l.Customer, Count: len(l.Entries), Policies: []string{}, Updated: l.Updated}
	if entries {
		v.Entries = append([]string{}, l.Entries...)
	}
	v.Policies = append(v.Policies, a.usersOf(l.Customer, l.Name)...)
	return v
}

func (a *Admin) listLists(w http.ResponseWriter, r *http.Request, g grant) {
	a.bolt.mu.Lock()
	out := []listView{}
	for _, l := range a.bolt.lists {
		if g.operator != "" || l.Customer == g.customer.name {
			out = append(out, a.listView(l, false))
		}
	}
	a.bolt.mu.Unlock()
	slices.SortFunc(out, func(x, y listView) int { return strings.Compare(x.Customer+"/"+x.Name, y.Customer+"/"+y.Name) })
	writeJSON(w, http.StatusOK, out)
}

func (a *Admin) getList(w http.ResponseWriter, r *http.Request, g grant) {
	c, ok := a.listCustomer(w, r, g)
	if !ok {
		return
	}
	a.bolt.mu.Lock()
	l, ok := a.bolt.lists[listID(c, r.PathValue("name"))]
	var v listView
	if ok {
		v = a.listView(l, true)
	}
	a.bolt.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, errNoList.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// listResult answers a change of a list.
type listResult struct {
	Name     string      `json:"name"`
	Added    int         `json:"added"`
	Present  int         `json:"present"`
	Removed  int         `json:"removed"`
	Policies []string    `json:"policies"` // edited: they take the list in
	Errors   []lineError `json:"errors"`
}

func (a *Admin) createList(w http.ResponseWriter, r *http.Request, g grant) {
	c, ok := a.listCustomer(w, r, g)
	if !ok {
		return
	}
	var body struct {
		Name    string   `json:"name"`
		Entries []string `json:"entries"`
	}
	if !decodeBody(w, r, maxImport, &body, `the body must be {"name": ..., "entries": [...]}: `) {
		return
	}
	if !nameRE.MatchString(body.Name) {
		writeError(w, http.StatusBadRequest, "a list's name is lowercase letters, digits and '-'")
		return
	}
	values := []string{}
	for _, e := range body.Entries {
		v, err := policy.Canonical(e)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		values = append(values, v)
	}
	res, err := a.changeList(g, remoteIP(r), c, body.Name, true, values, nil, false, "create", strconv.Itoa(len(values))+" entries")
	a.answerList(w, http.StatusCreated, body.Name, res, nil, err)
}

// answerList answers a change of list name.
func (a *Admin) answerList(w http.ResponseWriter, code int, name string, res listChange, errs []lineError, err error) {
	if failed(w, err) {
		if errs == nil {
			errs = []lineError{}
		}
		if res.added+res.removed > 0 {
			edits.WithLabelValues("list").Inc()
		}
		if res.added == 0 && res.removed == 0 && code == http.StatusCreated && res.present > 0 {
			code = http.StatusOK
		}
		writeJSON(w, code, listResult{Name: name, Added: res.added, Present: res.present, Removed: res.removed, Policies: append([]string{}, res.policies...), Errors: errs})
	}
}

func (a *Admin) deleteListHTTP(w http.ResponseWriter, r *http.Request, g grant) {
	c, ok := a.listCustomer(w, r, g)
	if !ok {
		return
	}
	if failed(w, a.deleteList(g, remoteIP(r), c, r.PathValue("name"))) {
		edits.WithLabelValues("list").Inc()
		w.WriteHeader(http.StatusNoContent)
	}
}

func (a *Admin) addListEntry(w http.ResponseWriter, r *http.Request, g grant) {
	c, ok := a.listCustomer(w, r, g)
	if !ok {
		return
	}
	v, ok := entryOf(w, r)
	if !ok {
		return
	}
	res, err := a.changeList(g, remoteIP(r), c, r.PathValue("name"), false, []string{v}, nil, false, "add", v)
	a.answerList(w, http.StatusCreated, r.PathValue("name"), res, nil, err)
}

func (a *Admin) removeListEntry(w http.ResponseWriter, r *http.Request, g grant) {
	c, ok := a.listCustomer(w, r, g)
	if !ok {
		return
	}
	v, err := policy.Canonical(r.PathValue("value"))
	if err != nil {
		writeError(w, http.StatusNotFound, "no such entry: "+err.Error())
		return
	}
	res, err := a.changeList(g, remoteIP(r), c, r.PathValue("name"), false, nil, []string{v}, false, "remove", v)
	if err == nil && res.removed == 0 {
		writeError(w, http.StatusNotFound, "no such entry")
		return
	}
	a.answerList(w, http.StatusOK, r.PathValue("name"), res, nil, err)
}

// importList adds a text or CSV file's entries to a list (with replace=true: makes the list them), as
// the policies' import does: per-line errors, and with replace a file with errors changes nothing.
func (a *Admin) importList(w http.ResponseWriter, r *http.Request, g grant) {
	c, ok := a.listCustomer(w, r, g)
	if !ok {
		return
	}
	values, errs, replace, ok := importOf(w, r)
	if !ok {
		return
	}
	if replace && len(errs) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, listResult{Name: r.PathValue("name"), Policies: []string{}, Errors: errs})
		return
	}
	res, err := a.changeList(g, remoteIP(r), c, r.PathValue("name"), false, values, nil, replace, "import",
		strconv.Itoa(len(values))+" entries"+map[bool]string{true: ", replace", false: ""}[replace])
	a.answerList(w, http.StatusOK, r.PathValue("name"), res, errs, err)
}

// putUses chooses the user-defined lists a policy takes in.
func (a *Admin) putUses(w http.ResponseWriter, r *http.Request, g grant) {
	_, p, ok := a.policyOf(w, r, g)
	if !ok {
		return
	}
	var u uses
	if !decodeBody(w, r, maxBody, &u, `the body must be {"block": [LIST...], "allow": [LIST...]}: `) {
		return
	}
	if _, err := a.use(g, remoteIP(r), p.Name, u); !failed(w, err) {
		return
	}
	edits.WithLabelValues("select").Inc()
	st := a.store.Load()
	writeJSON(w, http.StatusOK, a.view(st, st.Blocks[a.block].Policy(p.Name)))
}

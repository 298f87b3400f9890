package threatadmin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
)

// The portal's pages of user-defined lists: the customer's lists, one list with its entries, and on the
// policy editor the lists a policy takes in.

func (a *Admin) portalListRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /ui/lists", a.signedIn(false, a.listsPage))
	mux.HandleFunc("POST /ui/lists", a.signedIn(true, a.listsForm))
	mux.HandleFunc("GET /ui/lists/{name}", a.signedIn(false, a.listPage))
	mux.HandleFunc("POST /ui/lists/{name}", a.signedIn(true, a.listForm))
	mux.HandleFunc("POST /ui/policies/{policy}/lists", a.signedIn(true, a.usesForm))
}

// portalCustomer is the customer whose lists a portal request is about: the user's, or for an operator
// the customer field of the query or form.
func (a *Admin) portalCustomer(r *http.Request, pc portalCtx) (string, bool) {
	if pc.g.customer != nil {
		return pc.g.customer.name, true
	}
	c := r.FormValue("customer")
	return c, slices.ContainsFunc(a.customers, func(cu *customer) bool { return cu.name == c })
}

type listsPageData struct {
	Lists    []listView
	Operator bool
}

func (a *Admin) listsPage(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	a.bolt.mu.Lock()
	var rows []listView
	for _, l := range a.bolt.lists {
		if pc.g.operator != "" || l.Customer == pc.g.customer.name {
			rows = append(rows, a.listView(l, false))
		}
	}
	a.bolt.mu.Unlock()
	slices.SortFunc(rows, func(x, y listView) int { return strings.Compare(x.Customer+"/"+x.Name, y.Customer+"/"+y.Name) })
	q := r.URL.Query()
	a.render(w, http.StatusOK, "lists", &pc, pageData{Title: "Lists", Msg: q.Get("msg"), Err: q.Get("err"), Data: listsPageData{Lists: rows, Operator: pc.g.operator != ""}})
}

// listsForm makes a list, with the entries of its text box (one a line).
func (a *Admin) listsForm(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	c, ok := a.portalCustomer(r, pc)
	if !ok {
		back(w, r, "/ui/lists", "err", "an operator names the customer")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if !nameRE.MatchString(name) {
		back(w, r, "/ui/lists", "err", "a list's name is lowercase letters, digits and '-'")
		return
	}
	values, errs := parseImport(r.PostFormValue("entries"), false)
	if len(errs) > 0 {
		back(w, r, "/ui/lists", "err", fmt.Sprintf("line %d: %s", errs[0].Line, errs[0].Error))
		return
	}
	if _, err := a.changeList(pc.g, remoteIP(r), c, name, true, values, nil, false, "create", fmt.Sprintf("%d entries", len(values))); err != nil {
		back(w, r, "/ui/lists", "err", err.Error())
		return
	}
	edits.WithLabelValues("list").Inc()
	http.Redirect(w, r, listPagePath(c, name, pc)+"msg="+url.QueryEscape(fmt.Sprintf("Made list %s with %d entries", name, len(values))), http.StatusSeeOther)
}

// listPagePath is the page of list name, ending so that a query can follow.
func listPagePath(customer, name string, pc portalCtx) string {
	p := "/ui/lists/" + url.PathEscape(name) + "?"
	if pc.g.operator != "" {
		p += "customer=" + url.QueryEscape(customer) + "&"
	}
	return p
}

type listPageData struct {
	List     listView
	Customer string
	Errors   []lineError
}

func (a *Admin) listPage(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	c, ok := a.portalCustomer(r, pc)
	a.bolt.mu.Lock()
	l, found := a.bolt.lists[listID(c, r.PathValue("name"))]
	var v listView
	if found {
		v = a.listView(l, true)
	}
	a.bolt.mu.Unlock()
	if !ok || !found {
		a.render(w, http.StatusNotFound, "error", &pc, pageData{Title: "Not found", Err: "No such list."})
		return
	}
	q := r.URL.Query()
	a.render(w, http.StatusOK, "list", &pc, pageData{Title: "List " + v.Name, Msg: q.Get("msg"), Err: q.Get("err"), Data: listPageData{List: v, Customer: c}})
}

// listForm changes one list: op add or remove (value), import (entries, replace), delete.
func (a *Admin) listForm(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	c, ok := a.portalCustomer(r, pc)
	name := r.PathValue("name")
	if !ok {
		a.render(w, http.StatusNotFound, "error", &pc, pageData{Title: "Not found", Err: "No such list."})
		return
	}
	page := listPagePath(c, name, pc)
	done := func(key, text string) { http.Redirect(w, r, page+key+"="+url.QueryEscape(text), http.StatusSeeOther) }
	switch op := r.PostFormValue("op"); op {
	case "add", "remove":
		v, err := policy.Canonical(strings.TrimSpace(r.PostFormValue("value")))
		if err != nil {
			done("err", err.Error())
			return
		}
		add, del := []string{v}, []string(nil)
		if op == "remove" {
			add, del = nil, []string{v}
		}
		res, err := a.changeList(pc.g, remoteIP(r), c, name, false, add, del, false, op, v)
		switch {
		case errors.Is(err, errNoList):
			a.render(w, http.StatusNotFound, "error", &pc, pageData{Title: "Not found", Err: "No such list."})
		case err != nil:
			done("err", err.Error())
		case res.added+res.removed == 0:
			done("msg", "Nothing changed")
		default:
			edits.WithLabelValues("list").Inc()
			done("msg", fmt.Sprintf("%s %s; served by %d policies", map[string]string{"add": "Added", "remove": "Removed"}[op], v, len(res.policies)))
		}
	case "import":
		replace := r.PostFormValue("replace") != ""
		values, errs := parseImport(r.PostFormValue("entries"), false)
		if replace && len(errs) > 0 {
			a.renderList(w, pc, c, name, "Nothing changed: with replace, every line must be an entry.", errs)
			return
		}
		res, err := a.changeList(pc.g, remoteIP(r), c, name, false, values, nil, replace, "import", fmt.Sprintf("%d entries", len(values)))
		if err != nil {
			done("err", err.Error())
			return
		}
		edits.WithLabelValues("list").Inc()
		msg := fmt.Sprintf("Imported: %d added, %d there already, %d removed; served by %d policies", res.added, res.present, res.removed, len(res.policies))
		if len(errs) > 0 {
			a.renderList(w, pc, c, name, msg, errs)
			return
		}
		done("msg", msg)
	case "delete":
		if err := a.deleteList(pc.g, remoteIP(r), c, name); err != nil {
			done("err", err.Error())
			return
		}
		edits.WithLabelValues("list").Inc()
		back(w, r, "/ui/lists", "msg", "Removed list "+name)
	default:
		done("err", "unknown operation")
	}
}

// renderList shows a list's page with the lines of an import that were not entries.
func (a *Admin) renderList(w http.ResponseWriter, pc portalCtx, c, name, msg string, errs []lineError) {
	a.bolt.mu.Lock()
	v := a.listView(a.bolt.lists[listID(c, name)], true)
	a.bolt.mu.Unlock()
	a.render(w, http.StatusOK, "list", &pc, pageData{Title: "List " + name, Msg: msg, Data: listPageData{List: v, Customer: c, Errors: errs}})
}

// usesForm chooses the lists a policy takes in.
func (a *Admin) usesForm(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	_, p, ok := a.portalPolicy(w, r, pc)
	if !ok {
		return
	}
	r.ParseForm()
	u := uses{Block: append([]string{}, r.PostForm["block"]...), Allow: append([]string{}, r.PostForm["allow"]...)}
	page := "/ui/policies/" + url.PathEscape(p.Name)
	serial, err := a.use(pc.g, remoteIP(r), p.Name, u)
	if err != nil {
		back(w, r, page, "err", err.Error())
		return
	}
	edits.WithLabelValues("select").Inc()
	back(w, r, page, "msg", fmt.Sprintf("Lists changed: serial %d", serial))
}

// listChoice is a user-defined list on the policy editor.
type listChoice struct {
	Name         string
	Count        int
	Block, Allow bool
}

// listChoices are the lists of policy p's customer, with those p takes in marked.
func (a *Admin) listChoices(p string) []listChoice {
	a.bolt.mu.Lock()
	defer a.bolt.mu.Unlock()
	owner := a.ownerLocked(p)
	u := a.deltaOf(p).Uses
	var out []listChoice
	for _, l := range a.bolt.lists {
		if l.Customer == owner {
			out = append(out, listChoice{Name: l.Name, Count: len(l.Entries), Block: slices.Contains(u.of(listBlock), l.Name), Allow: slices.Contains(u.of(listAllow), l.Name)})
		}
	}
	slices.SortFunc(out, func(x, y listChoice) int { return strings.Compare(x.Name, y.Name) })
	return out
}

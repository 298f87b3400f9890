package threatadmin

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/state"
	"github.com/threatstop/threatstop/plugin/threatlog"
)

// The web portal, under /ui/: server-rendered pages (html/template, assets embedded, no script) over the
// same operations as the API, for the portal's users (user NAME HASH in a customer or operator block).
// Every form carries the session's CSRF token; every page is sent with a Content-Security-Policy that
// allows no script and only the embedded style sheet.

//go:embed portal
var portalFS embed.FS

// pages are the portal's templates, each with the layout.
var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"join": strings.Join,
		"date": func(t time.Time) string { return t.UTC().Format("2006-01-02") },
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"whenp": func(t *time.Time) string {
			if t == nil {
				return "never"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"query": url.QueryEscape,
		"path":  url.PathEscape,
	}
	out := map[string]*template.Template{}
	names, _ := portalFS.ReadDir("portal")
	for _, n := range names {
		if n.Name() == "layout.html" || !strings.HasSuffix(n.Name(), ".html") {
			continue
		}
		out[strings.TrimSuffix(n.Name(), ".html")] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(portalFS, "portal/layout.html", "portal/"+n.Name()))
	}
	return out
}()

// pageData is what every page gets.
type pageData struct {
	Title    string
	User     string
	Operator bool
	Write    bool
	CSRF     string
	Policies []string // the caller's, for the navigation
	Msg, Err string
	Data     any
}

// portalCtx is a signed-in request.
type portalCtx struct {
	g    grant
	user string
	csrf string
}

// portalRoutes are the portal's pages and forms; each needs a session, and a form its CSRF token.
func (a *Admin) portalRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /ui/static/style.css", func(w http.ResponseWriter, _ *http.Request) {
		b, _ := portalFS.ReadFile("portal/style.css")
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(b)
	})
	mux.HandleFunc("GET /ui/login", a.loginPage)
	mux.HandleFunc("POST /ui/login", a.login)
	mux.HandleFunc("GET /ui/{$}", a.signedIn(false, func(w http.ResponseWriter, r *http.Request, pc portalCtx) {
		http.Redirect(w, r, "/ui/policies", http.StatusSeeOther)
	}))
	mux.HandleFunc("POST /ui/logout", a.signedIn(false, a.logout))
	mux.HandleFunc("GET /ui/policies", a.signedIn(false, a.policiesPage))
	mux.HandleFunc("GET /ui/policies/{policy}", a.signedIn(false, a.policyPage))
	mux.HandleFunc("POST /ui/policies/{policy}/entries", a.signedIn(true, a.entryForm))
	mux.HandleFunc("POST /ui/policies/{policy}/selection", a.signedIn(true, a.selectionForm))
	mux.HandleFunc("GET /ui/policies/{policy}/devices", a.signedIn(false, a.devicesPage))
	mux.HandleFunc("POST /ui/policies/{policy}/devices", a.signedIn(true, a.deviceForm))
	mux.HandleFunc("GET /ui/policies/{policy}/devices/{device}/config/{kind}", a.signedIn(false, a.deviceSnippetPage))
	mux.HandleFunc("GET /ui/policies/{policy}/report", a.signedIn(false, a.reportPage))
	a.portalListRoutes(mux)
	mux.HandleFunc("GET /ui/check", a.signedIn(false, a.checkPage))
	mux.HandleFunc("GET /ui/audit", a.signedIn(false, a.auditPage))
	mux.HandleFunc("GET /ui/customers", a.signedIn(false, a.customersPage))
	mux.HandleFunc("GET /ui/feeds", a.signedIn(false, a.feedsPage))
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r)
	})
}

// securePage sets the headers of every portal answer.
func securePage(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

// render writes page with d.
func (a *Admin) render(w http.ResponseWriter, code int, page string, pc *portalCtx, d pageData) {
	securePage(w)
	if pc != nil {
		d.User, d.CSRF, d.Operator, d.Write = pc.user, pc.csrf, pc.g.operator != "", pc.g.write
		d.Policies = a.policiesOf(pc.g)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := pages[page].Execute(w, d); err != nil {
		log.Errorf("portal page %s: %v", page, err)
	}
}

// policiesOf are the names of the policies g covers, in the block's order.
func (a *Admin) policiesOf(g grant) []string {
	var out []string
	for _, p := range a.store.Load().Blocks[a.block].Policies {
		if a.owns(g, p.Name) {
			out = append(out, p.Name)
		}
	}
	return out
}

// grantOf is what user u may do.
func (a *Admin) grantOf(u *user) (grant, bool) {
	if u.operator != "" {
		return grant{operator: u.operator, write: u.write}, true
	}
	for _, cu := range a.customers {
		if cu.name == u.customer {
			return grant{customer: cu, write: u.write}, true
		}
	}
	return grant{}, false
}

// signedIn wraps a page that needs a session; with form, a form that also needs the CSRF token and a
// user who may write.
func (a *Admin) signedIn(form bool, h func(http.ResponseWriter, *http.Request, portalCtx)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		var se session
		ok := err == nil
		if ok {
			se, ok = a.bolt.portal.get(c.Value, a.now())
		}
		var g grant
		if u := a.userOf(se.user); ok && u != nil {
			g, ok = a.grantOf(u)
		} else {
			ok = false
		}
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			a.render(w, http.StatusUnauthorized, "login", nil, pageData{Title: "Sign in", Err: "Your session has ended: sign in again."})
			return
		}
		pc := portalCtx{g: g, user: se.user, csrf: se.csrf}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxImport)
			if !sameToken(r.PostFormValue("csrf"), se.csrf) {
				a.render(w, http.StatusForbidden, "error", &pc, pageData{Title: "Refused", Err: "This form is not from this session (CSRF token missing or wrong)."})
				return
			}
			if form && !g.write {
				a.render(w, http.StatusForbidden, "error", &pc, pageData{Title: "Refused", Err: "Your user may only read."})
				return
			}
		}
		h(w, r, pc)
	}
}

func (a *Admin) loginPage(w http.ResponseWriter, r *http.Request) {
	tok := randomToken()
	a.setCookie(w, r, csrfCookie, tok, 600)
	a.render(w, http.StatusOK, "login", nil, pageData{Title: "Sign in", CSRF: tok, Data: safeNext(r.URL.Query().Get("next"))})
}

// safeNext is where to go after signing in: a page of the portal, never another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/policies"
	}
	return next
}

func (a *Admin) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	name, pw, next := r.PostFormValue("user"), r.PostFormValue("password"), safeNext(r.PostFormValue("next"))
	c, err := r.Cookie(csrfCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), c.Value) {
		securePage(w)
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "This sign-in form is not from this browser (CSRF token missing or wrong): load /ui/login again.\n")
		return
	}
	ip, now := remoteIP(r), a.now()
	if a.bolt.portal.limited(ip, name, now) {
		logins.WithLabelValues("limited").Inc()
		w.Header().Set("Retry-After", fmt.Sprint(int(loginWindow.Seconds())))
		a.render(w, http.StatusTooManyRequests, "login", nil, pageData{Title: "Sign in", CSRF: c.Value, Data: next,
			Err: "Too many failed sign-ins from this address or for this user: try again in 15 minutes."})
		return
	}
	u, ok := a.checkPassword(name, pw)
	if !ok {
		a.bolt.portal.failed(ip, name, now)
		logins.WithLabelValues("failed").Inc()
		a.render(w, http.StatusUnauthorized, "login", nil, pageData{Title: "Sign in", CSRF: c.Value, Data: next, Err: "Wrong user name or password."})
		return
	}
	logins.WithLabelValues("ok").Inc()
	id, _ := a.bolt.portal.start(u.name, now)
	a.setCookie(w, r, sessionCookie, id, int(sessionMax.Seconds()))
	a.setCookie(w, r, csrfCookie, "", -1)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (a *Admin) logout(w http.ResponseWriter, r *http.Request, _ portalCtx) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.bolt.portal.end(c.Value)
	}
	a.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// portalPolicy is the policy of the path that pc covers, or a 404 page.
func (a *Admin) portalPolicy(w http.ResponseWriter, r *http.Request, pc portalCtx) (*state.State, *state.Policy, bool) {
	name := r.PathValue("policy")
	st := a.store.Load()
	p := st.Blocks[a.block].Policy(name)
	if p == nil || !a.owns(pc.g, name) {
		a.render(w, http.StatusNotFound, "error", &pc, pageData{Title: "Not found", Err: "No such policy."})
		return nil, nil, false
	}
	return st, p, true
}

// policyRow is a policy in the list of policies.
type policyRow struct {
	Name                string
	Serial              uint32
	Feeds, Block, Allow int
	Devices             int
	Customer            string
}

func (a *Admin) policiesPage(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	st := a.store.Load()
	var rows []policyRow
	for _, name := range a.policiesOf(pc.g) {
		p := st.Blocks[a.block].Policy(name)
		rows = append(rows, policyRow{Name: name, Serial: st.Serial(p), Feeds: len(p.Config.Block), Block: len(p.Config.Blocked),
			Allow: len(p.Config.Allowed), Devices: len(a.devicesOf(name)), Customer: a.ownerOf(name)}) // with the lists' entries
	}
	a.render(w, http.StatusOK, "policies", &pc, pageData{Title: "Policies", Msg: r.URL.Query().Get("msg"), Data: rows})
}

// feedRow is a feed as the policy editor shows it.
type feedRow struct {
	Name, Category  string
	Entries         int
	Listed, Allowed bool
}

// categoryRow is a category: its feeds and entries, and whether the policy takes it whole (a bundle:
// new feeds of the category come in by themselves).
type categoryRow struct {
	Name    string
	Feeds   int
	Entries int
	Whole   bool
}

type policyPageData struct {
	Name       string
	Serial     uint32
	Feeds      []feedRow
	Categories []categoryRow
	Block      []string
	Allow      []string
	Listed     int // entries of the feeds it lists, counted by feed
	UserLists  []listChoice
	Preview    *selectionPreview
}

// selectionPreview is what a change of feeds adds and removes.
type selectionPreview struct {
	Lists, Categories []string
	Added, Removed    []feedRow
	AddedEntries      int
	RemovedEntries    int
}

func (a *Admin) policyData(st *state.State, p *state.Policy) policyPageData {
	d := policyPageData{Name: p.Name, Serial: st.Serial(p), UserLists: a.listChoices(p.Name)}
	a.bolt.mu.Lock()
	d.Block, d.Allow = a.ownLocked(p.Name, listBlock), a.ownLocked(p.Name, listAllow)
	a.bolt.mu.Unlock()
	cats := map[string]*categoryRow{}
	for id, l := range st.Catalog {
		n := entriesOf(st, id)
		row := feedRow{Name: l.Name, Category: l.Category, Entries: n, Listed: slices.Contains(p.Config.Block, id), Allowed: slices.Contains(p.Config.Allow, id)}
		d.Feeds = append(d.Feeds, row)
		if row.Listed {
			d.Listed += n
		}
		if l.Category == "" {
			continue
		}
		c := cats[l.Category]
		if c == nil {
			c = &categoryRow{Name: l.Category}
			cats[l.Category] = c
		}
		c.Feeds++
		c.Entries += n
	}
	a.bolt.mu.Lock()
	var whole []string
	if sel := a.bolt.delta(p.Name).Selection; sel != nil {
		whole = sel.Categories
	}
	a.bolt.mu.Unlock()
	for _, k := range slices.Sorted(maps.Keys(cats)) {
		c := cats[k]
		c.Whole = slices.Contains(whole, k)
		d.Categories = append(d.Categories, *c)
	}
	return d
}

// entriesOf is the number of entries list id serves now.
func entriesOf(st *state.State, id int) int {
	if id < len(st.Snap.Lists) {
		return st.Snap.Lists[id].Entries
	}
	return 0
}

func (a *Admin) policyPage(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	st, p, ok := a.portalPolicy(w, r, pc)
	if !ok {
		return
	}
	q := r.URL.Query()
	a.render(w, http.StatusOK, "policy", &pc, pageData{Title: "Policy " + p.Name, Msg: q.Get("msg"), Err: q.Get("err"), Data: a.policyData(st, p)})
}

// back redirects to the page at path with a message (msg) or an error (err).
func back(w http.ResponseWriter, r *http.Request, path, key, text string) {
	http.Redirect(w, r, path+"?"+key+"="+url.QueryEscape(text), http.StatusSeeOther)
}

// entryForm adds or removes one own entry.
func (a *Admin) entryForm(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	_, p, ok := a.portalPolicy(w, r, pc)
	if !ok {
		return
	}
	page := "/ui/policies/" + url.PathEscape(p.Name)
	list := r.PostFormValue("list")
	if list != listBlock && list != listAllow {
		back(w, r, page, "err", "a policy's lists are block and allow")
		return
	}
	value, err := policy.Canonical(strings.TrimSpace(r.PostFormValue("value")))
	if err != nil {
		back(w, r, page, "err", err.Error())
		return
	}
	remove := r.PostFormValue("op") == "remove"
	changed, serial, err := a.edit(pc.g, remoteIP(r), p.Name, list, value, remove)
	switch {
	case errors.Is(err, errNoEntry):
		back(w, r, page, "err", value+" is not in the "+list+" list")
	case err != nil:
		back(w, r, page, "err", err.Error())
	case !changed:
		back(w, r, page, "msg", value+" was in the "+list+" list already")
	case remove:
		edits.WithLabelValues("remove").Inc()
		back(w, r, page, "msg", fmt.Sprintf("Removed %s from the %s list: serial %d", value, list, serial))
	default:
		edits.WithLabelValues("add").Inc()
		back(w, r, page, "msg", fmt.Sprintf("Added %s to the %s list: serial %d", value, list, serial))
	}
}

// selectionForm previews (preview=1) or applies a choice of feeds and whole categories; the policy's
// allow feeds, answers and actions stay.
func (a *Admin) selectionForm(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	st, p, ok := a.portalPolicy(w, r, pc)
	if !ok {
		return
	}
	page := "/ui/policies/" + url.PathEscape(p.Name)
	r.ParseForm()
	sel := selection{Lists: r.PostForm["list"], Categories: r.PostForm["category"], AllowLists: []string{}, Answers: maps.Clone(p.Config.Answers), Actions: map[string]string{}}
	if sel.Lists == nil {
		sel.Lists = []string{}
	}
	for _, id := range p.Config.Allow {
		sel.AllowLists = append(sel.AllowLists, st.Catalog[id].Name)
	}
	for k, act := range p.Config.Actions {
		sel.Actions[k] = act.String()
	}
	res, err := sel.resolve(a.store)
	if err != nil {
		back(w, r, page, "err", err.Error())
		return
	}
	if r.PostFormValue("apply") == "" {
		pv := &selectionPreview{Lists: sel.Lists, Categories: sel.Categories}
		for id, l := range st.Catalog {
			was, will := slices.Contains(p.Config.Block, id), slices.Contains(res.block, id)
			row := feedRow{Name: l.Name, Category: l.Category, Entries: entriesOf(st, id)}
			switch {
			case will && !was:
				pv.Added = append(pv.Added, row)
				pv.AddedEntries += row.Entries
			case was && !will:
				pv.Removed = append(pv.Removed, row)
				pv.RemovedEntries += row.Entries
			}
		}
		d := a.policyData(st, p)
		d.Preview = pv
		a.render(w, http.StatusOK, "policy", &pc, pageData{Title: "Policy " + p.Name, Data: d})
		return
	}
	serial, err := a.choose(pc.g, remoteIP(r), p.Name, sel)
	if err != nil {
		back(w, r, page, "err", err.Error())
		return
	}
	edits.WithLabelValues("select").Inc()
	back(w, r, page, "msg", fmt.Sprintf("Feeds changed: serial %d", serial))
}

type devicesPageData struct {
	Policy  string
	Devices []deviceView
	Made    *newDevice // the device just made or rotated, with its secrets: shown this once
	Kinds   []string
}

func (a *Admin) devicesPage(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	_, p, ok := a.portalPolicy(w, r, pc)
	if !ok {
		return
	}
	q := r.URL.Query()
	a.render(w, http.StatusOK, "devices", &pc, pageData{Title: "Devices of " + p.Name, Msg: q.Get("msg"), Err: q.Get("err"), Data: a.devicesData(p, nil)})
}

func (a *Admin) devicesData(p *state.Policy, made *newDevice) devicesPageData {
	d := devicesPageData{Policy: p.Name, Made: made, Kinds: append(slices.Clone(snippetKinds), "upload")}
	for _, dev := range a.devicesOf(p.Name) {
		d.Devices = append(d.Devices, viewDevice(dev))
	}
	return d
}

// deviceForm makes (op=create), rotates or revokes a device. The secrets are shown on the answer page,
// this once; it is not a redirect, so that they are in no URL and no history entry.
func (a *Admin) deviceForm(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	_, p, ok := a.portalPolicy(w, r, pc)
	if !ok {
		return
	}
	page := "/ui/policies/" + url.PathEscape(p.Name) + "/devices"
	name := r.PostFormValue("name")
	if !nameRE.MatchString(name) {
		back(w, r, page, "err", "a device's name is one DNS label of lowercase letters, digits and '-'")
		return
	}
	op := r.PostFormValue("op")
	if op == "revoke" {
		if err := a.revokeDevice(pc.g, remoteIP(r), p.Name, name); err != nil {
			back(w, r, page, "err", err.Error())
			return
		}
		edits.WithLabelValues("device").Inc()
		back(w, r, page, "msg", "Revoked "+name+": its key and upload token no longer work")
		return
	}
	d, sec, err := a.makeDevice(pc.g, remoteIP(r), p.Name, name, op == "rotate")
	if err != nil {
		back(w, r, page, "err", err.Error())
		return
	}
	edits.WithLabelValues("device").Inc()
	made := &newDevice{deviceView: viewDevice(d), Secret: sec.secret, UploadToken: sec.token, Configs: a.deviceSnippets(p, d, sec.secret, sec.token)}
	msg := "Made device " + name + ". Copy its secrets now: they are shown this once."
	if op == "rotate" {
		msg = "New secrets for " + name + ": the old ones no longer work. Copy these now: they are shown this once."
	}
	a.render(w, http.StatusOK, "devices", &pc, pageData{Title: "Devices of " + p.Name, Msg: msg, Data: a.devicesData(p, made)})
}

// deviceSnippetPage is a device's configuration of one kind, its secrets left out (shown once).
func (a *Admin) deviceSnippetPage(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	_, p, ok := a.portalPolicy(w, r, pc)
	if !ok {
		return
	}
	if text, _, ok := a.deviceSnippet(p, r.PathValue("device"), r.PathValue("kind")); ok {
		securePage(w)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, text)
		return
	}
	a.render(w, http.StatusNotFound, "error", &pc, pageData{Title: "Not found", Err: "No such device or kind."})
}

type reportPageData struct {
	Policy   string
	From, To string // YYYY-MM-DD, as the date pickers show them
	Device   string
	Devices  []string
	Report   *threatlog.Report
	Chart    chart
}

func (a *Admin) reportPage(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	_, p, ok := a.portalPolicy(w, r, pc)
	if !ok {
		return
	}
	if a.logs == nil {
		a.render(w, http.StatusNotFound, "error", &pc, pageData{Title: "No reports", Err: "This server block has no threatlog: no uploaded logs, no reports."})
		return
	}
	// The date pickers give days: to is the day after the last one shown.
	q := r.URL.Query()
	now := a.now().UTC()
	from, to := now.AddDate(0, 0, -6).Format("2006-01-02"), now.Format("2006-01-02")
	if v := q.Get("from"); v != "" {
		from = v
	}
	if v := q.Get("to"); v != "" {
		to = v
	}
	d := reportPageData{Policy: p.Name, From: from, To: to, Device: q.Get("device")}
	toDay, err := time.Parse("2006-01-02", to)
	if err != nil {
		a.render(w, http.StatusBadRequest, "report", &pc, pageData{Title: "Report of " + p.Name, Err: "to: not a date (YYYY-MM-DD)", Data: d})
		return
	}
	rq := r.Clone(r.Context())
	v := url.Values{"from": {from}, "to": {toDay.AddDate(0, 0, 1).Format("2006-01-02")}, "device": {d.Device}, "top": {"20"}}
	if st := q.Get("step"); st != "" {
		v.Set("step", st)
	}
	rq.URL = &url.URL{Path: "/report", RawQuery: v.Encode()}
	rep, err := a.logs.ReportOf(rq, p.Name)
	if err != nil {
		a.render(w, http.StatusBadRequest, "report", &pc, pageData{Title: "Report of " + p.Name, Err: err.Error(), Data: d})
		return
	}
	d.Report = rep
	for _, c := range rep.Devices {
		d.Devices = append(d.Devices, c.Name)
	}
	d.Chart = chartOf(rep)
	a.render(w, http.StatusOK, "report", &pc, pageData{Title: "Report of " + p.Name, Data: d})
}

type checkPageData struct {
	IOC, Policy string
	Result      *threatlog.CheckResult
}

func (a *Admin) checkPage(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	q := r.URL.Query()
	d := checkPageData{IOC: strings.TrimSpace(q.Get("ioc")), Policy: q.Get("policy")}
	pd := pageData{Title: "Check IoC", Data: &d}
	switch {
	case d.IOC == "":
	case a.logs == nil:
		pd.Err = "This server block has no threatlog, which answers Check IoC."
	case d.Policy != "" && (a.store.Load().Blocks[a.block].Policy(d.Policy) == nil || !a.owns(pc.g, d.Policy)):
		pd.Err = "No such policy."
	default:
		res, err := a.logs.Check(d.IOC, d.Policy)
		if err != nil {
			pd.Err = err.Error()
		} else {
			d.Result = res
		}
	}
	a.render(w, http.StatusOK, "check", &pc, pd)
}

func (a *Admin) auditPage(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	customer := ""
	if pc.g.customer != nil {
		customer = pc.g.customer.name
	}
	recs, err := audits(a.bolt.DB, customer, 200)
	pd := pageData{Title: "Audit log", Data: recs}
	if err != nil {
		pd.Err = err.Error()
	}
	slices.Reverse(recs) // newest first
	a.render(w, http.StatusOK, "audit", &pc, pd)
}

func (a *Admin) customersPage(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	if pc.g.operator == "" {
		a.render(w, http.StatusForbidden, "error", &pc, pageData{Title: "Refused", Err: "For operators only."})
		return
	}
	var rows []policyRow
	st := a.store.Load()
	for _, p := range st.Blocks[a.block].Policies {
		rows = append(rows, policyRow{Name: p.Name, Customer: a.ownerOf(p.Name), Serial: st.Serial(p), Feeds: len(p.Config.Block),
			Block: len(p.Config.Blocked), Allow: len(p.Config.Allowed), Devices: len(a.devicesOf(p.Name))})
	}
	a.render(w, http.StatusOK, "customers", &pc, pageData{Title: "Customers", Data: rows})
}

func (a *Admin) feedsPage(w http.ResponseWriter, r *http.Request, pc portalCtx) {
	if pc.g.operator == "" {
		a.render(w, http.StatusForbidden, "error", &pc, pageData{Title: "Refused", Err: "For operators only."})
		return
	}
	a.render(w, http.StatusOK, "feeds", &pc, pageData{Title: "Feeds", Data: a.feeds.Status()})
}

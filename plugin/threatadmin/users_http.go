package threatadmin

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// userView is a portal user as the API shows it (never its hash).
type userView struct {
	Name     string    `json:"name"`
	Customer string    `json:"customer"`
	Scope    string    `json:"scope"`
	Source   string    `json:"source"` // corefile or api
	Created  time.Time `json:"created,omitzero"`
}

// tokenView is an API token as the API shows it: its ID (the first 16 hex digits of its SHA-256), never
// the token.
type tokenView struct {
	ID       string    `json:"id"`
	Customer string    `json:"customer"`
	Label    string    `json:"label"`
	Scope    string    `json:"scope"`
	Created  time.Time `json:"created"`
}

func scopeOf(write bool) string {
	if write {
		return "write"
	}
	return "read"
}

// scopeWrite reads a body's scope: "write" (the default) or "read".
func scopeWrite(s string) (bool, bool) {
	switch s {
	case "", "write":
		return true, true
	case "read":
		return false, true
	}
	return false, false
}

func (a *Admin) listUsers(w http.ResponseWriter, r *http.Request, g grant) {
	c, ok := a.listCustomer(w, r, g)
	if !ok {
		return
	}
	out := []userView{}
	for _, u := range a.users {
		if u.customer == c {
			out = append(out, userView{Name: u.name, Customer: c, Scope: scopeOf(u.write), Source: "corefile"})
		}
	}
	a.bolt.mu.Lock()
	for _, u := range a.bolt.users {
		if u.Customer == c && a.users[u.Name] == nil {
			out = append(out, userView{Name: u.Name, Customer: c, Scope: scopeOf(u.Write), Source: "api", Created: u.Created})
		}
	}
	a.bolt.mu.Unlock()
	slices.SortFunc(out, func(x, y userView) int { return strings.Compare(x.Name, y.Name) })
	writeJSON(w, http.StatusOK, out)
}

func (a *Admin) createUser(w http.ResponseWriter, r *http.Request, g grant) {
	c, ok := a.listCustomer(w, r, g)
	if !ok {
		return
	}
	var body struct {
		Name     string `json:"name"`
		Password string `json:"password"`
		Scope    string `json:"scope"`
	}
	if !decodeBody(w, r, maxBody, &body, `the body must be {"name": ..., "password": ..., "scope": "read"|"write"}: `) {
		return
	}
	canWrite, ok := scopeWrite(body.Scope)
	if !nameRE.MatchString(body.Name) || !ok {
		writeError(w, http.StatusBadRequest, "a user's name is lowercase letters, digits and '-'; the scope read or write")
		return
	}
	if failed(w, a.makeUser(g, remoteIP(r), c, body.Name, body.Password, canWrite)) {
		writeJSON(w, http.StatusCreated, userView{Name: body.Name, Customer: c, Scope: scopeOf(canWrite), Source: "api", Created: a.now().UTC()})
	}
}

func (a *Admin) deleteUser(w http.ResponseWriter, r *http.Request, g grant) {
	c, ok := a.listCustomer(w, r, g)
	if !ok {
		return
	}
	if failed(w, a.removeUser(g, remoteIP(r), c, r.PathValue("user"))) {
		w.WriteHeader(http.StatusNoContent)
	}
}

func (a *Admin) listTokens(w http.ResponseWriter, r *http.Request, g grant) {
	c, ok := a.listCustomer(w, r, g)
	if !ok {
		return
	}
	out := []tokenView{}
	a.bolt.mu.Lock()
	for key, t := range a.bolt.tokens {
		if t.Customer == c {
			out = append(out, tokenView{ID: key[:16], Customer: c, Label: t.Label, Scope: scopeOf(t.Write), Created: t.Created})
		}
	}
	a.bolt.mu.Unlock()
	slices.SortFunc(out, func(x, y tokenView) int { return x.Created.Compare(y.Created) })
	writeJSON(w, http.StatusOK, out)
}

func (a *Admin) createToken(w http.ResponseWriter, r *http.Request, g grant) {
	c, ok := a.listCustomer(w, r, g)
	if !ok {
		return
	}
	var body struct {
		Label string `json:"label"`
		Scope string `json:"scope"`
	}
	if !decodeBody(w, r, maxBody, &body, `the body must be {"label": ..., "scope": "read"|"write"}: `) {
		return
	}
	canWrite, ok := scopeWrite(body.Scope)
	if !ok || len(body.Label) > 100 {
		writeError(w, http.StatusBadRequest, "the scope is read or write; a label at most 100 characters")
		return
	}
	tok, id, err := a.makeToken(g, remoteIP(r), c, body.Label, canWrite)
	if err != nil {
		editFailed(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, struct {
		tokenView
		Token string `json:"token"`
	}{tokenView{ID: id, Customer: c, Label: body.Label, Scope: scopeOf(canWrite), Created: a.now().UTC()}, tok})
}

func (a *Admin) deleteToken(w http.ResponseWriter, r *http.Request, g grant) {
	c, ok := a.listCustomer(w, r, g)
	if !ok {
		return
	}
	if failed(w, a.removeToken(g, remoteIP(r), c, r.PathValue("id"))) {
		w.WriteHeader(http.StatusNoContent)
	}
}

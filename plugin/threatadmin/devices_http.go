package threatadmin

import (
	"io"
	"net/http"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// deviceView is a device as the API shows it: never its secret or its token.
type deviceView struct {
	Name      string    `json:"name"`
	Policy    string    `json:"policy"`
	Key       string    `json:"key"`
	Algorithm string    `json:"algorithm"`
	Created   time.Time `json:"created"`
	Rotated   time.Time `json:"rotated,omitzero"`
}

func viewDevice(d device) deviceView {
	return deviceView{Name: d.Name, Policy: d.Policy, Key: d.Key, Algorithm: "hmac-sha256", Created: d.Created, Rotated: d.Rotated}
}

// newDevice answers a device's creation or rotation: its secrets, shown this once, and its
// configurations with them.
type newDevice struct {
	deviceView
	Secret      string            `json:"secret"`
	UploadToken string            `json:"upload_token"`
	Configs     map[string]string `json:"configs"`
}

func (a *Admin) listDevices(w http.ResponseWriter, r *http.Request, g grant) {
	_, p, ok := a.policyOf(w, r, g)
	if !ok {
		return
	}
	out := []deviceView{}
	for _, d := range a.devicesOf(p.Name) {
		out = append(out, viewDevice(d))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Admin) createDevice(w http.ResponseWriter, r *http.Request, g grant) {
	_, p, ok := a.policyOf(w, r, g)
	if !ok {
		return
	}
	var body struct {
		Name string `json:"name"`
	}
	if !decodeBody(w, r, maxBody, &body, `the body must be {"name": ...}: `) {
		return
	}
	if !nameRE.MatchString(body.Name) {
		writeError(w, http.StatusBadRequest, "a device's name is one DNS label of lowercase letters, digits and '-'")
		return
	}
	a.answerDevice(w, r, g, p.Name, body.Name, false)
}

func (a *Admin) rotateDevice(w http.ResponseWriter, r *http.Request, g grant) {
	if _, p, ok := a.policyOf(w, r, g); ok {
		a.answerDevice(w, r, g, p.Name, r.PathValue("device"), true)
	}
}

// answerDevice makes or rotates a device and answers its secrets.
func (a *Admin) answerDevice(w http.ResponseWriter, r *http.Request, g grant, p, name string, rotate bool) {
	d, sec, err := a.makeDevice(g, remoteIP(r), p, name, rotate)
	if !failed(w, err) {
		return
	}
	edits.WithLabelValues("device").Inc()
	pol := a.store.Load().Blocks[a.block].Policy(p)
	code := http.StatusCreated
	if rotate {
		code = http.StatusOK
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, newDevice{deviceView: viewDevice(d), Secret: sec.secret, UploadToken: sec.token, Configs: a.deviceSnippets(pol, d, sec.secret, sec.token)})
}

func (a *Admin) deleteDevice(w http.ResponseWriter, r *http.Request, g grant) {
	if _, p, ok := a.policyOf(w, r, g); ok && failed(w, a.revokeDevice(g, remoteIP(r), p.Name, r.PathValue("device"))) {
		edits.WithLabelValues("device").Inc()
		w.WriteHeader(http.StatusNoContent)
	}
}

// getDeviceSnippet is a device's configuration of one kind, without its secrets (shown once, when it was
// made or rotated): the placeholder stands for them.
func (a *Admin) getDeviceSnippet(w http.ResponseWriter, r *http.Request, g grant) {
	_, p, ok := a.policyOf(w, r, g)
	if !ok {
		return
	}
	text, found, ok := a.deviceSnippet(p, r.PathValue("device"), r.PathValue("kind"))
	switch {
	case !found:
		writeError(w, http.StatusNotFound, errNoDevice.Error())
	case !ok:
		writeError(w, http.StatusNotFound, "no such kind: bind, unbound, powerdns, threatstop-sync, nftables or upload (with threatlog)")
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, text)
	}
}

// deviceSnippet is the configuration of kind of device name of policy p, the secrets left out; found
// says whether there is such a device, ok such a kind.
func (a *Admin) deviceSnippet(p *state.Policy, name, kind string) (text string, found, ok bool) {
	for _, d := range a.devicesOf(p.Name) {
		if d.Name == name {
			text, ok = a.deviceSnippets(p, d, secretPlaceholder, secretPlaceholder)[kind]
			return text, true, ok
		}
	}
	return "", false, false
}

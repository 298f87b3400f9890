package format

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// misp: MISP event JSON, {"Event": {"Attribute": [...], "Object": [{"Attribute": [...]}, ...]}}; also a
// list of such events, {"response": [events]}, {"response": {"Attribute": [...]}} (an attribute search)
// and a bare event object. Each attribute is a record, the event's own first, then its objects'. Listed
// types: ip-src, ip-dst (address or prefix), ip-src|port, ip-dst|port, domain, hostname, hostname|port,
// domain|ip (both the name and the address). Other types are skipped, as are deleted attributes and, by
// default, attributes whose to_ids flag is off or absent; the option
//
//	all_attributes
//
// lists those too.
type misp struct{ all bool }

func init() {
	register(Format{Name: "misp", Options: []string{"all_attributes"}, New: func(opts map[string][]string) (Parser, error) {
		if v, ok := opts["all_attributes"]; ok {
			if len(v) != 0 {
				return nil, fmt.Errorf("all_attributes takes no value")
			}
			return misp{all: true}, nil
		}
		return misp{}, nil
	}})
}

type mispEvent struct {
	Attribute json.RawMessage `json:"Attribute"`
	Object    json.RawMessage `json:"Object"`
}

func (p misp) Parse(data string, b *entryset.Builder, st *Stats) {
	data, ok := jsonBody(data, st)
	if !ok {
		return
	}
	recs := jsonRecords{st: st}
	attrs := func(raw json.RawMessage) {
		if len(raw) == 0 || string(raw) == "null" {
			return
		}
		if !eachElement(raw, func(a json.RawMessage) { p.attribute(recs.next(), a, b, st) }) {
			st.invalid(recs.next(), rawText(raw), "Attribute is not an array")
		}
	}
	event := func(raw json.RawMessage) {
		var ev mispEvent
		if json.Unmarshal(raw, &ev) != nil {
			st.invalid(recs.next(), rawText(raw), "not a MISP event")
			return
		}
		attrs(ev.Attribute)
		if len(ev.Object) == 0 || string(ev.Object) == "null" {
			return
		}
		if !eachElement(ev.Object, func(o json.RawMessage) {
			var obj struct {
				Attribute json.RawMessage `json:"Attribute"`
			}
			if json.Unmarshal(o, &obj) != nil {
				st.invalid(recs.next(), rawText(o), "not a MISP object")
				return
			}
			attrs(obj.Attribute)
		}) {
			st.invalid(recs.next(), rawText(ev.Object), "Object is not an array")
		}
	}
	// wrapped unwraps {"Event": {...}}; anything else is taken as the event itself.
	wrapped := func(raw json.RawMessage) {
		var w struct {
			Event json.RawMessage `json:"Event"`
		}
		if json.Unmarshal(raw, &w) == nil && len(w.Event) > 0 {
			event(w.Event)
			return
		}
		event(raw)
	}
	body := json.RawMessage(data)
	if eachElement(body, wrapped) {
		return
	}
	var top struct {
		Response  json.RawMessage `json:"response"`
		Event     json.RawMessage `json:"Event"`
		Attribute json.RawMessage `json:"Attribute"`
		Object    json.RawMessage `json:"Object"`
	}
	if json.Unmarshal(body, &top) != nil || top.Response == nil && top.Event == nil && top.Attribute == nil && top.Object == nil {
		st.Lines++
		st.invalid(1, firstLine(data), "not a MISP event, event list or response")
		return
	}
	if len(top.Response) > 0 {
		if !eachElement(top.Response, wrapped) {
			wrapped(top.Response)
		}
		return
	}
	wrapped(body)
}

// attribute lists one MISP attribute.
func (p misp) attribute(n int, raw json.RawMessage, b *entryset.Builder, st *Stats) {
	var a struct {
		Type    string          `json:"type"`
		Value   *string         `json:"value"`
		ToIDS   json.RawMessage `json:"to_ids"`
		Deleted json.RawMessage `json:"deleted"`
	}
	if json.Unmarshal(raw, &a) != nil || a.Type == "" || a.Value == nil {
		st.invalid(n, rawText(raw), "not an attribute with a type and a value")
		return
	}
	toIDS, ok1 := jsonBool(a.ToIDS, false)
	deleted, ok2 := jsonBool(a.Deleted, false)
	if !ok1 || !ok2 {
		st.invalid(n, rawText(raw), "to_ids or deleted is not a flag")
		return
	}
	value := strings.TrimSpace(*a.Value)
	var parts [2]string
	switch a.Type {
	case "ip-src", "ip-dst", "domain", "hostname":
		parts[0] = value
	case "ip-src|port", "ip-dst|port", "hostname|port":
		i := strings.LastIndexByte(value, '|')
		if i < 0 {
			st.invalid(n, value, a.Type+" without '|'")
			return
		}
		if _, ok := atoi(value[i+1:]); !ok {
			st.invalid(n, value, a.Type+" with a bad port")
			return
		}
		parts[0] = value[:i]
	case "domain|ip":
		i := strings.IndexByte(value, '|')
		if i < 0 {
			st.invalid(n, value, "domain|ip without '|'")
			return
		}
		parts[0], parts[1] = value[:i], value[i+1:]
	default:
		st.skip("type") // hashes, file names, links, ...
		return
	}
	switch {
	case deleted:
		st.skip("deleted")
		return
	case !toIDS && !p.all:
		st.skip("to_ids")
		return
	}
	// Check every part before adding any, so that a record is an entry or invalid, never both.
	isIP := strings.HasPrefix(a.Type, "ip-")
	for i, s := range parts {
		if i == 1 && s == "" {
			continue
		}
		if ok := mispValid(s, isIP || i == 1); !ok {
			st.invalid(n, value, "not a valid "+a.Type)
			return
		}
	}
	for i, s := range parts {
		switch {
		case i == 1 && s == "":
		case isIP || i == 1:
			addNet(s, b, st)
		default:
			addDomain(s, false, b, st)
		}
	}
}

// mispValid reports whether s is an address or prefix (ip) or a listable name.
func mispValid(s string, ip bool) bool {
	if ip {
		_, ok := parseNet(s)
		return ok
	}
	_, ok := listableName(s)
	return ok
}

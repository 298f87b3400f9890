package format

import (
	"bytes"
	"encoding/json"
	"strings"
	"unsafe"
)

// JSON formats count records, not text lines: Stats.Lines is the number of records seen, and an Issue's
// Line is the 1-based index of the record in the body (in document order). A body that is not one valid
// JSON value counts as one invalid line and gives nothing, so a truncated or replaced download never
// replaces a feed's last good version with part of itself.

// jsonBody returns data without a byte order mark and whether it is one JSON value, counting it as one
// invalid line when it is not.
func jsonBody(data string, st *Stats) (string, bool) {
	data = trimBOM(data)
	if json.Valid(unsafe.Slice(unsafe.StringData(data), len(data))) {
		return data, true
	}
	st.Lines++
	st.invalid(1, firstLine(data), "not valid JSON")
	return data, false
}

// firstLine is the first non-blank line of data, for a sample.
func firstLine(data string) string {
	data = strings.TrimSpace(data)
	if i := strings.IndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	}
	return strings.TrimSpace(data)
}

// jsonRecords walks the records of a JSON body, numbering them.
type jsonRecords struct {
	st *Stats
	n  int
}

// next counts one record and returns its number.
func (r *jsonRecords) next() int {
	r.n++
	r.st.Lines++
	return r.n
}

// newDecoder decodes data, which jsonValid accepted.
func newDecoder(data string) *json.Decoder {
	d := json.NewDecoder(strings.NewReader(data))
	d.UseNumber()
	return d
}

// eachElement calls fn with each element of the JSON array raw; it reports false when raw is no array.
func eachElement(raw json.RawMessage, fn func(json.RawMessage)) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return false
	}
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil {
		return false
	}
	for _, e := range elems {
		fn(e)
	}
	return true
}

// rawText is a record's compact text, for a sample.
func rawText(raw json.RawMessage) string {
	var b bytes.Buffer
	if len(raw) > 1024 {
		raw = raw[:1024]
	}
	if json.Compact(&b, raw) != nil {
		return string(bytes.Join(bytes.Fields(raw), []byte(" ")))
	}
	return b.String()
}

// jsonBool reads a flag written as true/false, "1"/"0", "true"/"false", "yes"/"no" or 1/0; ok is false
// for anything else. An absent flag (empty raw) is def.
func jsonBool(raw json.RawMessage, def bool) (v, ok bool) {
	s := strings.ToLower(strings.Trim(string(bytes.TrimSpace(raw)), `"`))
	switch s {
	case "":
		return def, len(bytes.TrimSpace(raw)) == 0
	case "true", "1", "yes":
		return true, true
	case "false", "0", "no", "null":
		return false, true
	}
	return false, false
}

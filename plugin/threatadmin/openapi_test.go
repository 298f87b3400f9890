package threatadmin_test

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/threatstop/threatstop/plugin/threatadmin"
)

type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Required []string `json:"required"`
		} `json:"schemas"`
	} `json:"components"`
}

func loadDoc(t *testing.T, b []byte) openAPIDoc {
	t.Helper()
	var d openAPIDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestOpenAPI: the document in the repository is the one served, it describes exactly the operations the
// handler routes, and the answers carry the properties its schemas require.
func TestOpenAPI(t *testing.T) {
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(file) != string(threatadmin.OpenAPI()) {
		t.Fatal("the embedded document is not openapi.json")
	}
	doc := loadDoc(t, file)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q, want 3.x", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	routed := threatadmin.Routes()
	sort.Strings(documented)
	sort.Strings(routed)
	if !slices.Equal(documented, routed) {
		t.Errorf("documented operations %q,\nrouted %q", documented, routed)
	}

	api := freeAddr(t)
	start(t, t.TempDir(), api)
	code, body := call(t, "GET", "http://"+api+"/api/v1/openapi.json", "", "")
	if code != http.StatusOK || body != string(file) {
		t.Errorf("GET openapi.json: %d, not the document", code)
	}
	check := func(what, body, schema string) {
		var obj map[string]any
		if err := json.Unmarshal([]byte(body), &obj); err != nil {
			t.Errorf("%s: %v: %s", what, err, body)
			return
		}
		for _, k := range doc.Components.Schemas[schema].Required {
			if _, ok := obj[k]; !ok {
				t.Errorf("%s: no %q, which schema %s requires: %s", what, k, schema, body)
			}
		}
	}
	_, body = call(t, "GET", "http://"+api+"/api/v1/policies/demo", demoToken, "")
	check("GET policy", body, "Policy")
	_, body = call(t, "POST", "http://"+api+"/api/v1/policies/demo/block", demoToken, `{"value":"192.0.2.1"}`)
	check("POST block", body, "EntryResult")
	_, body = call(t, "GET", "http://"+api+"/api/v1/audit", demoToken, "")
	var recs []json.RawMessage
	if err := json.Unmarshal([]byte(body), &recs); err != nil || len(recs) != 1 {
		t.Fatalf("audit: %s", body)
	}
	check("audit record", string(recs[0]), "Audit")
	_, body = call(t, "GET", "http://"+api+"/api/v1/policies/nope", demoToken, "")
	check("404", body, "Error")
}

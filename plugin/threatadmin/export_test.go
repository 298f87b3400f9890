package threatadmin

// Routes lists the operations the handler serves, as "METHOD PATH" in OpenAPI form.
func Routes() []string {
	out := []string{"GET /api/v1/openapi.json"}
	for _, r := range routes {
		out = append(out, r.method+" "+r.path)
	}
	return out
}

// OpenAPI is the embedded document.
func OpenAPI() []byte { return openAPI }

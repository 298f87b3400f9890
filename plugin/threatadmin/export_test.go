package threatadmin

import "github.com/coredns/caddy"

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

// Follow is the instance that inst runs as now, after the restarts that device changes made.
func Follow(inst *caddy.Instance) *caddy.Instance {
	for {
		next, ok := successors.Load(inst)
		if !ok {
			return inst
		}
		inst = next.(*caddy.Instance)
	}
}

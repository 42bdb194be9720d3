// Package api holds attestd's generated API code (attestd/v1, from proto/attestd/v1 by `make generate`) and
// the OpenAPI (Swagger 2.0) document of its REST/JSON routes, generated from the same protos and the route
// file proto/attestd/v1/attestd_http.yaml. Nothing here is edited by hand but this file.
package api

import _ "embed"

//go:embed attestd.swagger.json
var openAPI []byte

// OpenAPI returns the OpenAPI document of the REST/JSON API (attestd serves it at /openapi.json).
func OpenAPI() []byte { return openAPI }

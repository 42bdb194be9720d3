// Package server is attestd's transport layer: the gRPC services of api/attestd/v1, the interceptors every call
// passes through (panic recovery, logging, metrics, bearer-token authentication), health, and the plain HTTP
// endpoints (/healthz, /metrics).
//
// It turns requests into calls on the domain core (package attestation) and the store (internal/store), and is
// the one place where domain and storage errors become gRPC status codes (errors.go). Handlers never leak
// internal error text: an unexpected error is logged with its context and answered with a generic INTERNAL.
//
// Tenancy is enforced here: every handler resolves the project through the caller's token first, and a project
// the token cannot see is NOT_FOUND, exactly as if it did not exist.
//
// The package must never run commands, fetch URLs found in attestations, or call os.Exit.
package server

// Package archtest holds no code, only a test that enforces the import direction of DESIGN.md: the domain
// core (attestation) and the pure verifier never import the server, the generated API or internal packages,
// and storage never imports gRPC.
package archtest

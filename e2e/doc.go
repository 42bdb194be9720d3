// Package e2e holds end-to-end tests: they build the real attestd and attest binaries, start attestd on a fresh
// PostgreSQL database, and run the commands a user types, checking what they print and their exit codes.
package e2e

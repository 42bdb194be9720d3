// Package e2e holds end-to-end tests: they build the real attestd and attest binaries, start attestd, and run
// the commands a user types, checking what they print and their exit codes.
//
// The user journeys (the README's walkthrough, layouts, policies, verification, the audit) run once per
// database backend, as subtests named "postgres" (a fresh database on the server of package dbtest) and
// "sqlite" (a fresh file), so that `go test -run 'TestVerify/sqlite' ./e2e/` picks one. Without a reachable
// PostgreSQL the "postgres" subtests are skipped, or fail with ATTESTD_REQUIRE_DB=1. The kill test and the
// python in-toto test run on PostgreSQL alone; TestNothingElseInstalled runs attestd on its embedded default,
// with no --database-url at all.
package e2e

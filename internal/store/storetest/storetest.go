// Package storetest is the conformance suite of store.Store: the executable form of the promises written in
// package store. Every backend runs it from its own tests, with a function that opens a new, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			st, err := postgres.Open(t.Context(), dbtest.New(t))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return st
//		})
//	}
//
// The suite knows nothing of any database. Beyond the comments of store.go it expects what attestd relies on:
//   - a Filter without Limit returns at most 100 attestations (defaultPageSize);
//   - ListProjects orders names byte by byte, not by a locale;
//   - TokenByHash finds revoked tokens too (the caller checks RevokedAt);
//   - times round-trip to the microsecond, compared as instants; nil and empty slices are alike.
//
// Its fixtures use valid values (ids are the sha256 of the envelope, key ids 64 lowercase hex digits, token
// hashes 32 bytes) so that a backend may check them. Tests run in parallel and never sleep to order events;
// concurrency tests count outcomes.
package storetest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// Run runs the suite. open is called once by every subtest, from parallel subtests, and must return a new
// store with no data in it; Run closes that store when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Ping", []test{{"Answers", testPing}}},
		{"Projects", projectTests},
		{"Tokens", tokenTests},
		{"Bootstrap", bootstrapTests},
		{"Keys", keyTests},
		{"Attestations", attestationTests},
		{"List", listTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					s := open(t)
					t.Cleanup(s.Close)
					tc.run(t, s)
				})
			}
		})
	}
}

// test is one subtest: it gets a new, empty store.
type test struct {
	name string
	run  func(t *testing.T, s store.Store)
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// baseTime is the time of the fixtures: a fixed instant, so that failures are reproducible.
var baseTime = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return baseTime.Add(d) }

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// digest is a sha256 digest (hex) named by label.
func digest(label string) string { return sha256Hex([]byte("artifact " + label)) }

// keyID is a key id named by label.
func keyID(label string) string { return sha256Hex([]byte("key " + label)) }

// tokenHash is the hash of a token secret named by label.
func tokenHash(label string) []byte {
	sum := sha256.Sum256([]byte("secret " + label))
	return sum[:]
}

// envelope is a DSSE-shaped envelope whose payload is label, so that every label has its own id.
func envelope(label string) []byte {
	payload := base64.StdEncoding.EncodeToString([]byte(`{"_type":"https://in-toto.io/Statement/v1","x":"` +
		label + `"}`))
	return []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"` + payload + `","signatures":[]}`)
}

// newAttestation is an attestation of projectID named by label, with one subject, one material and one signer.
func newAttestation(projectID int64, label string) store.Attestation {
	a := store.Attestation{
		ProjectID:     projectID,
		PayloadType:   "application/vnd.in-toto+json",
		StatementType: "https://in-toto.io/Statement/v1",
		PredicateType: "https://slsa.dev/provenance/v1",
		Step:          "build",
		Subjects:      []store.Artifact{{Name: label + ".tar.gz", Algorithm: "sha256", Digest: digest(label + " out")}},
		Materials:     []store.Artifact{{Name: "src/" + label, Algorithm: "sha256", Digest: digest(label + " in")}},
		SignerKeyIDs:  []string{keyID("alice")},
		SubmitterID:   "tok-" + label,
		CreatedAt:     baseTime,
	}
	setEnvelope(&a, envelope(label))
	return a
}

// setEnvelope replaces the envelope of a, and its id with it.
func setEnvelope(a *store.Attestation, env []byte) {
	a.Envelope = env
	a.ID = sha256Hex(env)
}

func mustProject(t *testing.T, s store.Store, name string) store.Project {
	t.Helper()
	p, err := s.CreateProject(t.Context(), name)
	if err != nil {
		t.Fatalf("CreateProject(%q): %v", name, err)
	}
	return p
}

func mustInsert(t *testing.T, s store.Store, a store.Attestation) store.Attestation {
	t.Helper()
	stored, created, err := s.InsertAttestation(t.Context(), a)
	if err != nil {
		t.Fatalf("InsertAttestation(%s): %v", a.ID, err)
	}
	if !created {
		t.Fatalf("InsertAttestation(%s): created = false for a new attestation", a.ID)
	}
	return stored
}

// Comparisons treat nil and empty slices alike, and times by instant (a backend may return any location).

func normTime(t time.Time) time.Time { return t.Round(0).UTC() }

func normTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := normTime(*t)
	return &u
}

func emptyNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func normAttestation(a store.Attestation) store.Attestation {
	a.Envelope = emptyNil(a.Envelope)
	a.Subjects = emptyNil(a.Subjects)
	a.Materials = emptyNil(a.Materials)
	a.SignerKeyIDs = emptyNil(a.SignerKeyIDs)
	a.CreatedAt = normTime(a.CreatedAt)
	return a
}

func normToken(tok store.Token) store.Token {
	tok.Hash = emptyNil(tok.Hash)
	tok.Steps = emptyNil(tok.Steps)
	tok.CreatedAt = normTime(tok.CreatedAt)
	tok.RevokedAt = normTimePtr(tok.RevokedAt)
	return tok
}

func normKey(k store.Key) store.Key {
	k.CreatedAt = normTime(k.CreatedAt)
	k.ExpiresAt = normTimePtr(k.ExpiresAt)
	k.RevokedAt = normTimePtr(k.RevokedAt)
	return k
}

func normProject(p store.Project) store.Project {
	p.CreatedAt = normTime(p.CreatedAt)
	return p
}

// checkAttestation reports every field in which got differs from want, briefly: a difference in a list of
// thousands of artifacts names the first index that differs.
func checkAttestation(t *testing.T, what string, got, want store.Attestation) {
	t.Helper()
	got, want = normAttestation(got), normAttestation(want)
	var diffs []string
	field := func(name string, g, w any) {
		if !reflect.DeepEqual(g, w) {
			diffs = append(diffs, fmt.Sprintf("%s: got %v, want %v", name, g, w))
		}
	}
	field("ProjectID", got.ProjectID, want.ProjectID)
	field("ID", got.ID, want.ID)
	if i, differ := firstDiff(got.Envelope, want.Envelope); differ {
		diffs = append(diffs, fmt.Sprintf("Envelope: %d bytes, want %d, first difference at byte %d",
			len(got.Envelope), len(want.Envelope), i))
	}
	field("PayloadType", got.PayloadType, want.PayloadType)
	field("StatementType", got.StatementType, want.StatementType)
	field("PredicateType", got.PredicateType, want.PredicateType)
	field("Step", got.Step, want.Step)
	for _, list := range []struct {
		name     string
		got, wnt []store.Artifact
	}{{"Subjects", got.Subjects, want.Subjects}, {"Materials", got.Materials, want.Materials}} {
		if i, differ := firstDiff(list.got, list.wnt); differ {
			diffs = append(diffs, fmt.Sprintf("%s: %d, want %d; [%d] is %v, want %v", list.name,
				len(list.got), len(list.wnt), i, elem(list.got, i), elem(list.wnt, i)))
		}
	}
	field("SignerKeyIDs", got.SignerKeyIDs, want.SignerKeyIDs)
	field("SubmitterID", got.SubmitterID, want.SubmitterID)
	field("CreatedAt", got.CreatedAt, want.CreatedAt)
	field("Seq", got.Seq, want.Seq)
	if len(diffs) > 0 {
		t.Errorf("%s: attestation %.12s differs:\n\t%s", what, want.ID, strings.Join(diffs, "\n\t"))
	}
}

// firstDiff returns the first index where a and b differ, and whether they do.
func firstDiff[T comparable](a, b []T) (int, bool) {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i, true
		}
	}
	return min(len(a), len(b)), len(a) != len(b)
}

// elem is list[i], or nothing past its end.
func elem[T any](list []T, i int) any {
	if i < len(list) {
		return list[i]
	}
	return "(none)"
}

func checkEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func timePtr(t time.Time) *time.Time { return &t }

// ids lists the ids of attestations, with their seq, for messages and comparisons.
func ids(list []store.Attestation) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = fmt.Sprintf("%.8s@%d", a.ID, a.Seq)
	}
	return out
}

// describe shows the fields that f sets, digests and key ids shortened.
func describe(f store.Filter) string {
	var parts []string
	add := func(name string, v any, set bool) {
		if set {
			if s, ok := v.(string); ok && len(s) == 64 {
				v = s[:12] + "…"
			}
			parts = append(parts, fmt.Sprintf("%s=%q", name, fmt.Sprint(v)))
		}
	}
	add("SubjectAlgorithm", f.SubjectAlgorithm, f.SubjectAlgorithm != "")
	add("SubjectDigest", f.SubjectDigest, f.SubjectDigest != "")
	add("MaterialAlgorithm", f.MaterialAlgorithm, f.MaterialAlgorithm != "")
	add("MaterialDigest", f.MaterialDigest, f.MaterialDigest != "")
	add("Step", f.Step, f.Step != "")
	add("PredicateType", f.PredicateType, f.PredicateType != "")
	add("SignerKeyID", f.SignerKeyID, f.SignerKeyID != "")
	add("Since", f.Since.Format(time.RFC3339Nano), !f.Since.IsZero())
	add("Until", f.Until.Format(time.RFC3339Nano), !f.Until.IsZero())
	add("AfterSeq", f.AfterSeq, f.AfterSeq != 0)
	add("Limit", f.Limit, f.Limit != 0)
	return "{" + strings.Join(parts, " ") + "}"
}

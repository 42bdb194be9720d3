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
// Some promises are about rows that attestd did not write (an attestation without a log index is invisible to
// reads). The suite makes such rows through a Tamperer, which writes to the store's database behind its back;
// a backend that provides one calls RunTamper instead of Run, and Run skips those tests (group Tamper).
//
// The suite knows nothing of any database. Beyond the comments of store.go it expects what attestd relies on:
//   - a Filter without Limit returns at most store.DefaultPageSize attestations;
//   - ListProjects orders names byte by byte, not by a locale;
//   - TokenByHash finds revoked tokens too (the caller checks RevokedAt);
//   - times round-trip to the microsecond, compared as instants; nil and empty slices are alike;
//   - InsertAttestation without a LogIndex is an error that is none of the sentinels, and stores nothing;
//   - InsertAttestation of an id that the project has as a row without log index is an error: the row is
//     neither returned nor claimed.
//
// Its fixtures use valid values (ids are the sha256 of the envelope, key ids 64 lowercase hex digits, token
// hashes 32 bytes, log indices unique in each store) so that a backend may check them. Tests run in parallel
// and never sleep to order events; concurrency tests count outcomes.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// Run runs the suite but the tests that need a Tamperer, which it skips. open is called once by every subtest,
// from parallel subtests, and must return a new store with no data in it; Run closes that store when the
// subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	run(t, func(t *testing.T) (store.Store, Tamperer) { return open(t), nil }, false)
}

// RunTamper runs the whole suite, the tests that need a Tamperer included. open is called as in Run and returns,
// with the new store, a Tamperer that writes to the same database.
func RunTamper(t *testing.T, open func(t *testing.T) (store.Store, Tamperer)) {
	run(t, open, true)
}

// Tamperer writes to a store's database behind the store's back, as an operator with write access to the
// database could. It is part of a backend's tests, never of the backend.
type Tamperer interface {
	// InsertUnlogged stores a, its subjects, materials and signers as InsertAttestation would, but without a
	// log index (a.LogIndex is ignored), and with a.CreatedAt as it is. The store assigns Seq.
	InsertUnlogged(ctx context.Context, a store.Attestation) error
}

func run(t *testing.T, open func(t *testing.T) (store.Store, Tamperer), withTamperer bool) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Ping", []test{{name: "Answers", run: testPing}}},
		{"Projects", projectTests},
		{"Generation", generationTests},
		{"Tokens", tokenTests},
		{"Bootstrap", bootstrapTests},
		{"Keys", keyTests},
		{"Layouts", layoutTests},
		{"Policies", policyTests},
		{"Decisions", decisionTests},
		{"Attestations", attestationTests},
		{"Anchors", anchorTests},
		{"List", listTests},
		{"Related", relatedTests},
		{"ListBySubmitter", submitterTests},
		{"Provenance", provenanceTests},
		{"Log", logTests},
		{"Copy", copyTests},
		{"Tamper", tamperTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					if tc.tamper != nil && !withTamperer {
						t.Skip("needs a Tamperer: the backend's test calls storetest.RunTamper")
					}
					s, tm := open(t)
					t.Cleanup(s.Close)
					t.Cleanup(func() { logIndexes.Delete(s) })
					if tc.tamper == nil {
						tc.run(t, s)
						return
					}
					if tm == nil {
						t.Fatal("RunTamper: open returned no Tamperer")
					}
					tc.tamper(t, s, tm)
				})
			}
		})
	}
}

// test is one subtest: it gets a new, empty store.
type test struct {
	name string
	run  func(t *testing.T, s store.Store)
	// tamper, set instead of run, is a test that writes behind the store's back with tm.
	tamper func(t *testing.T, s store.Store, tm Tamperer)
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

// logIndexes holds the next log index of each store of the running tests (store.Store -> *atomic.Uint64).
var logIndexes sync.Map

// nextLogIndex returns a log index that no other call for s returned: 0, 1, 2, ... in the order of the calls.
// Tests that choose indices themselves do not mix them with these.
func nextLogIndex(s store.Store) *uint64 {
	c, _ := logIndexes.LoadOrStore(s, new(atomic.Uint64))
	return new(c.(*atomic.Uint64).Add(1) - 1)
}

// mustInsert inserts a new attestation and returns it as stored. An a without LogIndex gets nextLogIndex(s).
func mustInsert(t *testing.T, s store.Store, a store.Attestation) store.Attestation {
	t.Helper()
	if a.LogIndex == nil {
		a.LogIndex = nextLogIndex(s)
	}
	stored, created, err := s.InsertAttestation(t.Context(), a)
	if err != nil {
		t.Fatalf("InsertAttestation(%s): %v", a.ID, err)
	}
	if !created {
		t.Fatalf("InsertAttestation(%s): created = false for a new attestation", a.ID)
	}
	if stored.LogIndex == nil || *stored.LogIndex != *a.LogIndex {
		t.Fatalf("InsertAttestation(%s): LogIndex %s returned, want %d", a.ID, fmtIndex(stored.LogIndex), *a.LogIndex)
	}
	return stored
}

// fmtIndex shows a log index, or that there is none.
func fmtIndex(i *uint64) string {
	if i == nil {
		return "none"
	}
	return strconv.FormatUint(*i, 10)
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
	p.RekorPublicKey = emptyNil(p.RekorPublicKey)
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
	field("LogIndex", fmtIndex(got.LogIndex), fmtIndex(want.LogIndex))
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

// indices lists the log indices of attestations, for messages and comparisons.
func indices(list []store.Attestation) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = fmtIndex(a.LogIndex)
	}
	return out
}

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
	add("Submitter", f.Submitter, f.Submitter != "")
	add("Since", f.Since.Format(time.RFC3339Nano), !f.Since.IsZero())
	add("Until", f.Until.Format(time.RFC3339Nano), !f.Until.IsZero())
	add("AfterSeq", f.AfterSeq, f.AfterSeq != 0)
	add("Limit", f.Limit, f.Limit != 0)
	return "{" + strings.Join(parts, " ") + "}"
}

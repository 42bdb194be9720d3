package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// runConcurrently runs f(0), ..., f(n-1) at once and waits for them.
func runConcurrently(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			f(i)
		})
	}
	close(start)
	wg.Wait()
}

// checkUpdatedNow fails t unless a was updated between before and now (give or take the clocks' skew).
func checkUpdatedNow(t *testing.T, what string, a store.Anchor, before time.Time) {
	t.Helper()
	if a.UpdatedAt.Before(before.Add(-time.Second)) || a.UpdatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("%s: UpdatedAt %v, want about now", what, a.UpdatedAt)
	}
}

// checkSettled fails t unless err is an *store.AnchorSettledError for state (and so ErrNotFound).
func checkSettled(t *testing.T, what string, err error, state string) {
	t.Helper()
	var settled *store.AnchorSettledError
	if !errors.As(err, &settled) || settled.State != state || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: %v, want an AnchorSettledError saying %s (and ErrNotFound)", what, err, state)
	}
}

func testAnchorAttemptThenComplete(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := anchoredProject(t, s, "alpha")
	a := mustInsert(t, s, newAttestation(p.ID, "anchored"))
	want := pendingAnchor(a)

	before := time.Now()
	if err := s.RecordAnchorAttempt(ctx, p.ID, a.ID, at(time.Minute), "rekor: 503 Service Unavailable", false); err != nil {
		t.Fatalf("RecordAnchorAttempt: %v", err)
	}
	got := mustAnchor(t, s, p.ID, a.ID)
	checkUpdatedNow(t, "after an attempt", got, before)
	want.Attempts, want.LastError, want.NextAttemptAt, want.UpdatedAt = 1, "rekor: 503 Service Unavailable", at(time.Minute), got.UpdatedAt
	checkEqual(t, "after an attempt", got, want)

	if err := s.RecordAnchorAttempt(ctx, p.ID, a.ID, at(3*time.Minute), "timeout", false); err != nil {
		t.Fatalf("RecordAnchorAttempt again: %v", err)
	}
	got = mustAnchor(t, s, p.ID, a.ID)
	want.Attempts, want.LastError, want.NextAttemptAt, want.UpdatedAt = 2, "timeout", at(3*time.Minute), got.UpdatedAt
	checkEqual(t, "after a second attempt", got, want)

	entry := []byte(`{"24296fb24b8ad77a":{"body":"eyJhcGlWZXJzaW9uIjoiMC4wLjEifQ==","logIndex":12345}}`)
	before = time.Now()
	if err := s.CompleteAnchor(ctx, p.ID, a.ID, entry); err != nil {
		t.Fatalf("CompleteAnchor: %v", err)
	}
	got = mustAnchor(t, s, p.ID, a.ID)
	checkUpdatedNow(t, "after completion", got, before)
	// The last error stays, for the record; NextAttemptAt means nothing any more but stays too.
	want.State, want.Entry, want.Attempts, want.UpdatedAt = store.AnchorDone, entry, 3, got.UpdatedAt
	checkEqual(t, "after completion", got, want)

	// A retry of the same completion is no change; anything else is refused, and changes nothing either.
	if err := s.CompleteAnchor(ctx, p.ID, a.ID, bytes.Clone(entry)); err != nil {
		t.Errorf("CompleteAnchor again with the same entry: %v", err)
	}
	checkSettled(t, "CompleteAnchor with another entry", s.CompleteAnchor(ctx, p.ID, a.ID, []byte(`{"other":1}`)), store.AnchorDone)
	checkSettled(t, "RecordAnchorAttempt of a done anchor",
		s.RecordAnchorAttempt(ctx, p.ID, a.ID, at(time.Hour), "late failure", false), store.AnchorDone)
	checkSettled(t, "RecordAnchorAttempt(failed) of a done anchor",
		s.RecordAnchorAttempt(ctx, p.ID, a.ID, at(time.Hour), "late refusal", true), store.AnchorDone)
	checkEqual(t, "after the refused updates", mustAnchor(t, s, p.ID, a.ID), want)
}

func testAnchorFailedIsFinal(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := anchoredProject(t, s, "alpha")
	a := mustInsert(t, s, newAttestation(p.ID, "refused"))
	if err := s.RecordAnchorAttempt(ctx, p.ID, a.ID, at(time.Hour), "rekor: 400 entry rejected", true); err != nil {
		t.Fatalf("RecordAnchorAttempt(failed): %v", err)
	}
	got := mustAnchor(t, s, p.ID, a.ID)
	want := pendingAnchor(a)
	want.State, want.Attempts, want.LastError, want.UpdatedAt = store.AnchorFailed, 1, "rekor: 400 entry rejected", got.UpdatedAt
	checkEqual(t, "a failed anchor (NextAttemptAt unchanged)", got, want)

	checkSettled(t, "RecordAnchorAttempt of a failed anchor",
		s.RecordAnchorAttempt(ctx, p.ID, a.ID, at(2*time.Hour), "again", false), store.AnchorFailed)
	checkSettled(t, "CompleteAnchor of a failed anchor",
		s.CompleteAnchor(ctx, p.ID, a.ID, []byte(`{"late":true}`)), store.AnchorFailed)
	checkEqual(t, "the failed anchor after the refused updates", mustAnchor(t, s, p.ID, a.ID), want)
	if due, err := s.DueAnchors(ctx, at(1000*time.Hour), 10); err != nil || len(due) != 0 {
		t.Errorf("DueAnchors with only a failed anchor = %v, %v", due, err)
	}
}

// testAnchorNotFound: updates of an attestation without anchor, or of another project's, find nothing, and
// change nothing.
func testAnchorNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	p, q := anchoredProject(t, s, "alpha"), anchoredProject(t, s, "beta")
	ours := mustInsert(t, s, newAttestation(p.ID, "ours"))
	mustRekor(t, s, p.ID, "", nil)
	plain := mustInsert(t, s, newAttestation(p.ID, "plain"))
	for _, tc := range []struct {
		what      string
		projectID int64
		id        string
	}{
		{"an attestation without anchor", p.ID, plain.ID},
		{"a missing attestation", p.ID, sha256Hex([]byte("missing"))},
		{"another project's anchor", q.ID, ours.ID},
	} {
		var settled *store.AnchorSettledError
		if _, err := s.GetAnchor(ctx, tc.projectID, tc.id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetAnchor of %s: %v, want ErrNotFound", tc.what, err)
		}
		err := s.RecordAnchorAttempt(ctx, tc.projectID, tc.id, at(time.Hour), "x", false)
		if !errors.Is(err, store.ErrNotFound) || errors.As(err, &settled) {
			t.Errorf("RecordAnchorAttempt of %s: %v, want ErrNotFound", tc.what, err)
		}
		err = s.CompleteAnchor(ctx, tc.projectID, tc.id, []byte(`{}`))
		if !errors.Is(err, store.ErrNotFound) || errors.As(err, &settled) {
			t.Errorf("CompleteAnchor of %s: %v, want ErrNotFound", tc.what, err)
		}
	}
	checkEqual(t, "our anchor after the other project's updates", mustAnchor(t, s, p.ID, ours.ID), pendingAnchor(ours))
}

func testAnchorBounds(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := anchoredProject(t, s, "alpha")
	a := mustInsert(t, s, newAttestation(p.ID, "bounds"))
	lastError := func() string {
		t.Helper()
		return mustAnchor(t, s, p.ID, a.ID).LastError
	}
	for _, tc := range []struct{ what, msg, want string }{
		{"at the bound", strings.Repeat("x", store.MaxAnchorError), strings.Repeat("x", store.MaxAnchorError)},
		{"over the bound", strings.Repeat("x", 3000), strings.Repeat("x", store.MaxAnchorError)},
		// A two-byte character across the bound is left out whole.
		{"a character across the bound", strings.Repeat("x", store.MaxAnchorError-1) + "é" + "yyy",
			strings.Repeat("x", store.MaxAnchorError-1)},
		{"invalid UTF-8 and NUL", "bad \xff\xfe byte\x00s", "bad \uFFFD bytes"},
		{"empty", "", ""},
	} {
		if err := s.RecordAnchorAttempt(ctx, p.ID, a.ID, at(time.Minute), tc.msg, false); err != nil {
			t.Fatalf("RecordAnchorAttempt with an error %s: %v", tc.what, err)
		}
		if got := lastError(); got != tc.want {
			t.Errorf("an error %s is stored as %d bytes %.20q…, want %d bytes", tc.what, len(got), got, len(tc.want))
		}
	}

	checkPlainError(t, "CompleteAnchor with an entry over the bound",
		s.CompleteAnchor(ctx, p.ID, a.ID, make([]byte, store.MaxAnchorEntry+1)))
	checkPlainError(t, "CompleteAnchor with an empty entry", s.CompleteAnchor(ctx, p.ID, a.ID, nil))
	if got := mustAnchor(t, s, p.ID, a.ID); got.State != store.AnchorPending || got.Attempts != 5 {
		t.Fatalf("after the refused completions: %s, %d attempts; want pending after 5", got.State, got.Attempts)
	}
	entry := bytes.Repeat([]byte("e"), store.MaxAnchorEntry)
	if err := s.CompleteAnchor(ctx, p.ID, a.ID, entry); err != nil {
		t.Fatalf("CompleteAnchor with an entry at the bound: %v", err)
	}
	if got := mustAnchor(t, s, p.ID, a.ID); !bytes.Equal(got.Entry, entry) {
		t.Errorf("an entry at the bound is stored as %d bytes", len(got.Entry))
	}
}

// testAnchorConcurrentUpdates: racing records and completions of one anchor leave it as if they had come one
// after the other: exactly one of them settled it, every one that returned nil counted one attempt, and every
// other got an AnchorSettledError.
func testAnchorConcurrentUpdates(t *testing.T, s store.Store) {
	const n = 24
	ctx := t.Context()
	p := anchoredProject(t, s, "alpha")
	a := mustInsert(t, s, newAttestation(p.ID, "raced"))
	errs := make([]error, n)
	kind := func(i int) string { return [...]string{"retry", "retry", "complete", "fail"}[i%4] }
	entry := func(i int) []byte { return fmt.Appendf(nil, `{"racer":%d}`, i) }
	message := func(i int) string { return fmt.Sprint("racer ", i) }
	runConcurrently(n, func(i int) {
		switch kind(i) {
		case "complete":
			errs[i] = s.CompleteAnchor(ctx, p.ID, a.ID, entry(i))
		default:
			errs[i] = s.RecordAnchorAttempt(ctx, p.ID, a.ID, at(time.Duration(i)*time.Minute), message(i), kind(i) == "fail")
		}
	})
	got := mustAnchor(t, s, p.ID, a.ID)
	ok, settlers := 0, []int{}
	retried := map[string]bool{}
	for i, err := range errs {
		var settled *store.AnchorSettledError
		switch {
		case err == nil:
			ok++
			if kind(i) == "retry" {
				retried[message(i)] = true
			} else {
				settlers = append(settlers, i)
			}
		case !errors.As(err, &settled):
			t.Errorf("racer %d (%s): %v, want nil or an AnchorSettledError", i, kind(i), err)
		}
	}
	if len(settlers) != 1 {
		t.Fatalf("%d racers settled the anchor (%v), want 1; it is %s", len(settlers), settlers, got.State)
	}
	w := settlers[0]
	if got.Attempts != ok {
		t.Errorf("%d attempts recorded, %d racers succeeded", got.Attempts, ok)
	}
	switch kind(w) {
	case "complete":
		if got.State != store.AnchorDone || !bytes.Equal(got.Entry, entry(w)) {
			t.Errorf("racer %d completed it, but it is %s with entry %s", w, got.State, got.Entry)
		}
		if got.LastError != "" && !retried[got.LastError] {
			t.Errorf("LastError %q is no successful retry's", got.LastError)
		}
	case "fail":
		if got.State != store.AnchorFailed || got.LastError != message(w) || got.Entry != nil {
			t.Errorf("racer %d failed it, but it is %s with error %q, entry %s", w, got.State, got.LastError, got.Entry)
		}
	}
	for i, err := range errs {
		if err != nil {
			checkSettled(t, fmt.Sprint("racer ", i), err, got.State)
		}
	}
}

// testAnchorConcurrentCompletions: racing completions with one entry (one upload, retried) all succeed, and
// count one attempt.
func testAnchorConcurrentCompletions(t *testing.T, s store.Store) {
	const n = 10
	p := anchoredProject(t, s, "alpha")
	a := mustInsert(t, s, newAttestation(p.ID, "retried"))
	entry := []byte(`{"uuid":"one"}`)
	errs := make([]error, n)
	runConcurrently(n, func(i int) { errs[i] = s.CompleteAnchor(t.Context(), p.ID, a.ID, entry) })
	for i, err := range errs {
		if err != nil {
			t.Errorf("CompleteAnchor %d: %v", i, err)
		}
	}
	if got := mustAnchor(t, s, p.ID, a.ID); got.State != store.AnchorDone || got.Attempts != 1 || !bytes.Equal(got.Entry, entry) {
		t.Errorf("after %d completions with one entry: %s, %d attempts, entry %s", n, got.State, got.Attempts, got.Entry)
	}
}

func testCountAnchors(t *testing.T, s store.Store) {
	ctx := t.Context()
	counts := func(projectID int64) map[string]int {
		t.Helper()
		c, err := s.CountAnchors(ctx, projectID)
		if err != nil {
			t.Fatalf("CountAnchors(%d): %v", projectID, err)
		}
		return c
	}
	zero := map[string]int{store.AnchorPending: 0, store.AnchorDone: 0, store.AnchorFailed: 0}
	checkEqual(t, "CountAnchors of an empty store", counts(0), zero)
	p, q := anchoredProject(t, s, "alpha"), anchoredProject(t, s, "beta")
	var ps []store.Attestation
	for i := range 6 {
		ps = append(ps, mustInsert(t, s, newAttestation(p.ID, fmt.Sprint("p", i))))
	}
	mustInsert(t, s, newAttestation(q.ID, "q"))
	for _, a := range ps[:2] {
		if err := s.CompleteAnchor(ctx, p.ID, a.ID, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordAnchorAttempt(ctx, p.ID, ps[2].ID, time.Time{}, "no", true); err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "CountAnchors of alpha", counts(p.ID), map[string]int{store.AnchorPending: 3, store.AnchorDone: 2, store.AnchorFailed: 1})
	checkEqual(t, "CountAnchors of beta", counts(q.ID), map[string]int{store.AnchorPending: 1, store.AnchorDone: 0, store.AnchorFailed: 0})
	checkEqual(t, "CountAnchors of every project", counts(0), map[string]int{store.AnchorPending: 4, store.AnchorDone: 2, store.AnchorFailed: 1})
	checkEqual(t, "CountAnchors of a missing project", counts(p.ID+q.ID+1000), zero)
}

// testRetryAnchors: failed anchors go back in the queue (named, or all of a project's), due at the time given,
// their attempts and error kept; pending and done anchors, and other projects' failed ones, are left alone.
func testRetryAnchors(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := anchoredProject(t, s, "alpha")
	q := anchoredProject(t, s, "beta")
	fail := func(p store.Project, name string) store.Attestation {
		t.Helper()
		a := mustInsert(t, s, newAttestation(p.ID, name))
		if err := s.RecordAnchorAttempt(ctx, p.ID, a.ID, at(time.Hour), "rekor: 400 "+name, true); err != nil {
			t.Fatal(err)
		}
		return a
	}
	f1, f2, f3 := fail(p, "one"), fail(p, "two"), fail(p, "three")
	other := fail(q, "other")
	pending := mustInsert(t, s, newAttestation(p.ID, "pending"))
	done := mustInsert(t, s, newAttestation(p.ID, "done"))
	if err := s.CompleteAnchor(ctx, p.ID, done.ID, []byte(`{"entry":1}`)); err != nil {
		t.Fatal(err)
	}

	// Named: one failed, one pending, one done, one unknown, one of another project.
	n, err := s.RetryAnchors(ctx, p.ID, []string{f1.ID, pending.ID, done.ID, strings.Repeat("ab", 32), other.ID}, at(3*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("RetryAnchors(named) = %d, %v; want 1", n, err)
	}
	got := mustAnchor(t, s, p.ID, f1.ID)
	if got.State != store.AnchorPending || !got.NextAttemptAt.Equal(at(3*time.Hour)) || got.Attempts != 1 || got.LastError != "rekor: 400 one" {
		t.Errorf("the retried anchor: %+v", got)
	}
	if a := mustAnchor(t, s, p.ID, pending.ID); a.State != store.AnchorPending || a.Attempts != 0 {
		t.Errorf("a pending anchor changed: %+v", a)
	}
	if a := mustAnchor(t, s, p.ID, done.ID); a.State != store.AnchorDone {
		t.Errorf("a done anchor changed: %+v", a)
	}
	if n, err := s.RetryAnchors(ctx, p.ID, []string{}, at(3*time.Hour)); err != nil || n != 0 {
		t.Errorf("RetryAnchors(no ids) = %d, %v", n, err)
	}
	// All of a project's: the two still failed; the other project's stays failed.
	if n, err := s.RetryAnchors(ctx, p.ID, nil, at(4*time.Hour)); err != nil || n != 2 {
		t.Fatalf("RetryAnchors(all) = %d, %v; want 2", n, err)
	}
	for _, a := range []store.Attestation{f2, f3} {
		if got := mustAnchor(t, s, p.ID, a.ID); got.State != store.AnchorPending || !got.NextAttemptAt.Equal(at(4*time.Hour)) {
			t.Errorf("after RetryAnchors(all): %+v", got)
		}
	}
	if got := mustAnchor(t, s, q.ID, other.ID); got.State != store.AnchorFailed {
		t.Errorf("another project's failed anchor: %+v", got)
	}
	due, err := s.DueAnchors(ctx, at(5*time.Hour), 10)
	if err != nil || len(due) != 4 { // pending (due at its creation), f1, f2, f3
		t.Errorf("DueAnchors after the retries = %d anchors, %v", len(due), err)
	}
	if _, err := s.RetryAnchors(ctx, p.ID, make([]string, store.MaxGetAttestations+1), at(0)); err == nil {
		t.Error("RetryAnchors over the bound: no error")
	}
}

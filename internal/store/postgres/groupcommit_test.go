package postgres_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/dbtest"
	"github.com/attestd/attestd/internal/store/postgres"
)

// TestGroupCommit: inserts that run at once share transactions, and each still gets its own answer: a new row
// with its Seq, the existing row for an id stored before (whatever log index the call brought), and
// ErrAlreadyExists for a log index another attestation holds, which fails that call and no other in its group.
func TestGroupCommit(t *testing.T) {
	ctx := t.Context()
	st := open(t, dbtest.New(t))
	p, err := st.CreateProject(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := st.InsertAttestation(ctx, attestation(p.ID, "first", 0))
	if err != nil {
		t.Fatal(err)
	}

	// A burst of good rows shares transactions.
	var wg0 sync.WaitGroup
	for i := range 200 {
		wg0.Add(1)
		go func() {
			defer wg0.Done()
			if _, created, err := st.InsertAttestation(ctx, attestation(p.ID, fmt.Sprint("good ", i), uint64(10000+i))); err != nil || !created {
				t.Errorf("good %d: created=%v err=%v", i, created, err)
			}
		}()
	}
	wg0.Wait()
	if got := st.SharedInsertTransactions(); got == 0 {
		t.Errorf("200 concurrent inserts shared no transaction")
	}

	// A burst with rows that a group cannot take: each call still gets its own answer.
	const n = 300
	type result struct {
		a       store.Attestation
		created bool
		err     error
	}
	results := make([]result, n)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a store.Attestation
			switch {
			case i%50 == 7: // the first attestation again, with a new log index: the stored row comes back
				a = attestation(p.ID, "first", uint64(1000+i))
			case i%50 == 9: // a new attestation with the first one's log index: refused
				a = attestation(p.ID, fmt.Sprint("thief ", i), 0)
			default:
				a = attestation(p.ID, fmt.Sprint("row ", i), uint64(1000+i))
			}
			start.Wait()
			got, created, err := st.InsertAttestation(ctx, a)
			results[i] = result{got, created, err}
		}()
	}
	start.Done()
	wg.Wait()

	seqs := map[int64]bool{}
	for i, r := range results {
		switch {
		case i%50 == 7:
			if r.err != nil || r.created || r.a.ID != first.ID || *r.a.LogIndex != 0 {
				t.Errorf("call %d (the first again): %+v created=%v err=%v", i, r.a.LogIndex, r.created, r.err)
			}
		case i%50 == 9:
			if !errors.Is(r.err, store.ErrAlreadyExists) {
				t.Errorf("call %d (a taken log index): err %v, want ErrAlreadyExists", i, r.err)
			}
		default:
			if r.err != nil || !r.created || *r.a.LogIndex != uint64(1000+i) || seqs[r.a.Seq] {
				t.Fatalf("call %d: created=%v err=%v seq %d", i, r.created, r.err, r.a.Seq)
			}
			seqs[r.a.Seq] = true
			stored, err := st.GetAttestation(ctx, p.ID, r.a.ID)
			if err != nil || stored.Seq != r.a.Seq || len(stored.Subjects) != 1 {
				t.Fatalf("call %d: stored %+v, %v", i, stored, err)
			}
		}
	}
}

// TestGroupInsertPlans: the group commit's connections keep one generic plan for the insert statement, while
// the main pool's connections plan every execution with its values; a plan_cache_mode in the URL applies to
// both.
func TestGroupInsertPlans(t *testing.T) {
	ctx := t.Context()
	url := dbtest.New(t)
	st, _, p := withProject(t, url)
	next := uint64(0) // log index
	check := func(st *postgres.Store, writer bool, label string, wantGeneric bool) {
		t.Helper()
		var as []store.Attestation
		for i := range 3 {
			as = append(as, attestation(p.ID, fmt.Sprintf("%s %v %d", label, writer, i), next))
			next++
		}
		generic, custom, err := st.InsertPlans(ctx, writer, as...)
		if err != nil {
			t.Fatal(err)
		}
		if wantGeneric && (generic < 2 || custom > 1) || !wantGeneric && (generic != 0 || custom < 3) {
			t.Errorf("%s, writer=%v: %d generic and %d custom plans of the insert (want generic: %v)", label, writer, generic, custom, wantGeneric)
		}
	}
	check(st, true, "default", true)
	check(st, false, "default", false)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	custom := open(t, url+sep+"plan_cache_mode=force_custom_plan")
	check(custom, true, "url custom", false)
}

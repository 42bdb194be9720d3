package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

var attestationTests = []test{
	{name: "InsertAndGet", run: testInsertAndGet},
	{name: "InsertIsIdempotent", run: testInsertIdempotent},
	{name: "ConcurrentInsertsOfOneID", run: testInsertConcurrent},
	{name: "SameIDInTwoProjects", run: testSameIDInTwoProjects},
	{name: "ProjectIsolation", run: testAttestationIsolation},
	{name: "GetNotFound", run: testGetNotFound},
	{name: "EnvelopeBytes", run: testEnvelopeBytes},
	{name: "ManyArtifacts", run: testManyArtifacts},
}

func testInsertAndGet(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	a := newAttestation(p.ID, "full")
	a.Step = "package"
	a.Subjects = []store.Artifact{
		// One descriptor with two digests is two artifacts of one name.
		{Name: "app.tar.gz", Algorithm: "sha256", Digest: digest("app")},
		{Name: "app.tar.gz", Algorithm: "sha512", Digest: digest("app") + digest("app 512")},
		{Name: "README", Algorithm: "sha256", Digest: digest("readme")},
	}
	a.Materials = []store.Artifact{
		{Name: "src/main.go", Algorithm: "sha256", Digest: digest("main")},
		{Name: "go.sum", Algorithm: "sha256", Digest: digest("go.sum")},
		{Name: "", Algorithm: "gitCommit", Digest: "4b825dc642cb6eb9a060e54bf8d69288fbee4904"},
	}
	a.SignerKeyIDs = []string{keyID("alice"), keyID("bob")}
	if a.SignerKeyIDs[0] > a.SignerKeyIDs[1] {
		a.SignerKeyIDs[0], a.SignerKeyIDs[1] = a.SignerKeyIDs[1], a.SignerKeyIDs[0]
	}
	a.CreatedAt = at(time.Minute + 42*time.Microsecond)
	a.LogIndex = nextLogIndex(s)

	stored := mustInsert(t, s, a)
	if stored.Seq <= 0 {
		t.Errorf("stored Seq = %d, want > 0", stored.Seq)
	}
	want := a
	want.Seq = stored.Seq
	checkAttestation(t, "InsertAttestation", stored, want)
	got, err := s.GetAttestation(t.Context(), p.ID, a.ID)
	if err != nil {
		t.Fatalf("GetAttestation: %v", err)
	}
	checkAttestation(t, "GetAttestation", got, want)

	// An attestation without predicate type, step, subjects, materials or signers (a classic link may
	// have no subjects; a row with nothing indexed must still round-trip).
	bare := newAttestation(p.ID, "bare")
	bare.StatementType, bare.PredicateType, bare.Step = "link", "", ""
	bare.Subjects, bare.Materials, bare.SignerKeyIDs = nil, nil, nil
	bare.LogIndex = nextLogIndex(s)
	storedBare := mustInsert(t, s, bare)
	if storedBare.Seq <= stored.Seq {
		t.Errorf("Seq of a later insert = %d, not above %d", storedBare.Seq, stored.Seq)
	}
	bare.Seq = storedBare.Seq
	got, err = s.GetAttestation(t.Context(), p.ID, bare.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkAttestation(t, "GetAttestation of a bare attestation", got, bare)
}

// testInsertIdempotent: a second insert of one id stores nothing and returns the original, whether it comes
// with the original's log index (a retry) or with another one (the caller sorts that out).
func testInsertIdempotent(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	first := mustInsert(t, s, newAttestation(p.ID, "a"))

	for _, index := range []*uint64{first.LogIndex, nextLogIndex(s)} {
		again := newAttestation(p.ID, "a")
		again.SubmitterID = "tok-someone-else"
		again.CreatedAt = at(time.Hour)
		again.Step = "other"
		again.LogIndex = index
		stored, created, err := s.InsertAttestation(t.Context(), again)
		if err != nil {
			t.Fatalf("second InsertAttestation with log index %d: %v", *index, err)
		}
		if created {
			t.Errorf("second InsertAttestation of one id with log index %d: created = true", *index)
		}
		checkAttestation(t, fmt.Sprint("second InsertAttestation with log index ", *index), stored, first)
	}
	if _, err := s.AttestationAtIndex(t.Context(), *first.LogIndex+1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AttestationAtIndex of the index that the second insert brought: err = %v, want ErrNotFound", err)
	}
	got, err := s.GetAttestation(t.Context(), p.ID, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkAttestation(t, "GetAttestation after the second insert", got, first)
	list, err := s.ListAttestations(t.Context(), p.ID, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("ListAttestations = %v, want the one attestation", ids(list))
	}
}

// testInsertConcurrent: racers insert one attestation, each pair of them with one log index (as if a pair
// retried one submission, and the pairs submitted it separately). Exactly one creates the row; the others,
// its twin included, get it back.
func testInsertConcurrent(t *testing.T, s store.Store) {
	const n = 20
	ctx := t.Context()
	p := mustProject(t, s, "alpha")
	stored := make([]store.Attestation, n)
	created := make([]bool, n)
	errs := make([]error, n)
	logIndex := make([]*uint64, n)
	for i := range n {
		logIndex[i] = logIndex[i/2*2]
		if i%2 == 0 {
			logIndex[i] = nextLogIndex(s)
		}
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a := newAttestation(p.ID, "contested")
			a.SubmitterID = fmt.Sprint("tok-racer-", i)
			a.LogIndex = logIndex[i]
			stored[i], created[i], errs[i] = s.InsertAttestation(ctx, a)
		})
	}
	wg.Wait()
	winner := -1
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("InsertAttestation %d: %v", i, errs[i])
		}
		if created[i] {
			if winner >= 0 {
				t.Errorf("InsertAttestation created the row for %d and %d", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no concurrent InsertAttestation created the row")
	}
	if got := stored[winner].SubmitterID; got != fmt.Sprint("tok-racer-", winner) {
		t.Errorf("the creator got back submitter %q", got)
	}
	if got := fmtIndex(stored[winner].LogIndex); got != fmtIndex(logIndex[winner]) {
		t.Errorf("the creator got back log index %s, sent %s", got, fmtIndex(logIndex[winner]))
	}
	for i := range n {
		checkAttestation(t, fmt.Sprint("InsertAttestation ", i), stored[i], stored[winner])
	}
	list, err := s.ListAttestations(ctx, p.ID, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("ListAttestations = %v, want one row", ids(list))
	}
	checkAttestation(t, "the stored row", list[0], stored[winner])
}

// testSameIDInTwoProjects: ids are unique per project; two projects that submit the same bytes get two
// independent rows.
func testSameIDInTwoProjects(t *testing.T, s store.Store) {
	ctx := t.Context()
	p1 := mustProject(t, s, "alpha")
	p2 := mustProject(t, s, "beta")
	a1 := newAttestation(p1.ID, "shared")
	a2 := newAttestation(p2.ID, "shared")
	a2.SubmitterID = "tok-beta"
	a2.Step = "beta-step"
	a2.CreatedAt = at(time.Hour)
	s1 := mustInsert(t, s, a1)
	s2 := mustInsert(t, s, a2) // fails if the first insert took the id for every project
	if s1.Seq == s2.Seq {
		t.Errorf("both projects' rows have Seq %d", s1.Seq)
	}
	for _, want := range []store.Attestation{s1, s2} {
		got, err := s.GetAttestation(ctx, want.ProjectID, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkAttestation(t, fmt.Sprint("GetAttestation in project ", want.ProjectID), got, want)
		list, err := s.ListAttestations(ctx, want.ProjectID, store.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 {
			t.Fatalf("ListAttestations(%d) = %v, want its own row only", want.ProjectID, ids(list))
		}
		checkAttestation(t, fmt.Sprint("ListAttestations of project ", want.ProjectID), list[0], want)
	}
}

func testAttestationIsolation(t *testing.T, s store.Store) {
	ctx := t.Context()
	p1 := mustProject(t, s, "alpha")
	p2 := mustProject(t, s, "beta")
	mustInsert(t, s, newAttestation(p1.ID, "mine"))
	theirs := mustInsert(t, s, newAttestation(p2.ID, "theirs"))

	if _, err := s.GetAttestation(ctx, p1.ID, theirs.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAttestation of another project's id: err = %v, want ErrNotFound", err)
	}
	for _, f := range []store.Filter{
		{SubjectDigest: theirs.Subjects[0].Digest},
		{MaterialDigest: theirs.Materials[0].Digest},
		{SignerKeyID: theirs.SignerKeyIDs[0], Step: theirs.Step, PredicateType: theirs.PredicateType},
	} {
		list, err := s.ListAttestations(ctx, p1.ID, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			if a.ID == theirs.ID || a.ProjectID != p1.ID {
				t.Errorf("ListAttestations(%d, %s) returned another project's row %s", p1.ID, describe(f), a.ID)
			}
		}
	}
	list, err := s.ListAttestations(ctx, p2.ID+1000, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("ListAttestations of a project that does not exist = %v", ids(list))
	}
}

func testGetNotFound(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	a := mustInsert(t, s, newAttestation(p.ID, "a"))
	for _, id := range []string{sha256Hex([]byte("nothing")), "", a.ID[:10], "%"} {
		if _, err := s.GetAttestation(t.Context(), p.ID, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetAttestation(%q): err = %v, want ErrNotFound", id, err)
		}
	}
}

// testEnvelopeBytes: the envelope comes back byte for byte, whatever it holds.
func testEnvelopeBytes(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	random := make([]byte, 256<<10)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(random)
	for name, env := range map[string][]byte{
		"not UTF-8":       []byte("{\"payload\":\"\xff\xfe\x00\x80\xc3\x28\xed\xa0\x80\"}"),
		"NUL and escapes": []byte("\x00\\x00\\\\'\"%_\r\n\t \x00"),
		"one byte":        {0},
		"random 256 KiB":  random,
		"whitespace":      []byte("  {\"payloadType\" :  \"x\" }\r\n\r\n"),
	} {
		a := newAttestation(p.ID, name)
		setEnvelope(&a, env)
		a.LogIndex = nextLogIndex(s)
		stored := mustInsert(t, s, a)
		got, err := s.GetAttestation(t.Context(), p.ID, a.ID)
		if err != nil {
			t.Fatalf("GetAttestation(%s): %v", name, err)
		}
		checkAttestation(t, "envelope "+name, got, stored)
		checkAttestation(t, "envelope "+name+" as inserted", stored, withSeq(a, stored.Seq))
	}
}

func withSeq(a store.Attestation, seq int64) store.Attestation {
	a.Seq = seq
	return a
}

// testManyArtifacts: large descriptors keep their order, and subjects and materials do not mix.
func testManyArtifacts(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	a := newAttestation(p.ID, "many")
	a.Subjects, a.Materials = nil, nil
	for i := range 600 {
		a.Subjects = append(a.Subjects, store.Artifact{
			Name: fmt.Sprintf("out/%04d", 599-i), Algorithm: "sha256", Digest: digest(fmt.Sprint("out ", i))})
	}
	for i := range 400 {
		a.Materials = append(a.Materials, store.Artifact{
			Name: fmt.Sprintf("src/%04d", i%7), Algorithm: "sha256", Digest: digest(fmt.Sprint("src ", i))})
	}
	a.LogIndex = nextLogIndex(s)
	stored := mustInsert(t, s, a)
	got, err := s.GetAttestation(t.Context(), p.ID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkAttestation(t, "GetAttestation", got, withSeq(a, stored.Seq))
}

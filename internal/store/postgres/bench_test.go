package postgres_test

import (
	"fmt"
	"testing"

	"github.com/attestd/attestd/internal/store/dbtest"
)

// BenchmarkInsertAttestation measures one InsertAttestation of a new attestation with one subject, in a
// project that does not anchor in Rekor: two round trips (the insert, then one batch), committed durably.
func BenchmarkInsertAttestation(b *testing.B) {
	benchInsert(b, "")
}

// BenchmarkInsertAttestationAnchored is the same in a project that anchors in Rekor: the batch records the
// pending anchor too, without a round trip of its own.
func BenchmarkInsertAttestationAnchored(b *testing.B) {
	benchInsert(b, "https://rekor.example.com")
}

func benchInsert(b *testing.B, rekorURL string) {
	st := open(b, dbtest.New(b))
	p, err := st.CreateProject(b.Context(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.SetProjectRekor(b.Context(), p.ID, rekorURL, nil); err != nil {
		b.Fatal(err)
	}
	i := uint64(0)
	for b.Loop() {
		if _, _, err := st.InsertAttestation(b.Context(), attestation(p.ID, fmt.Sprint("bench-", i), i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

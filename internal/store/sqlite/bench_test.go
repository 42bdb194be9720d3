package sqlite_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/attestd/attestd/internal/store"
)

// BenchmarkInsertAttestation measures one InsertAttestation of a new attestation with one subject, one
// material and one signer: one write transaction, synced to disk (synchronous=FULL) before it returns.
func BenchmarkInsertAttestation(b *testing.B) {
	benchInsert(b, open(b, newDB(b)), "")
}

// BenchmarkInsertAttestationParallel is the same with GOMAXPROCS concurrent writers, which queue for the one
// write connection.
func BenchmarkInsertAttestationParallel(b *testing.B) {
	st := open(b, newDB(b))
	p, err := st.CreateProject(b.Context(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, _, err := st.InsertAttestation(b.Context(), newAttestation(p.ID, fmt.Sprint("bench-", i), i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchInsert inserts b.N new attestations into a new project of st, one after the other; the project
// anchors in the Rekor server at rekorURL, if any.
func benchInsert(b *testing.B, st store.Store, rekorURL string) {
	p, err := st.CreateProject(b.Context(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.SetProjectRekor(b.Context(), p.ID, rekorURL, nil); err != nil {
		b.Fatal(err)
	}
	i := uint64(0)
	for b.Loop() {
		if _, _, err := st.InsertAttestation(b.Context(), newAttestation(p.ID, fmt.Sprint("bench-", i), i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkAddDecision measures one AddDecision, which does not wait for the disk.
func BenchmarkAddDecision(b *testing.B) {
	st := open(b, newDB(b))
	p, err := st.CreateProject(b.Context(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	d := store.Decision{ProjectID: p.ID, Kind: "image", Name: "registry.example.com/app", Digest: "sha256:00",
		Allowed: true}
	for b.Loop() {
		if _, err := st.AddDecision(b.Context(), d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInsertAttestationAnchored is BenchmarkInsertAttestation in a project that anchors in Rekor: the
// write transaction records the pending anchor too.
func BenchmarkInsertAttestationAnchored(b *testing.B) {
	benchInsert(b, open(b, newDB(b)), "https://rekor.example.com")
}

package tlog_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/attestd/attestd/internal/tlog"
)

// Recompute an attestation's log entry and leaf hash from its envelope, as a verifier holding the envelope does
// before checking the inclusion proof.
func ExampleEntryFor() {
	envelope := []byte("test")
	sum := sha256.Sum256(envelope)
	entry := tlog.EntryFor("acme/widgets", "att_01J9Z8Q4", hex.EncodeToString(sum[:]))
	fmt.Printf("entry     %x\n", entry)
	fmt.Printf("leaf hash %x\n", tlog.LeafHash(entry))
	// Output:
	// entry     ae6108ea96f40041cc72e2bba146148c3713e1715307e704609f1594becce6db
	// leaf hash c3c5773aa434610485cbeddd25639650f45574544cb76f26ec7a924ca2b0072c
}

// What a client does with a receipt: verify the checkpoint with the log's key (`attestd log-key`), refuse a
// checkpoint inconsistent with the one it remembers, then check that the attestation's leaf is in that tree.
func Example_verifyReceipt() {
	var (
		verifierKey = "attestd.example.com/log+1a2b3c4d+AQ..." // from `attestd log-key` or --log-key
		checkpoint  []byte                                     // signed checkpoint from the receipt or /log/checkpoint
		index       uint64                                     // the receipt's log index
		proof       [][]byte                                   // the receipt's inclusion proof
		envelope    []byte                                     // the envelope as submitted
		consistency func(from, to uint64) ([][]byte, error)    // fetches a consistency proof from the server
	)
	cp, err := tlog.VerifyCheckpoint(checkpoint, verifierKey)
	if err != nil {
		fmt.Println("refuse:", err)
		return
	}
	store := tlog.CheckpointStore{Dir: "/home/me/.config/attest/checkpoints"}
	if _, err := store.Update(checkpoint, verifierKey, consistency); err != nil {
		fmt.Println("refuse loudly (rollback or split view):", err)
		return
	}
	sum := sha256.Sum256(envelope)
	leaf := tlog.LeafHash(tlog.EntryFor("acme/widgets", "att_01J9Z8Q4", hex.EncodeToString(sum[:])))
	if err := tlog.VerifyInclusion(leaf, index, cp.Size, proof, cp.Hash); err != nil {
		fmt.Println("refuse:", err)
		return
	}
	fmt.Println("logged at index", index)
}

package tlog

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// The entry format is a public contract (docs/transparency-log.md): this vector must never change.
const (
	goldenProject  = "acme/widgets"
	goldenID       = "att_01J9Z8Q4"
	goldenEnvelope = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	goldenEntry    = "ae6108ea96f40041cc72e2bba146148c3713e1715307e704609f1594becce6db"
	goldenLeafHash = "c3c5773aa434610485cbeddd25639650f45574544cb76f26ec7a924ca2b0072c"
)

func TestEntryFor(t *testing.T) {
	e := EntryFor(goldenProject, goldenID, goldenEnvelope)
	if got := hex.EncodeToString(e); got != goldenEntry {
		t.Fatalf("EntryFor = %s, want %s", got, goldenEntry)
	}
	want := sha256.Sum256([]byte("attestd/log-entry/v1\x00" + goldenProject + "\x00" + goldenID + "\x00" + goldenEnvelope))
	if hex.EncodeToString(want[:]) != goldenEntry {
		t.Fatal("the golden vector does not follow the documented formula")
	}
	if got := hex.EncodeToString(LeafHash(e)); got != goldenLeafHash {
		t.Fatalf("LeafHash = %s, want %s", got, goldenLeafHash)
	}
	if hex.EncodeToString(LeafHash(e)) != hex.EncodeToString(refLeafHash(e)) {
		t.Fatal("LeafHash differs from the reference")
	}

	// Each field is committed to.
	for _, other := range [][]byte{
		EntryFor(goldenProject+"x", goldenID, goldenEnvelope),
		EntryFor(goldenProject, goldenID+"x", goldenEnvelope),
		EntryFor(goldenProject, goldenID, "0"+goldenEnvelope[1:]),
		EntryFor("acme", "widgets"+goldenID, goldenEnvelope),
	} {
		if hex.EncodeToString(other) == goldenEntry {
			t.Fatal("a different attestation has the same entry")
		}
	}
}

func TestEntryForRefusesAmbiguousInput(t *testing.T) {
	for name, args := range map[string][3]string{
		"NUL in project":        {"a\x00b", "c", goldenEnvelope},
		"NUL in id":             {"a", "b\x00c", goldenEnvelope},
		"uppercase hash":        {"a", "b", "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"},
		"short hash":            {"a", "b", goldenEnvelope[:63]},
		"hash with a 0x prefix": {"a", "b", "0x" + goldenEnvelope[2:]},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: EntryFor did not panic", name)
				}
			}()
			EntryFor(args[0], args[1], args[2])
		}()
	}
}

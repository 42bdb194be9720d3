package sqlite_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/attestd/attestd/internal/store"
)

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// newAttestation is a valid attestation of projectID named by label, at logIndex, with one subject, one
// material and one signer.
func newAttestation(projectID int64, label string, logIndex uint64) store.Attestation {
	env := fmt.Appendf(nil, `{"payloadType":"application/vnd.in-toto+json","payload":%q,"signatures":[]}`, label)
	return store.Attestation{
		ProjectID:     projectID,
		ID:            sha256Hex(env),
		Envelope:      env,
		PayloadType:   "application/vnd.in-toto+json",
		StatementType: "https://in-toto.io/Statement/v1",
		PredicateType: "https://slsa.dev/provenance/v1",
		Step:          "build",
		Subjects:      []store.Artifact{{Name: label + ".tar.gz", Algorithm: "sha256", Digest: sha256Hex([]byte(label + " out"))}},
		Materials:     []store.Artifact{{Name: "src/" + label, Algorithm: "sha256", Digest: sha256Hex([]byte(label + " in"))}},
		SignerKeyIDs:  []string{sha256Hex([]byte("key alice"))},
		SubmitterID:   "tok-" + label,
		CreatedAt:     time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC),
		LogIndex:      &logIndex,
	}
}

package rekor

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/go-openapi/strfmt"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/util"
	"github.com/sigstore/rekor/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/transparency-dev/merkle/rfc6962"
)

// VerifyEntry checks offline that e is an entry of the Rekor log whose public
// key is rekorPubKeyPEM, and that it records envelope (the exact bytes that
// were uploaded):
//
//   - binding: the body is a dsse v0.0.1 entry whose envelope hash is the
//     SHA-256 of envelope, whose payload hash is that of its payload and whose
//     signatures are its signatures (ErrEnvelopeMismatch), and the UUID names
//     the body (ErrMalformedEntry);
//   - the log ID is the key's (ErrWrongLog);
//   - the inclusion proof leads from the body to the root hash (ErrInclusionProof);
//   - the checkpoint is signed by the key and commits to that root hash and
//     tree size (ErrCheckpoint);
//   - the signed entry timestamp is the key's signature over the body, log
//     index, integrated time and log ID (ErrSignedEntryTimestamp).
//
// An entry without an inclusion proof does not verify. The proof is checked
// against the checkpoint it carries; whether that checkpoint is consistent
// with the log's others is a question for a monitor, not for this function.
// A malformed key is an error that wraps none of the above.
func VerifyEntry(ctx context.Context, e Entry, envelope []byte, rekorPubKeyPEM []byte) error {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(rekorPubKeyPEM)
	if err != nil {
		return fmt.Errorf("rekor public key: %w", err)
	}
	verifier, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return fmt.Errorf("rekor public key: %w", err)
	}
	if err := e.check(); err != nil {
		return err
	}
	if e.InclusionProof == nil {
		return fmt.Errorf("%w: no inclusion proof", ErrMalformedEntry)
	}
	if leaf := hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(e.Body)); !strings.HasSuffix(e.UUID, leaf) {
		return fmt.Errorf("%w: UUID %s does not end in the body's leaf hash %s", ErrMalformedEntry, e.UUID, leaf)
	}
	if err := checkBinding(e.Body, envelope); err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("rekor public key: %w", err)
	}
	if id := sha256.Sum256(der); e.LogID != hex.EncodeToString(id[:]) {
		return fmt.Errorf("%w: entry of log %s, key of log %x", ErrWrongLog, e.LogID, id)
	}

	anon := e.anon()
	if err := verify.VerifyInclusion(ctx, anon); err != nil {
		return fmt.Errorf("%w: %w", ErrInclusionProof, err)
	}
	if err := verify.VerifyCheckpointSignature(anon, verifier); err != nil {
		return fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	var cp util.SignedCheckpoint
	if err := cp.UnmarshalText([]byte(e.InclusionProof.Checkpoint)); err != nil {
		return fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	if cp.Size != uint64(e.InclusionProof.TreeSize) {
		return fmt.Errorf("%w: checkpoint of a tree of %d, proof for a tree of %d", ErrCheckpoint, cp.Size, e.InclusionProof.TreeSize)
	}
	if err := verify.VerifySignedEntryTimestamp(ctx, anon, verifier); err != nil {
		return fmt.Errorf("%w: %w", ErrSignedEntryTimestamp, err)
	}
	return nil
}

// anon returns e in the form of Rekor's API, for package verify. e must have
// an inclusion proof.
func (e *Entry) anon() *models.LogEntryAnon {
	p := e.InclusionProof
	hashes := make([]string, len(p.Hashes))
	for i, h := range p.Hashes {
		hashes[i] = hex.EncodeToString(h)
	}
	integrated := e.IntegratedTime.Unix()
	return &models.LogEntryAnon{
		Body:           base64.StdEncoding.EncodeToString(e.Body),
		IntegratedTime: &integrated,
		LogID:          &e.LogID,
		LogIndex:       &e.LogIndex,
		Verification: &models.LogEntryAnonVerification{
			SignedEntryTimestamp: strfmt.Base64(e.SignedEntryTimestamp),
			InclusionProof: &models.InclusionProof{
				LogIndex:   &p.LogIndex,
				RootHash:   new(hex.EncodeToString(p.RootHash)),
				TreeSize:   &p.TreeSize,
				Hashes:     hashes,
				Checkpoint: &p.Checkpoint,
			},
		},
	}
}

// dsseBody is the canonical body of a dsse v0.0.1 entry.
type dsseBody struct {
	APIVersion string                `json:"apiVersion"`
	Kind       string                `json:"kind"`
	Spec       models.DSSEV001Schema `json:"spec"`
}

// checkBinding checks that body is the dsse v0.0.1 entry of envelope. Errors
// wrap ErrEnvelopeMismatch.
func checkBinding(body, envelope []byte) error {
	mismatch := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrEnvelopeMismatch, fmt.Sprintf(format, args...))
	}
	var b dsseBody
	if err := json.Unmarshal(body, &b); err != nil {
		return mismatch("the entry body is not JSON: %v", err)
	}
	if b.Kind != "dsse" || b.APIVersion != "0.0.1" {
		return mismatch("the entry is a %.40q v%.20q entry, not dsse v0.0.1", b.Kind, b.APIVersion)
	}
	envHash := sha256.Sum256(envelope)
	if h := b.Spec.EnvelopeHash; h == nil {
		return mismatch("the entry has no envelope hash")
	} else if err := checkHash("envelope", h.Algorithm, h.Value, envHash[:]); err != nil {
		return mismatch("%v", err)
	}
	var env dsse.Envelope
	if err := json.Unmarshal(envelope, &env); err != nil {
		return mismatch("the envelope is not DSSE JSON: %v", err)
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		return mismatch("the envelope's payload: %v", err)
	}
	payloadHash := sha256.Sum256(payload)
	if h := b.Spec.PayloadHash; h == nil {
		return mismatch("the entry has no payload hash")
	} else if err := checkHash("payload", h.Algorithm, h.Value, payloadHash[:]); err != nil {
		return mismatch("%v", err)
	}
	// Rekor records each distinct signature once, with the key that verified it.
	sigs := make(map[string]bool, len(env.Signatures))
	for _, s := range env.Signatures {
		sigs[s.Sig] = false
	}
	for _, s := range b.Spec.Signatures {
		if s == nil || s.Signature == nil {
			return mismatch("a signature of the entry is empty")
		}
		if _, ok := sigs[*s.Signature]; !ok {
			return mismatch("the entry has a signature the envelope does not")
		}
		sigs[*s.Signature] = true
	}
	for _, seen := range sigs {
		if !seen {
			return mismatch("the envelope has a signature the entry does not")
		}
	}
	return nil
}

// checkHash compares a hash of the entry body, alg and hex value, with want (SHA-256).
func checkHash(what string, alg, value *string, want []byte) error {
	if alg == nil || value == nil || *alg != "sha256" {
		return fmt.Errorf("the entry's %s hash is not a sha256 hash", what)
	}
	if *value != hex.EncodeToString(want) {
		return fmt.Errorf("the entry's %s hash is not this %s's", what, what)
	}
	return nil
}

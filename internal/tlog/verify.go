package tlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// Errors returned (wrapped) by the verification functions. Test them with errors.Is.
var (
	// ErrInvalidCheckpoint: the checkpoint is malformed, not signed by the expected key, or names another log.
	// Never trust anything derived from it.
	ErrInvalidCheckpoint = errors.New("invalid checkpoint")
	// ErrInvalidProof: an inclusion or consistency proof does not verify. The entry is not proven to be in the
	// log (or the two tree heads are not proven to belong to one append-only log).
	ErrInvalidProof = errors.New("invalid proof")
)

// maxCheckpointBytes bounds what VerifyCheckpoint reads: a checkpoint is three short lines and a few signature
// lines (note.Open itself stops at 100 signatures).
const maxCheckpointBytes = 64 << 10

// hashSize is the size of every hash in the log (SHA-256).
const hashSize = sha256.Size

// Checkpoint is the parsed body of a C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the log's origin
// line, the tree size and the RFC 6962 root hash of the first Size entries.
type Checkpoint struct {
	Origin string
	Size   uint64
	Hash   []byte
}

// VerifyCheckpoint opens the signed note raw with the verifier key (a note verifier key line,
// "<origin>+<hash>+<base64 key>", as printed by `attestd log-key`) and parses its body. The origin line must
// equal the key's name, the size must be canonical decimal, the root hash canonical base64 of 32 bytes (the
// empty-tree hash for size 0), and there must be no extension lines: attestd's log writes none.
func VerifyCheckpoint(raw []byte, verifierKey string) (Checkpoint, error) {
	v, err := note.NewVerifier(strings.TrimSpace(verifierKey))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: verifier key: %v", ErrInvalidCheckpoint, err)
	}
	return verifyCheckpoint(raw, v)
}

func verifyCheckpoint(raw []byte, v note.Verifier) (Checkpoint, error) {
	if len(raw) > maxCheckpointBytes {
		return Checkpoint{}, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidCheckpoint, len(raw), maxCheckpointBytes)
	}
	n, err := note.Open(raw, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: signature by %s: %v", ErrInvalidCheckpoint, v.Name(), err)
	}
	cp, err := parseCheckpointBody(n.Text)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrInvalidCheckpoint, err)
	}
	if cp.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: origin %q is not the verifier key's name %q", ErrInvalidCheckpoint, cp.Origin, v.Name())
	}
	return cp, nil
}

// parseCheckpointBody parses "<origin>\n<size>\n<base64 root>\n".
func parseCheckpointBody(text string) (Checkpoint, error) {
	body, ok := strings.CutSuffix(text, "\n")
	if !ok {
		return Checkpoint{}, errors.New("body does not end with a newline")
	}
	lines := strings.Split(body, "\n")
	if len(lines) != 3 {
		return Checkpoint{}, fmt.Errorf("body has %d lines, want 3 (origin, size, root hash)", len(lines))
	}
	origin, sizeText, hashText := lines[0], lines[1], lines[2]
	if origin == "" {
		return Checkpoint{}, errors.New("empty origin line")
	}
	size, err := strconv.ParseUint(sizeText, 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != sizeText {
		return Checkpoint{}, fmt.Errorf("tree size %q is not canonical decimal", sizeText)
	}
	hash, err := base64.StdEncoding.Strict().DecodeString(hashText)
	if err != nil || len(hash) != hashSize || base64.StdEncoding.EncodeToString(hash) != hashText {
		return Checkpoint{}, fmt.Errorf("root hash %q is not canonical base64 of %d bytes", hashText, hashSize)
	}
	if size == 0 && !bytes.Equal(hash, rfc6962.DefaultHasher.EmptyRoot()) {
		return Checkpoint{}, errors.New("tree of size 0 with a root hash other than SHA-256 of the empty string")
	}
	return Checkpoint{Origin: origin, Size: size, Hash: hash}, nil
}

// VerifyInclusion checks that proof is the RFC 6962 audit path of the leaf with hash leafHash (see LeafHash) at
// index in the tree of the given size whose root is root. It returns an error wrapping ErrInvalidProof
// otherwise; hashes that are not 32 bytes long are refused.
func VerifyInclusion(leafHash []byte, index, size uint64, proofHashes [][]byte, root []byte) error {
	if index >= size {
		return fmt.Errorf("%w: index %d is not below tree size %d", ErrInvalidProof, index, size)
	}
	if err := checkHashes("leaf hash", leafHash); err != nil {
		return err
	}
	if err := checkHashes("root hash", root); err != nil {
		return err
	}
	if err := checkHashes("proof hash", proofHashes...); err != nil {
		return err
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leafHash, proofHashes, root); err != nil {
		return fmt.Errorf("%w: inclusion of index %d in tree of size %d: %v", ErrInvalidProof, index, size, err)
	}
	return nil
}

// VerifyConsistency checks that proof shows the tree of size from with root fromRoot to be a prefix of the tree
// of size to with root toRoot (RFC 6962 consistency). Equal sizes need equal roots and an empty proof; size 0
// needs the empty-tree root and an empty proof. It returns an error wrapping ErrInvalidProof otherwise.
func VerifyConsistency(from, to uint64, fromRoot, toRoot []byte, proofHashes [][]byte) error {
	if from > to {
		return fmt.Errorf("%w: consistency from size %d to the smaller size %d", ErrInvalidProof, from, to)
	}
	if err := checkHashes("root hash", fromRoot, toRoot); err != nil {
		return err
	}
	if err := checkHashes("proof hash", proofHashes...); err != nil {
		return err
	}
	if from == 0 && !bytes.Equal(fromRoot, rfc6962.DefaultHasher.EmptyRoot()) {
		return fmt.Errorf("%w: root of the empty tree is %x, want %x", ErrInvalidProof, fromRoot, rfc6962.DefaultHasher.EmptyRoot())
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, from, to, proofHashes, fromRoot, toRoot); err != nil {
		return fmt.Errorf("%w: consistency of size %d (root %x) with size %d (root %x): %v",
			ErrInvalidProof, from, fromRoot, to, toRoot, err)
	}
	return nil
}

func checkHashes(what string, hashes ...[]byte) error {
	for i, h := range hashes {
		if len(h) != hashSize {
			return fmt.Errorf("%w: %s %d is %d bytes, want %d", ErrInvalidProof, what, i, len(h), hashSize)
		}
	}
	return nil
}

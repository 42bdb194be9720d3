package rekor

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Bounds of an Entry. A dsse entry body holds two hashes and, per signature,
// the signature and the signer's PEM key: a few KiB for a handful of signers.
const (
	MaxEntrySize  = 1 << 20      // bytes of the JSON form, as Marshal writes it and ParseEntry reads it
	maxBody       = 512 << 10    // bytes of the canonical entry body
	maxSET        = 4 << 10      // bytes of the signed entry timestamp (an RSA-4096 signature is 512)
	maxCheckpoint = 16 << 10     // bytes of the signed checkpoint note
	maxProofLen   = 64           // hashes in an inclusion proof: a tree of 2^63 leaves needs 63
	maxUnixTime   = 253402300799 // 9999-12-31T23:59:59Z
)

// An Entry is one entry of a Rekor log as Rekor returned it, with what is
// needed to verify it offline (VerifyEntry).
type Entry struct {
	// UUID is the entry's ID in its log: hex, the Trillian tree ID (16 digits,
	// when Rekor gives it) and the RFC 6962 leaf hash of Body (64 digits).
	UUID string
	// LogIndex is the entry's index across all the shards of the log.
	LogIndex int64
	// IntegratedTime is when the log integrated the entry, to the second.
	IntegratedTime time.Time
	// LogID is the hex SHA-256 of the log's public key (DER, PKIX).
	LogID string
	// Body is the canonical entry body, the leaf of the log's Merkle tree.
	Body []byte
	// SignedEntryTimestamp is the log's signature over Body, LogIndex,
	// IntegratedTime and LogID: its promise to include the entry.
	SignedEntryTimestamp []byte
	// InclusionProof, if not nil, proves Body is in the tree that its
	// Checkpoint signs.
	InclusionProof *InclusionProof
}

// An InclusionProof proves that an entry is the leaf LogIndex of a tree of
// TreeSize leaves whose root is RootHash (RFC 6962 hashing).
type InclusionProof struct {
	LogIndex   int64    // index of the leaf in its shard's tree
	RootHash   []byte   // 32 bytes
	TreeSize   int64    // leaves in the tree
	Hashes     [][]byte // audit path, leaf to root, 32 bytes each
	Checkpoint string   // the signed checkpoint (a signed note) for TreeSize and RootHash
}

// entryJSON is the stored form of an Entry. Its field names and encodings are
// fixed: rows written by one version of attestd are read by the next.
type entryJSON struct {
	UUID                 string     `json:"uuid"`
	LogIndex             int64      `json:"logIndex"`
	IntegratedTime       int64      `json:"integratedTime"` // Unix seconds, as the SET signs it
	LogID                string     `json:"logID"`
	Body                 []byte     `json:"body"`                 // base64
	SignedEntryTimestamp []byte     `json:"signedEntryTimestamp"` // base64
	InclusionProof       *proofJSON `json:"inclusionProof,omitempty"`
}

type proofJSON struct {
	LogIndex   int64    `json:"logIndex"`
	RootHash   string   `json:"rootHash"` // hex
	TreeSize   int64    `json:"treeSize"`
	Hashes     []string `json:"hashes"` // hex
	Checkpoint string   `json:"checkpoint"`
}

// Marshal returns the JSON form of e, for storage:
//
//	{"uuid":HEX,"logIndex":N,"integratedTime":UNIX_SECONDS,"logID":HEX,
//	 "body":BASE64,"signedEntryTimestamp":BASE64,
//	 "inclusionProof":{"logIndex":N,"rootHash":HEX,"treeSize":N,"hashes":[HEX,...],"checkpoint":TEXT}}
//
// The same Entry always gives the same bytes. Marshal refuses an Entry that
// ParseEntry would refuse.
func (e Entry) Marshal() ([]byte, error) {
	if err := e.check(); err != nil {
		return nil, fmt.Errorf("marshal rekor entry: %w", err)
	}
	w := entryJSON{
		UUID:                 e.UUID,
		LogIndex:             e.LogIndex,
		IntegratedTime:       e.IntegratedTime.Unix(),
		LogID:                e.LogID,
		Body:                 e.Body,
		SignedEntryTimestamp: e.SignedEntryTimestamp,
	}
	if p := e.InclusionProof; p != nil {
		w.InclusionProof = &proofJSON{
			LogIndex:   p.LogIndex,
			RootHash:   hex.EncodeToString(p.RootHash),
			TreeSize:   p.TreeSize,
			Hashes:     make([]string, len(p.Hashes)),
			Checkpoint: p.Checkpoint,
		}
		for i, h := range p.Hashes {
			w.InclusionProof.Hashes[i] = hex.EncodeToString(h)
		}
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("marshal rekor entry: %w", err)
	}
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("marshal rekor entry: %d bytes, more than %d", len(b), MaxEntrySize)
	}
	return b, nil
}

// ParseEntry reads the JSON form that Marshal writes. It refuses unknown
// fields, trailing data, more than MaxEntrySize bytes and values out of range;
// it does not verify anything (VerifyEntry does). Errors wrap ErrMalformedEntry.
func ParseEntry(b []byte) (Entry, error) {
	if len(b) > MaxEntrySize {
		return Entry{}, fmt.Errorf("parse rekor entry: %w: %d bytes, more than %d", ErrMalformedEntry, len(b), MaxEntrySize)
	}
	var w entryJSON
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		return Entry{}, fmt.Errorf("parse rekor entry: %w: %w", ErrMalformedEntry, err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return Entry{}, fmt.Errorf("parse rekor entry: %w: data after the JSON object", ErrMalformedEntry)
	}
	if w.IntegratedTime < 0 || w.IntegratedTime > maxUnixTime {
		return Entry{}, fmt.Errorf("parse rekor entry: %w: integrated time %d out of range", ErrMalformedEntry, w.IntegratedTime)
	}
	e := Entry{
		UUID:                 w.UUID,
		LogIndex:             w.LogIndex,
		IntegratedTime:       time.Unix(w.IntegratedTime, 0).UTC(),
		LogID:                w.LogID,
		Body:                 w.Body,
		SignedEntryTimestamp: w.SignedEntryTimestamp,
	}
	if p := w.InclusionProof; p != nil {
		ip, err := p.decode()
		if err != nil {
			return Entry{}, fmt.Errorf("parse rekor entry: %w", err)
		}
		e.InclusionProof = ip
	}
	if err := e.check(); err != nil {
		return Entry{}, fmt.Errorf("parse rekor entry: %w", err)
	}
	return e, nil
}

// MarshalJSON writes the form of Marshal, so that an Entry inside another JSON
// document keeps it. Like Marshal, it fails on the zero Entry: make an
// optional field a *Entry.
func (e Entry) MarshalJSON() ([]byte, error) { return e.Marshal() }

// UnmarshalJSON reads the form of Marshal, with the checks of ParseEntry.
func (e *Entry) UnmarshalJSON(b []byte) error {
	parsed, err := ParseEntry(b)
	if err != nil {
		return err
	}
	*e = parsed
	return nil
}

func (p *proofJSON) decode() (*InclusionProof, error) {
	if len(p.Hashes) > maxProofLen {
		return nil, fmt.Errorf("%w: inclusion proof of %d hashes, more than %d", ErrMalformedEntry, len(p.Hashes), maxProofLen)
	}
	root, err := decodeHash(p.RootHash)
	if err != nil {
		return nil, fmt.Errorf("%w: inclusion proof root hash: %w", ErrMalformedEntry, err)
	}
	ip := &InclusionProof{LogIndex: p.LogIndex, RootHash: root, TreeSize: p.TreeSize, Checkpoint: p.Checkpoint}
	ip.Hashes = make([][]byte, len(p.Hashes))
	for i, s := range p.Hashes {
		if ip.Hashes[i], err = decodeHash(s); err != nil {
			return nil, fmt.Errorf("%w: inclusion proof hash %d: %w", ErrMalformedEntry, i, err)
		}
	}
	return ip, nil
}

// check validates what can be validated without keys. Errors wrap ErrMalformedEntry.
func (e *Entry) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformedEntry, fmt.Sprintf(format, args...))
	}
	switch {
	case !isLowerHex(e.UUID) || (len(e.UUID) != 64 && len(e.UUID) != 80):
		return bad("UUID %.90q is not 64 or 80 lowercase hex digits", e.UUID)
	case e.LogIndex < 0:
		return bad("negative log index %d", e.LogIndex)
	case e.IntegratedTime.Unix() < 0 || e.IntegratedTime.Unix() > maxUnixTime:
		return bad("integrated time %v out of range", e.IntegratedTime)
	case !isLowerHex(e.LogID) || len(e.LogID) != 64:
		return bad("log ID %.70q is not 64 lowercase hex digits", e.LogID)
	case len(e.Body) == 0 || len(e.Body) > maxBody:
		return bad("body of %d bytes, want 1 to %d", len(e.Body), maxBody)
	case len(e.SignedEntryTimestamp) == 0 || len(e.SignedEntryTimestamp) > maxSET:
		return bad("signed entry timestamp of %d bytes, want 1 to %d", len(e.SignedEntryTimestamp), maxSET)
	}
	p := e.InclusionProof
	if p == nil {
		return nil
	}
	switch {
	case p.TreeSize < 1:
		return bad("inclusion proof for a tree of %d leaves", p.TreeSize)
	case p.LogIndex < 0 || p.LogIndex >= p.TreeSize:
		return bad("inclusion proof for leaf %d of a tree of %d", p.LogIndex, p.TreeSize)
	case len(p.RootHash) != 32:
		return bad("inclusion proof root hash of %d bytes, want 32", len(p.RootHash))
	case len(p.Hashes) > maxProofLen:
		return bad("inclusion proof of %d hashes, more than %d", len(p.Hashes), maxProofLen)
	case p.Checkpoint == "" || len(p.Checkpoint) > maxCheckpoint:
		return bad("checkpoint of %d bytes, want 1 to %d", len(p.Checkpoint), maxCheckpoint)
	}
	for i, h := range p.Hashes {
		if len(h) != 32 {
			return bad("inclusion proof hash %d of %d bytes, want 32", i, len(h))
		}
	}
	return nil
}

func decodeHash(s string) ([]byte, error) {
	if len(s) != 64 || !isLowerHex(s) {
		return nil, fmt.Errorf("%.70q is not 64 lowercase hex digits", s)
	}
	return hex.DecodeString(s)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Anchor follows the upload of one attestation's envelope to the Rekor server of its project (public
// anchoring). InsertAttestation records it, pending, in the transaction that stores the attestation, when the
// project has a RekorURL; attestd's anchoring worker then tries to upload it whenever it is due
// (DueAnchors), and records each attempt (RecordAnchorAttempt, CompleteAnchor). Nothing but the worker's
// records changes it, and no anchor is ever lost across a restart: a pending one is simply due again.
type Anchor struct {
	ProjectID     int64
	AttestationID string
	State         string    // AnchorPending, AnchorDone or AnchorFailed
	Attempts      int       // the attempts recorded so far, the successful one included
	NextAttemptAt time.Time // when the worker may try next; meaningful while pending
	LastError     string    // what the last failed attempt said ("" if none failed), at most MaxAnchorError bytes
	Entry         []byte    // the Rekor entry as JSON, opaque to the store: set exactly when done
	CreatedAt     time.Time
	UpdatedAt     time.Time // when an attempt was last recorded; CreatedAt until then
}

// States of an Anchor.
const (
	// AnchorPending: not in Rekor yet; the worker tries again from NextAttemptAt.
	AnchorPending = "pending"
	// AnchorDone: in Rekor; Entry is what Rekor returned. Final.
	AnchorDone = "done"
	// AnchorFailed: Rekor refused the envelope for good (not a transient failure); never tried again. Final.
	AnchorFailed = "failed"
)

// Bounds of the anchoring settings and records. Over a bound, a write is an error (a caller bug), except
// for LastError, which is cut (see AnchorErrorText).
const (
	// MaxRekorURL bounds Project.RekorURL, in bytes.
	MaxRekorURL = 2048
	// MaxRekorPublicKey bounds Project.RekorPublicKey (a PEM public key), in bytes.
	MaxRekorPublicKey = 16 << 10
	// MaxAnchorError bounds Anchor.LastError, in bytes.
	MaxAnchorError = 1000
	// MaxAnchorEntry bounds Anchor.Entry, in bytes. Rekor's entries are a few kilobytes; the envelope they
	// carry is not in them.
	MaxAnchorEntry = 1 << 20
)

// AnchorSettledError is the answer of RecordAnchorAttempt and CompleteAnchor for an anchor that is done or
// failed already: it is left as it is. It wraps ErrNotFound (the attestation has no pending anchor): a worker
// that gets it has nothing left to do for that attestation.
type AnchorSettledError struct {
	AttestationID string
	State         string // AnchorDone or AnchorFailed
}

func (e *AnchorSettledError) Error() string {
	return "the anchor of attestation " + e.AttestationID + " is " + e.State + " already"
}

func (e *AnchorSettledError) Unwrap() error { return ErrNotFound }

// AnchorErrorText is msg as RecordAnchorAttempt stores it in LastError: valid UTF-8 (every invalid sequence
// becomes U+FFFD), without NUL bytes (which PostgreSQL text cannot hold), and cut at a character boundary to
// at most MaxAnchorError bytes. An error message from a server may be anything: it is made fit to store rather
// than refused.
func AnchorErrorText(msg string) string {
	msg = strings.ReplaceAll(strings.ToValidUTF8(msg, "\uFFFD"), "\x00", "")
	if len(msg) <= MaxAnchorError {
		return msg
	}
	n := MaxAnchorError
	for n > 0 && !utf8.RuneStart(msg[n]) {
		n--
	}
	return msg[:n]
}

// CheckRekorSettings returns an error unless SetProjectRekor may store url and publicKeyPEM: url valid UTF-8
// without NUL bytes and at most MaxRekorURL bytes, the key at most MaxRekorPublicKey bytes.
func CheckRekorSettings(url string, publicKeyPEM []byte) error {
	switch {
	case len(url) > MaxRekorURL:
		return fmt.Errorf("rekor url of %d bytes, at most %d", len(url), MaxRekorURL)
	case !utf8.ValidString(url) || strings.ContainsRune(url, 0):
		return fmt.Errorf("rekor url %q is not valid UTF-8 text", url)
	case len(publicKeyPEM) > MaxRekorPublicKey:
		return fmt.Errorf("rekor public key of %d bytes, at most %d", len(publicKeyPEM), MaxRekorPublicKey)
	}
	return nil
}

// CheckAnchorEntry returns an error unless CompleteAnchor may store entry: not empty, at most MaxAnchorEntry
// bytes.
func CheckAnchorEntry(entry []byte) error {
	switch {
	case len(entry) == 0:
		return errors.New("empty rekor entry")
	case len(entry) > MaxAnchorEntry:
		return fmt.Errorf("rekor entry of %d bytes, at most %d", len(entry), MaxAnchorEntry)
	}
	return nil
}

// CheckAnchor returns an error unless InsertAnchor may store a as it is: a known State, Attempts not negative,
// LastError as AnchorErrorText leaves it, and an Entry (see CheckAnchorEntry) exactly when done.
func CheckAnchor(a Anchor) error {
	switch {
	case a.State != AnchorPending && a.State != AnchorDone && a.State != AnchorFailed:
		return fmt.Errorf("anchor of attestation %s: unknown state %q", a.AttestationID, a.State)
	case a.Attempts < 0:
		return fmt.Errorf("anchor of attestation %s: %d attempts", a.AttestationID, a.Attempts)
	case a.LastError != AnchorErrorText(a.LastError):
		return fmt.Errorf("anchor of attestation %s: last error is not as AnchorErrorText makes it", a.AttestationID)
	case a.State != AnchorDone && len(a.Entry) > 0:
		return fmt.Errorf("anchor of attestation %s: %s with an entry", a.AttestationID, a.State)
	case a.State == AnchorDone:
		if err := CheckAnchorEntry(a.Entry); err != nil {
			return fmt.Errorf("anchor of attestation %s: %w", a.AttestationID, err)
		}
	}
	return nil
}

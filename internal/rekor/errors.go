package rekor

import (
	"errors"
	"fmt"
	"net/http"
)

// Errors of Client calls. Every error a Client method returns wraps exactly one
// of these two.
var (
	// ErrPermanent: Rekor refused the request, or it cannot be made; sending it
	// again will fail the same way. Do not retry; report it.
	ErrPermanent = errors.New("permanent failure, do not retry")
	// ErrUnavailable: the request did not get an answer it could use (network
	// error, timeout, Rekor overloaded or failing). Retry later; uploads are
	// idempotent.
	ErrUnavailable = errors.New("unavailable, retry later")
)

// Errors of VerifyEntry, one per check. Each means the entry must not be
// trusted for this envelope.
var (
	// ErrMalformedEntry: a field is missing, out of range or inconsistent
	// with another (the UUID does not name the body, for example).
	ErrMalformedEntry = errors.New("malformed rekor entry")
	// ErrEnvelopeMismatch: the entry is not a dsse entry of this envelope.
	ErrEnvelopeMismatch = errors.New("rekor entry is not for this envelope")
	// ErrWrongLog: the entry names another log than the one whose key was given.
	ErrWrongLog = errors.New("rekor entry is from another log")
	// ErrInclusionProof: the inclusion proof does not lead from the body to the root hash.
	ErrInclusionProof = errors.New("rekor inclusion proof does not verify")
	// ErrCheckpoint: the checkpoint is not signed by the log's key, or does not
	// commit to the proof's root hash and tree size.
	ErrCheckpoint = errors.New("rekor checkpoint does not verify")
	// ErrSignedEntryTimestamp: the SET is not the log's signature over this
	// body, log index, integrated time and log ID.
	ErrSignedEntryTimestamp = errors.New("rekor signed entry timestamp does not verify")
)

// StatusError is an HTTP error status Rekor answered with. It wraps
// ErrPermanent or ErrUnavailable according to the status (see Temporary).
type StatusError struct {
	Op      string // "upload", "get entry", "get public key"
	Code    int    // HTTP status
	Message string // Rekor's explanation, if it gave one
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("rekor %s: HTTP %d %s", e.Op, e.Code, http.StatusText(e.Code))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Temporary reports whether a later retry may succeed: any status but a 4xx,
// and among those 408 Request Timeout, 409 Conflict and 429 Too Many Requests.
func (e *StatusError) Temporary() bool {
	if e.Code < 400 || e.Code >= 500 {
		return true
	}
	switch e.Code {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return true
	}
	return false
}

// Unwrap makes errors.Is(err, ErrPermanent) and errors.Is(err, ErrUnavailable) work.
func (e *StatusError) Unwrap() error {
	if e.Temporary() {
		return ErrUnavailable
	}
	return ErrPermanent
}

// permanent returns an error that wraps ErrPermanent and err.
func permanent(op string, err error) error {
	return fmt.Errorf("rekor %s: %w: %w", op, ErrPermanent, err)
}

// unavailable returns an error that wraps ErrUnavailable and err.
func unavailable(op string, err error) error {
	return fmt.Errorf("rekor %s: %w: %w", op, ErrUnavailable, err)
}

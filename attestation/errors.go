package attestation

import (
	"errors"
	"fmt"
	"strconv"
)

// InputError reports malformed input: something no configuration of attestd
// would accept. Field names the offending part in the path notation of the
// input ("payloadType", "subject[2].digest.sha256", "signature 0"), Reason says
// what is wrong with it. attestd maps it to INVALID_ARGUMENT.
type InputError struct {
	Field  string
	Reason string

	err error // an underlying sentinel, for errors.Is (e.g. ErrMalformedSignature)
}

// Error returns "FIELD: REASON".
func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap returns the sentinel error the InputError was derived from, if any.
func (e *InputError) Unwrap() error { return e.err }

// inputErr is shorthand for a formatted *InputError.
func inputErr(field, format string, args ...any) error {
	return &InputError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ErrNoValidSignature means that no signature of an envelope verified with
// any of the keys it was checked against. The envelope may be well formed; it
// is simply not signed by a key the caller trusts. attestd maps it to
// PERMISSION_DENIED. VerifySignatures wraps it with the number of signatures
// and keys checked.
var ErrNoValidSignature = errors.New("no valid signature by a registered key")

// ErrBadSignature is returned by PublicKey.Verify when a well-formed signature
// does not verify: a different message, a different key, or a forgery.
var ErrBadSignature = errors.New("signature does not verify")

// ErrMalformedSignature is wrapped by the errors PublicKey.Verify returns when
// the signature bytes cannot be a signature of that key's type at all (wrong
// length, not ASN.1 DER, an ECDSA r or s of zero).
var ErrMalformedSignature = errors.New("malformed signature")

// quote returns s quoted for an error message, shortened so that a
// pathological input cannot make the message itself huge.
func quote(s string) string {
	const max = 80
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

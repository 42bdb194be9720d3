// Package rekor is attestd's adapter to a Sigstore Rekor v1 transparency
// log, the optional public anchor of a project's attestations.
//
// It does three things, and nothing else:
//
//   - Client.UploadDSSE records a DSSE envelope in Rekor as a "dsse" v0.0.1
//     entry and returns the Entry Rekor answered with: its UUID, log index,
//     integrated time, the canonical entry body, the signed entry timestamp
//     (SET) and an inclusion proof with a signed checkpoint. Uploading the same
//     envelope again returns the entry already in the log, so a retry after a
//     lost answer is safe.
//   - VerifyEntry checks an Entry offline against Rekor's public key: the SET,
//     the inclusion proof and the checkpoint (with the verification code of
//     Rekor itself, package github.com/sigstore/rekor/pkg/verify), and that the
//     entry is about this envelope: an entry for any other envelope never
//     counts, however valid its signatures.
//   - Entry.Marshal and ParseEntry give an Entry a stable JSON form, to be kept
//     next to the attestation and verified again later without Rekor.
//
// # What Rekor records
//
// A dsse v0.0.1 entry does not keep the envelope. Its body, which Rekor
// canonicalizes (RFC 8785) and hashes into its Merkle tree, is
//
//	{"apiVersion":"0.0.1","kind":"dsse","spec":{
//	  "envelopeHash":{"algorithm":"sha256","value":HEX},
//	  "payloadHash":{"algorithm":"sha256","value":HEX},
//	  "signatures":[{"signature":BASE64,"verifier":BASE64(PEM)}]}}
//
// where envelopeHash is the SHA-256 of the envelope bytes exactly as uploaded
// and payloadHash that of the decoded payload. Rekor only accepts an envelope
// every signature of which verifies with one of the public keys uploaded with
// it. Keep the envelope bytes: they are what an entry is verified against.
//
// # Errors
//
// Client methods fail with an error that wraps ErrPermanent when Rekor refused
// the request and retrying cannot help (a 4xx other than 408, 409 and 429, or
// an envelope that cannot become an entry), and ErrUnavailable otherwise
// (network, timeout, 5xx, 429): retry later. VerifyEntry names the check that
// failed with one of ErrMalformedEntry, ErrEnvelopeMismatch, ErrWrongLog,
// ErrInclusionProof, ErrCheckpoint and ErrSignedEntryTimestamp.
//
// # Example
//
//	c, err := rekor.NewClient("http://127.0.0.1:3000", rekor.WithTimeout(10*time.Second))
//	if err != nil {
//		return err
//	}
//	e, err := c.UploadDSSE(ctx, envelope, [][]byte{signerPublicPEM})
//	if errors.Is(err, rekor.ErrPermanent) {
//		return err // do not retry
//	} else if err != nil {
//		return retryLater(err)
//	}
//	stored, err := e.Marshal() // keep it next to the envelope
//	...
//	e, err = rekor.ParseEntry(stored)
//	if err == nil {
//		err = rekor.VerifyEntry(ctx, e, envelope, rekorPublicPEM)
//	}
//
// The package logs only through the *slog.Logger given to WithLogger, keeps
// no global state, and never follows a URL found in an entry.
package rekor

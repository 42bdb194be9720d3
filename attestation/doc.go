// Package attestation is the domain core of attestd: it turns the bytes a CI
// runner submits into facts the rest of the service can trust, or refuses
// them with an error that says exactly what is wrong.
//
// It parses signed envelopes, the in-toto statements inside them, digests,
// artifact names and public keys, and checks signatures. It does no I/O,
// keeps no state, never fetches a URL found in an attestation, and must not
// panic on any input: every parser here is fuzzed.
//
// # Formats
//
// An envelope (ParseEnvelope) is either
//
//   - a DSSE envelope, {"payloadType": "application/vnd.in-toto+json",
//     "payload": BASE64, "signatures": [{"keyid": ID, "sig": BASE64}]},
//     whose signatures are over the DSSE pre-authentication encoding
//     "DSSEv1 <len(type)> <type> <len(payload)> <payload>"; or
//   - a classic in-toto metablock, {"signed": {...}, "signatures": [{"keyid":
//     ID, "sig": HEX}]}, as in-toto-golang writes links, whose signatures are
//     over the OLPC canonical JSON of "signed" (sorted keys, no whitespace,
//     only backslash and double quote escaped, integers only).
//
// The payload (ParseStatement) is an in-toto Statement v1 (or v0.1) with any
// predicate, of which the link v0.3 and SLSA provenance v1 predicates are
// read for the step name and the materials; or a classic in-toto link
// ({"_type": "link", "name", "materials", "products", ...}).
//
// Digests are ALGORITHM -> VALUE maps; known algorithms (sha256, sha512,
// sha1, gitCommit, dirHash, ...) take lowercase hex of their exact length,
// nothing else: no "sha256:" prefix inside the value, no uppercase, no
// whitespace. Users type digests as "sha256:HEX" (ParseDigest). Artifact names
// are canonical relative paths or URIs: NFC, no control characters, no
// backslash, no leading "/", no "." or ".." segment (CheckName).
//
// Keys (ParsePublicKey) are PEM "PUBLIC KEY" or "CERTIFICATE" blocks holding
// an Ed25519, ECDSA P-256/P-384 or RSA (RSASSA-PSS, SHA-256) key. Their IDs
// are the securesystemslib key ids that in-toto tooling puts in signatures.
//
// # Strict JSON
//
// Envelopes and payloads are read by a JSON reader of this package, not by
// encoding/json, because two parsers must never read one document two ways
// (CouchDB CVE-2017-12635). It refuses invalid UTF-8, duplicate object keys,
// lone surrogate escapes and trailing data, matches keys case-sensitively
// ("predicate_type" is not "predicateType"), keeps numbers as written, and
// bounds nesting depth. In payloads (only) it accepts control characters
// written raw inside strings, because canonical JSON, which in-toto-golang
// uses for DSSE link payloads, writes them that way.
//
// # Errors
//
// Every error is one of three kinds, which the server maps to status codes:
// *InputError (malformed input: INVALID_ARGUMENT), *LimitError (over one of
// the Limits: RESOURCE_EXHAUSTED), and ErrNoValidSignature (PERMISSION_DENIED).
//
// # Example
//
// The write path of attestd, without storage:
//
//	env, err := attestation.ParseEnvelope(body, limits)
//	if err != nil {
//		return err // InputError or LimitError
//	}
//	signers, err := attestation.VerifySignatures(env, projectKeys)
//	if err != nil {
//		return err // ErrNoValidSignature, or InputError for a malformed signature
//	}
//	st, err := attestation.ParseStatement(env.Payload, limits)
//	if err != nil {
//		return err
//	}
//	// st.Subjects, st.Materials and st.Step are now safe to index, and
//	// signers are the distinct keys that signed them.
//
// Signatures are verified before the payload is parsed: unsigned content is
// never interpreted beyond the envelope.
package attestation

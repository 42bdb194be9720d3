// Package bundle reads attestd's offline bundles and decides from them, without attestd: a deployer or an
// auditor holding a bundle and attestd's verifier public key gets the answer attestd's Verify gives, on a
// machine that cannot reach attestd.
//
// # Format
//
// A bundle is a DSSE envelope (JSON) whose payloadType is PayloadType and whose payload is an attestd.v1.Bundle
// message in protobuf JSON, signed by attestd's verifier key (the key that signs verification summaries;
// `attestd verifier-key` prints it). The Bundle holds, for one artifact (kind, name, digest): the policy that
// covers it; the active version of its layout, signed bytes included, with an inclusion proof; every key of
// the project with its validity window; the candidate attestations Verify gathered, each with its envelope,
// log index, integrated time, inclusion proof and, under a policy that requires Rekor, its Rekor entry; one
// signed checkpoint of attestd's log that every proof is against, and the log's note verifier key; the
// project's Rekor key when required; the export time; and the decision attestd made at export. See
// docs/bundles.md.
//
// # Trust
//
// Open checks the signature with the verifier key, the trust root: it vouches for what the log does not hold
// (keys and their validity windows, the policy). Decide then checks, rather than believes, everything the
// log does hold: the checkpoint against the log's key (the bundle's, or the caller's pinned key, which must
// then be the same), the layout's and each attestation's leaf, recomputed from the bytes in the bundle,
// against the checkpoint; the layout's signatures against the project's layout-owner keys; each attestation's
// signatures against its functionary keys; and, when the policy requires Rekor, each Rekor entry offline
// against the project's Rekor key and bound to the envelope. A candidate that fails a check does not count,
// with the same reason attestd's Verify gives; a bundle that contradicts itself is refused (ErrMalformed).
//
// Decide reads candidates with verifier.ReadAttestation and decides with verifier.VerifyWithHints and
// verifier.AnswerReasons, the functions the server's Verify uses, so that the same candidates give the same
// answer: allowed or not, the layout and version, the attestations used per step and every reason.
//
// # What it must never do
//
// It never touches the network (an attestd address or a URL in a bundle is never dialled: Rekor entries are
// checked offline), never reads the clock (Options.Now is the time of the decision) and never reads files:
// the caller hands it bytes. Every count and size in a bundle is bounded (see the Max constants) before the
// work it causes, and no input makes it panic (FuzzOpen, FuzzDecide).
package bundle

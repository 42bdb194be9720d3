// Package verifier is attestd's decision engine: given a signed in-toto
// layout, the attestations gathered for an artifact, the project's keys with
// their validity windows and the time of decision, it says whether the
// artifact went through the pipeline the layout requires, and if not, why, in
// words a deployer can act on.
//
// It is pure: it does no I/O, never reads the clock (the caller passes Now),
// starts no goroutine, does not depend on map iteration order, and must not
// panic on any input. It never runs a command, so layouts with inspections are
// refused. It imports the standard library, golang.org/x/text and the
// attestation package only; in-toto-golang is used in its tests, as the
// reference the parity test compares against, never here.
//
// # Layouts
//
// ParseLayout reads the "signed" part of an in-toto layout as in-toto-golang
// writes it:
//
//	{"_type": "layout", "expires": "2030-01-01T00:00:00Z", "readme": "...",
//	 "keys": {KEYID: {"keyid": KEYID, "keytype": "ed25519", "scheme": "ed25519",
//	                  "keyval": {"public": HEX-OR-PEM}, "keyid_hash_algorithms": [...]}},
//	 "steps": [{"_type": "step", "name": "build", "threshold": 1, "pubkeys": [KEYID],
//	            "expected_command": ["make"],
//	            "expected_materials": [["MATCH", "*", "WITH", "PRODUCTS", "FROM", "clone"]],
//	            "expected_products": [["CREATE", "app.tar"], ["DISALLOW", "*"]]}],
//	 "inspect": []}
//
// It is strict where in-toto-golang is lenient: unknown members, duplicate
// keys, inspections, thresholds below 1, duplicate step names, step keys not
// in "keys", key ids that are not an id of their key (attestation.PublicKey.IDs), malformed rules and
// rules naming an unknown step are all refused with an
// *attestation.InputError naming the field. VerifyLayoutSignatures checks
// the owner signatures of the DSSE envelope or metablock around it first.
//
// # Rules and patterns
//
// ParseRule reads one artifact rule (see Rule). Patterns are in-toto's shell
// patterns (see Match): '*' matches any sequence of bytes INCLUDING '/', as
// in in-toto-golang, so "*" is every artifact and "src/*" everything under
// src. Matching is iterative, O(len(pattern) x len(name)) at worst, and
// patterns are at most MaxPatternBytes long.
//
// # Decisions
//
// Verify applies, in this order: the layout's expiry; per step, the
// attestations that count (signed by a key of the step, valid at the time the
// log integrated the attestation, of the required predicate type), grouped by
// identical materials and products, a group counting when it has threshold
// DISTINCT public keys; the artifact rules of every step with in-toto's queue
// semantics on the chosen group's materials and products; and finally that
// the artifact's digest is a product of the last step. A Decision lists every
// reason for a denial. Artifact names must already be canonical (see
// attestation.CheckName): an attestation with another spelling does not count,
// so "dir/../foo" can never slip past a DISALLOW rule (in-toto-golang
// CVE-2021-41087).
//
// Every input count is bounded (see the Max constants); going over a bound is
// an *attestation.LimitError and no decision, never unbounded work.
package verifier

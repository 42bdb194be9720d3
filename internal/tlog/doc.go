// Package tlog is attestd's transparency log: an append-only Merkle tree of every accepted attestation, embedded
// in the attestd process, whose signed checkpoints let anyone check that an attestation is in the log and that
// the log never rewrites its past. Nobody, not even an operator with write access to the database or to the
// log's files, can change, drop or add an attestation without it being detected by a client holding an earlier
// checkpoint or by `attestd audit`.
//
// # What is logged
//
// Each attestation adds one entry, the 32 bytes returned by EntryFor:
//
//	entry = SHA-256("attestd/log-entry/v1" || 0x00 || project || 0x00 || attestationID || 0x00 || envelopeSHA256Hex)
//
// with envelopeSHA256Hex the lowercase hex SHA-256 of the envelope bytes as submitted. The entry commits to the
// attestation without revealing the project (the log is public; project names are not). Its Merkle leaf hash
// is the RFC 6962 SHA-256(0x00 || entry) (LeafHash); interior nodes are SHA-256(0x01 || left || right).
//
// # The log
//
// The log is Tessera (github.com/transparency-dev/tessera) with its POSIX driver, in one directory, with
// checkpoints in the C2SP tlog-checkpoint format signed by the log's Ed25519 note key (LoadOrCreateKey):
//
//	<origin>
//	<tree size>
//	<base64 root hash>
//
//	— <origin> <base64 key hash and signature>
//
// The origin is the key's name. Open starts the sequencer; Append returns an entry's index once it is durably
// sequenced; AwaitIntegration waits for the checkpoint that covers it; InclusionProof, ConsistencyProof, Entry
// and Entries read the log; Handler serves it read-only over HTTP as tlog-tiles
// (https://c2sp.org/tlog-tiles), so any tlog-tiles client can follow it.
//
// # Directory layout
//
// In the log directory (Config.Dir, <data-dir>/log by default), Tessera writes:
//
//	checkpoint                 the latest signed checkpoint (rewritten by rename)
//	tile/<L>/<N>               full hash tile: 256 hashes of level L, index N ("x001/234" for 1234)
//	tile/<L>/<N>.p/<W>         partial hash tile of W hashes (1..255), deleted once the full tile exists
//	tile/entries/<N>           full entry bundle: 256 entries, each a 2-byte big-endian length and the bytes
//	tile/entries/<N>.p/<W>     partial entry bundle of W entries
//	.state/treeState           integrated tree size and root (JSON), ahead of the checkpoint
//	.state/version, *.lock     driver version and fcntl lock files; .state/gcState, the partial-tile collector
//	.attestd.lock              the Log's flock: one Log per directory
//
// The key lives elsewhere (<data-dir>/log.key, log.pub): the log directory holds nothing secret, but only
// "checkpoint" and "tile/..." are public, which is all Handler serves.
//
// # Verifying
//
// VerifyCheckpoint, VerifyInclusion and VerifyConsistency need no Log: the CLI and `attestd audit` use them
// with the verifier key printed by `attestd log-key`. CheckpointStore remembers the largest checkpoint seen per
// log and refuses a smaller one (ErrRollback) or an inconsistent one (ErrSplitView).
//
// What this package must never do: acknowledge an entry that is not on disk, serve anything from the log
// directory but checkpoint and tiles, or accept a checkpoint, proof or file that does not verify.
package tlog

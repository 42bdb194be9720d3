// Package dump copies a whole attestd installation: its database, row by row through package store, and its
// transparency log, file by file. It is the one way of copying an installation, behind `attestd backup`,
// `attestd restore` and `attestd migrate-data`; it never writes a database except through a store.Store, so
// that the target's invariants (consecutive layout versions, unique log indices, ids that are the sha256 of
// the bytes) hold as if attestd had written every row.
//
// # The export
//
// Export reads a database and produces records; Importer writes records into an empty database (CheckEmpty);
// Copy does both, then reads the target back and compares. An export written to a file (Writer, Read) is JSON
// Lines: one Record per line, with its kind and one object of that kind, bytes (envelopes, layouts, token
// hashes, leaf entries) in base64 and times in RFC 3339 UTC to the microsecond. Rows name their project by
// name: ids that a database assigns (project ids, decision ids, attestation seqs) are not exported and the
// target assigns them afresh, in the same order. For example:
//
//	{"kind":"bootstrap","bootstrap":{"token_id":"t0x1"}}
//	{"kind":"token","token":{"id":"t0x1","hash":"…","role":"server-admin","created_at":"2026-11-01T12:00:00Z"}}
//	{"kind":"project","project":{"name":"shop","created_at":"2026-11-01T12:00:01.5Z"}}
//	{"kind":"attestation","attestation":{"project":"shop","id":"…","envelope":"…","log_index":3,…}}
//	{"kind":"watermark","watermark":{"size":5}}
//
// The records come in this order, which is also the order in which a target must receive them:
//
//  1. bootstrap (if the database was bootstrapped) and the server-admin tokens;
//  2. for each project, by name: the project (with its Rekor settings), its tokens, its keys, its layouts (each
//     name's versions from 1 up) and its policies;
//  3. the decisions, oldest first;
//  4. the attestations that have a log index, ascending by log index, each with its anchor in Rekor if it has
//     one (pending, done or failed, every field as it was);
//  5. the orphan leaves, ascending by log index;
//  6. the watermark, which ends every export: an export without it is incomplete.
//
// Attestation rows without a log index (written behind attestd's back, or before the log existed; reads
// never show them and attestd audit reports them) are not exported: Stats counts them. Layouts without a log
// index cannot be imported through a store and make Export fail.
//
// A target gets the projects' Rekor settings only with the watermark, after the attestations: set earlier,
// they would make the target record anchors of its own for the attestations it receives.
//
// A Tally counts and digests the records of each kind; two exports with equal tallies hold the same rows.
// Copy and Restore read the target back after writing it and fail (MismatchError) unless its tally equals
// the source's.
//
// # Consistency with the log
//
// An export must never name a log leaf that the log does not have, and every leaf below the exported
// watermark must have its row or its orphan record in the export. Export reads in an order that keeps both
// true while attestd writes: the watermark first, then the orphan leaves, then the rows (rows are never
// deleted; an orphan claimed meanwhile by a row is dropped when the row is read); the rows of projects created
// after the project list was read are left out (their leaves are all above the watermark). Policies are read
// before the layouts they name. Each row is as it was at some moment of the export; a backup holds everything
// committed before it began, and may hold what was committed while it ran.
//
// # Backups
//
// Backup writes a gzip-compressed tar archive: database.jsonl (the export), data/ (the log's key pair, the
// verifier key pair, the audit's checkpoint), log/ (a consistent copy of the log, see CopyLog) and
// manifest.json last, which lists every other member with its size and SHA-256 and the export's tally. The
// database is exported first and the log copied afterwards: the log only grows, so the copy holds every leaf
// that the export names, and perhaps more, which attestd's start-up reconciliation records as orphan leaves.
// Check reads a whole backup and verifies it without writing anything; Restore then writes it.
//
// The package never deletes or overwrites a file, and holds at most one page of attestations (or one file of
// the log) in memory.
package dump

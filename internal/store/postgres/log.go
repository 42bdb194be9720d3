package postgres

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/attestd/attestd/internal/store"
)

// What the transparency log keeps in the database: the log index of every row (attestations.log_index), the
// watermark of the reconciler (log_state) and the orphan leaves (log_orphans). Log indices and sizes are
// uint64 in Go and bigint in the database; one beyond the range of bigint is an error where it would be
// stored, and matches nothing where it is looked for.

// AttestationAtIndex returns the attestation whose leaf is at index, of whatever project, or
// store.ErrNotFound.
func (s *Store) AttestationAtIndex(ctx context.Context, index uint64) (store.Attestation, error) {
	if index > math.MaxInt64 {
		return store.Attestation{}, fmt.Errorf("attestation at log index %d: %w", index, store.ErrNotFound)
	}
	page, err := s.queryAttestations(ctx, s.lookups,
		`SELECT `+attestationColumns+` FROM attestations WHERE log_index = $1`, int64(index))
	if err != nil {
		return store.Attestation{}, fmt.Errorf("attestation at log index %d: %w", index, err)
	}
	if len(page) == 0 {
		return store.Attestation{}, fmt.Errorf("attestation at log index %d: %w", index, store.ErrNotFound)
	}
	return page[0], nil
}

// ScanByLogIndex returns the attestations of every project with a log index from from on, ascending by log
// index, at most limit of them (see store.PageSize), with their subjects and materials.
func (s *Store) ScanByLogIndex(ctx context.Context, from uint64, limit int) ([]store.Attestation, error) {
	if from > math.MaxInt64 {
		return nil, nil
	}
	page, err := s.queryAttestations(ctx, s.pool, `SELECT `+attestationColumns+` FROM attestations
		WHERE log_index >= $1 ORDER BY log_index LIMIT $2`, int64(from), store.PageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("scan attestations from log index %d: %w", from, err)
	}
	return page, nil
}

// ScanUnlogged returns the attestations of every project that have no log index and a Seq above afterSeq,
// ascending by Seq, at most limit of them (see store.PageSize), with their subjects and materials.
func (s *Store) ScanUnlogged(ctx context.Context, afterSeq int64, limit int) ([]store.Attestation, error) {
	page, err := s.queryAttestations(ctx, s.pool, `SELECT `+attestationColumns+` FROM attestations
		WHERE log_index IS NULL AND seq > $1 ORDER BY seq LIMIT $2`, afterSeq, store.PageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("scan attestations without log index after seq %d: %w", afterSeq, err)
	}
	return page, nil
}

// LogWatermark returns the watermark, 0 if it was never set.
func (s *Store) LogWatermark(ctx context.Context) (uint64, error) {
	var size int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(max(watermark), 0) FROM log_state`).Scan(&size)
	if err != nil {
		return 0, fmt.Errorf("log watermark: %w", classify(ctx, err))
	}
	return uint64(size), nil // never negative: the schema checks it
}

// SetLogWatermark raises the watermark to size; a size below the watermark changes nothing, so that
// concurrent callers end with the largest of their sizes.
func (s *Store) SetLogWatermark(ctx context.Context, size uint64) error {
	n, err := dbInt("log size", size)
	if err == nil {
		_, err = s.pool.Exec(ctx, `
			INSERT INTO log_state (singleton, watermark) VALUES (true, $1)
			ON CONFLICT (singleton) DO UPDATE SET watermark = GREATEST(log_state.watermark, EXCLUDED.watermark)`, n)
		err = classify(ctx, err)
	}
	if err != nil {
		return fmt.Errorf("set log watermark to %d: %w", size, err)
	}
	return nil
}

// AddOrphanLeaves records leaves in one statement. A leaf recorded already keeps its first record, and a leaf
// whose index has a row (an attestation's or a layout's) is not an orphan: it is not recorded. A zero FoundAt is now.
func (s *Store) AddOrphanLeaves(ctx context.Context, leaves []store.OrphanLeaf) error {
	if len(leaves) == 0 {
		return nil
	}
	indices := make([]int64, len(leaves))
	entries := make([][]byte, len(leaves))
	foundAt := make([]*time.Time, len(leaves))
	for i, l := range leaves {
		n, err := dbInt("log index", l.LogIndex)
		if err != nil {
			return fmt.Errorf("add orphan leaves: %w", err)
		}
		indices[i], entries[i], foundAt[i] = n, l.Entry, nullTime(l.FoundAt)
		if entries[i] == nil {
			entries[i] = []byte{} // nil is NULL: an empty entry is still an entry
		}
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO log_orphans (log_index, entry, found_at)
		SELECT u.log_index, u.entry, COALESCE(u.found_at, now())
		FROM unnest($1::bigint[], $2::bytea[], $3::timestamptz[]) AS u (log_index, entry, found_at)
		WHERE NOT EXISTS (SELECT 1 FROM attestations a WHERE a.log_index = u.log_index)
			AND NOT EXISTS (SELECT 1 FROM layouts l WHERE l.log_index = u.log_index)
		ON CONFLICT (log_index) DO NOTHING`, indices, entries, foundAt)
	if err != nil {
		return fmt.Errorf("add %d orphan leaves: %w", len(leaves), classify(ctx, err))
	}
	return nil
}

// ListOrphanLeaves returns the orphan leaves whose index has no row, ascending by log index.
func (s *Store) ListOrphanLeaves(ctx context.Context) ([]store.OrphanLeaf, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT o.log_index, o.entry, o.found_at FROM log_orphans o
		WHERE NOT EXISTS (SELECT 1 FROM attestations a WHERE a.log_index = o.log_index)
			AND NOT EXISTS (SELECT 1 FROM layouts l WHERE l.log_index = o.log_index)
		ORDER BY o.log_index`)
	if err != nil {
		return nil, fmt.Errorf("list orphan leaves: %w", classify(ctx, err))
	}
	leaves, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.OrphanLeaf, error) {
		var l store.OrphanLeaf
		var index int64
		if err := row.Scan(&index, &l.Entry, &l.FoundAt); err != nil {
			return store.OrphanLeaf{}, err
		}
		l.LogIndex = uint64(index) // never negative: the schema checks it
		l.FoundAt = l.FoundAt.UTC()
		return l, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list orphan leaves: %w", classify(ctx, err))
	}
	return leaves, nil
}

// dbInt converts a log index or size (what names it) to a bigint, or says that the database cannot hold it.
func dbInt(what string, v uint64) (int64, error) {
	if v > math.MaxInt64 {
		return 0, fmt.Errorf("%s %d is beyond the largest the database holds (%d)", what, v, int64(math.MaxInt64))
	}
	return int64(v), nil
}

// ScanAttestationKeys returns the project and id of up to limit attestations of every project with a Seq above
// afterSeq, ascending by Seq (the attestations_seq_key index), logged or not.
func (s *Store) ScanAttestationKeys(ctx context.Context, afterSeq int64, limit int) ([]store.AttestationKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, project_id, id FROM attestations WHERE seq > $1 ORDER BY seq LIMIT $2`,
		afterSeq, store.ScanKeysSize(limit))
	var keys []store.AttestationKey
	if err == nil {
		keys, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AttestationKey, error) {
			var k store.AttestationKey
			err := r.Scan(&k.Seq, &k.ProjectID, &k.ID)
			return k, err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("scan attestation keys after seq %d: %w", afterSeq, classify(ctx, err))
	}
	return keys, nil
}

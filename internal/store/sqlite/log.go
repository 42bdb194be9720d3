package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"

	"github.com/attestd/attestd/internal/store"
)

// What the transparency log keeps in the database: the log index of every row (attestations.log_index,
// layouts.log_index), the watermark of the reconciler (log_state) and the orphan leaves (log_orphans).

// AttestationAtIndex returns the attestation whose leaf is at index, of whatever project, or
// store.ErrNotFound.
func (s *Store) AttestationAtIndex(ctx context.Context, index uint64) (store.Attestation, error) {
	if index > math.MaxInt64 {
		return store.Attestation{}, fmt.Errorf("attestation at log index %d: %w", index, store.ErrNotFound)
	}
	page, err := s.readAttestations(ctx,
		`SELECT `+attestationColumns+` FROM attestations WHERE log_index = ?`, int64(index))
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
	page, err := s.readAttestations(ctx, `SELECT `+attestationColumns+` FROM attestations
		WHERE log_index >= ? ORDER BY log_index LIMIT ?`, int64(from), store.PageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("scan attestations from log index %d: %w", from, err)
	}
	return page, nil
}

// ScanUnlogged returns the attestations of every project that have no log index and a Seq above afterSeq,
// ascending by Seq, at most limit of them (see store.PageSize), with their subjects and materials.
func (s *Store) ScanUnlogged(ctx context.Context, afterSeq int64, limit int) ([]store.Attestation, error) {
	page, err := s.readAttestations(ctx, `SELECT `+attestationColumns+` FROM attestations
		WHERE log_index IS NULL AND seq > ? ORDER BY seq LIMIT ?`, afterSeq, store.PageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("scan attestations without log index after seq %d: %w", afterSeq, err)
	}
	return page, nil
}

// LogWatermark returns the watermark, 0 if it was never set.
func (s *Store) LogWatermark(ctx context.Context) (uint64, error) {
	var size int64
	err := s.read.QueryRowContext(ctx, `SELECT COALESCE(max(watermark), 0) FROM log_state`).Scan(&size)
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
		err = classify(ctx, s.writeTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `
				INSERT INTO log_state (singleton, watermark) VALUES (1, ?)
				ON CONFLICT (singleton) DO UPDATE SET watermark = max(watermark, excluded.watermark)`, n)
			return err
		}))
	}
	if err != nil {
		return fmt.Errorf("set log watermark to %d: %w", size, err)
	}
	return nil
}

// AddOrphanLeaves records leaves in one write transaction. A leaf recorded already keeps its first record,
// and a leaf whose index has a row (an attestation or a layout) is not an orphan: it is not recorded. A zero
// FoundAt is now.
func (s *Store) AddOrphanLeaves(ctx context.Context, leaves []store.OrphanLeaf) error {
	if len(leaves) == 0 {
		return nil
	}
	indices := make([]int64, len(leaves))
	for i, l := range leaves {
		n, err := dbInt("log index", l.LogIndex)
		if err != nil {
			return fmt.Errorf("add orphan leaves: %w", err)
		}
		indices[i] = n
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		return execEach(ctx, tx, `
			INSERT INTO log_orphans (log_index, entry, found_at)
			SELECT ?1, ?2, ?3
			WHERE NOT EXISTS (SELECT 1 FROM attestations WHERE log_index = ?1)
				AND NOT EXISTS (SELECT 1 FROM layouts WHERE log_index = ?1)
			ON CONFLICT (log_index) DO NOTHING`, len(leaves), func(i int) []any {
			entry := leaves[i].Entry
			if entry == nil {
				entry = []byte{} // nil is NULL: an empty entry is still an entry
			}
			return []any{indices[i], entry, micros(orNow(leaves[i].FoundAt))}
		})
	})
	if err != nil {
		return fmt.Errorf("add %d orphan leaves: %w", len(leaves), classify(ctx, err))
	}
	return nil
}

// ListOrphanLeaves returns the orphan leaves whose index has no row, ascending by log index.
func (s *Store) ListOrphanLeaves(ctx context.Context) ([]store.OrphanLeaf, error) {
	leaves, err := collect(ctx, s.read, func(row scanner) (store.OrphanLeaf, error) {
		var l store.OrphanLeaf
		var index, found int64
		if err := row.Scan(&index, &l.Entry, &found); err != nil {
			return store.OrphanLeaf{}, err
		}
		l.LogIndex = uint64(index) // never negative: the schema checks it
		l.FoundAt = fromMicros(found)
		return l, nil
	}, `
		SELECT o.log_index, o.entry, o.found_at FROM log_orphans o
		WHERE NOT EXISTS (SELECT 1 FROM attestations a WHERE a.log_index = o.log_index)
			AND NOT EXISTS (SELECT 1 FROM layouts l WHERE l.log_index = o.log_index)
		ORDER BY o.log_index`)
	if err != nil {
		return nil, fmt.Errorf("list orphan leaves: %w", err)
	}
	return leaves, nil
}

// ScanAttestationKeys returns the project and id of up to limit attestations of every project with a Seq above
// afterSeq, ascending by Seq (the table's rowid), logged or not.
func (s *Store) ScanAttestationKeys(ctx context.Context, afterSeq int64, limit int) ([]store.AttestationKey, error) {
	keys, err := s.scanKeys(ctx, afterSeq, store.ScanKeysSize(limit))
	if err != nil {
		return nil, fmt.Errorf("scan attestation keys after seq %d: %w", afterSeq, classify(ctx, err))
	}
	return keys, nil
}

func (s *Store) scanKeys(ctx context.Context, afterSeq int64, limit int) ([]store.AttestationKey, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT seq, project_id, id FROM attestations WHERE seq > ? ORDER BY seq LIMIT ?`,
		afterSeq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []store.AttestationKey
	for rows.Next() {
		var k store.AttestationKey
		if err := rows.Scan(&k.Seq, &k.ProjectID, &k.ID); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

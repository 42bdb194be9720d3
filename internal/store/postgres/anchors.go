package postgres

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attestd/attestd/internal/store"
)

const anchorColumns = `project_id, attestation_id, state, attempts, next_attempt_at, last_error, entry, created_at,
	updated_at`

func scanAnchor(row pgx.Row) (store.Anchor, error) {
	var a store.Anchor
	if err := row.Scan(&a.ProjectID, &a.AttestationID, &a.State, &a.Attempts, &a.NextAttemptAt, &a.LastError,
		&a.Entry, &a.CreatedAt, &a.UpdatedAt); err != nil {
		return store.Anchor{}, err
	}
	a.NextAttemptAt = a.NextAttemptAt.UTC()
	a.CreatedAt = a.CreatedAt.UTC()
	a.UpdatedAt = a.UpdatedAt.UTC()
	return a, nil
}

func (s *Store) queryAnchors(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) ([]store.Anchor, error) {
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, classify(ctx, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Anchor, error) { return scanAnchor(row) })
	if err != nil {
		return nil, classify(ctx, err)
	}
	return out, nil
}

// GetAnchor returns the anchor of the project's attestation, or store.ErrNotFound.
func (s *Store) GetAnchor(ctx context.Context, projectID int64, attestationID string) (store.Anchor, error) {
	a, err := scanAnchor(s.lookups.QueryRow(ctx, `SELECT `+anchorColumns+` FROM anchors
		WHERE project_id = $1 AND attestation_id = $2`, projectID, attestationID))
	if err != nil {
		return store.Anchor{}, fmt.Errorf("anchor of attestation %s: %w", attestationID, classify(ctx, err))
	}
	return a, nil
}

// GetAnchors returns the anchors of the project's attestations with these ids, sorted by attestation id.
func (s *Store) GetAnchors(ctx context.Context, projectID int64, ids []string) ([]store.Anchor, error) {
	if len(ids) > store.MaxGetAttestations {
		return nil, fmt.Errorf("get anchors: %d ids, at most %d in one call", len(ids), store.MaxGetAttestations)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	out, err := s.queryAnchors(ctx, s.lookups, `SELECT `+anchorColumns+` FROM anchors
		WHERE project_id = $1 AND attestation_id = ANY($2) ORDER BY attestation_id`, projectID, ids)
	if err != nil {
		return nil, fmt.Errorf("get %d anchors of project %d: %w", len(ids), projectID, err)
	}
	return out, nil
}

// DueAnchors returns the pending anchors due at now, the earliest first: a walk of the partial index
// anchors_due, which holds the pending anchors only.
func (s *Store) DueAnchors(ctx context.Context, now time.Time, limit int) ([]store.Anchor, error) {
	out, err := s.queryAnchors(ctx, s.pool, `SELECT `+anchorColumns+` FROM anchors
		WHERE state = 'pending' AND next_attempt_at <= $1
		ORDER BY next_attempt_at, project_id, attestation_id LIMIT $2`, now, store.PageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("due anchors: %w", err)
	}
	return out, nil
}

// RecordAnchorAttempt records a failed attempt at a pending anchor in one statement. Concurrent updates of
// the row wait for each other, and each re-checks that the anchor is still pending once it has the row.
func (s *Store) RecordAnchorAttempt(ctx context.Context, projectID int64, attestationID string, nextAttemptAt time.Time, lastError string, failed bool) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE anchors SET attempts = attempts + 1, last_error = $3,
			state = CASE WHEN $5::boolean THEN 'failed' ELSE state END,
			next_attempt_at = CASE WHEN $5::boolean THEN next_attempt_at ELSE $4::timestamptz END,
			updated_at = now()
		WHERE project_id = $1 AND attestation_id = $2 AND state = 'pending'`,
		projectID, attestationID, store.AnchorErrorText(lastError), nextAttemptAt, failed)
	if err == nil && tag.RowsAffected() == 0 {
		_, err = s.settled(ctx, projectID, attestationID)
	}
	if err != nil {
		return fmt.Errorf("record an attempt at the anchor of attestation %s: %w", attestationID, err)
	}
	return nil
}

// CompleteAnchor records that a pending anchor is in Rekor, in one statement (see RecordAnchorAttempt).
func (s *Store) CompleteAnchor(ctx context.Context, projectID int64, attestationID string, entry []byte) error {
	if err := store.CheckAnchorEntry(entry); err != nil {
		return fmt.Errorf("complete the anchor of attestation %s: %w", attestationID, err)
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE anchors SET state = 'done', entry = $3, attempts = attempts + 1, updated_at = now()
		WHERE project_id = $1 AND attestation_id = $2 AND state = 'pending'`, projectID, attestationID, entry)
	if err == nil && tag.RowsAffected() == 0 {
		var a store.Anchor
		a, err = s.settled(ctx, projectID, attestationID)
		if a.State == store.AnchorDone && bytes.Equal(a.Entry, entry) {
			return nil // completed before with these bytes: a retry
		}
	}
	if err != nil {
		return fmt.Errorf("complete the anchor of attestation %s: %w", attestationID, err)
	}
	return nil
}

// settled explains why an update of a pending anchor changed nothing: the anchor, and store.ErrNotFound if
// there is none or an *store.AnchorSettledError if it is done or failed. It is read after the update, in a
// snapshot of its own: done and failed are final, so what it reads is why the update found no pending row.
func (s *Store) settled(ctx context.Context, projectID int64, attestationID string) (store.Anchor, error) {
	a, err := scanAnchor(s.pool.QueryRow(ctx, `SELECT `+anchorColumns+` FROM anchors
		WHERE project_id = $1 AND attestation_id = $2`, projectID, attestationID))
	switch {
	case err != nil:
		return a, classify(ctx, err)
	case a.State == store.AnchorPending:
		// Only a copy (InsertAnchor) that committed between the two statements makes a pending row appear.
		return a, fmt.Errorf("%w: the anchor appeared while it was recorded", store.ErrUnavailable)
	}
	return a, &store.AnchorSettledError{AttestationID: attestationID, State: a.State}
}

// CountAnchors counts the anchors of a project (of every project, for 0) in each state.
func (s *Store) CountAnchors(ctx context.Context, projectID int64) (map[string]int, error) {
	var rows pgx.Rows
	var err error
	if projectID == 0 {
		rows, err = s.pool.Query(ctx, `SELECT state, count(*) FROM anchors GROUP BY state`)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT state, count(*) FROM anchors WHERE project_id = $1 GROUP BY state`,
			projectID)
	}
	if err != nil {
		return nil, fmt.Errorf("count anchors of project %d: %w", projectID, classify(ctx, err))
	}
	counts := map[string]int{store.AnchorPending: 0, store.AnchorDone: 0, store.AnchorFailed: 0}
	var state string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&state, &n}, func() error {
		counts[state] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count anchors of project %d: %w", projectID, classify(ctx, err))
	}
	return counts, nil
}

// RetryAnchors puts failed anchors back in the queue, in one statement.
func (s *Store) RetryAnchors(ctx context.Context, projectID int64, ids []string, at time.Time) (int, error) {
	if len(ids) > store.MaxGetAttestations {
		return 0, fmt.Errorf("retry anchors: %d ids, at most %d in one call", len(ids), store.MaxGetAttestations)
	}
	if ids != nil && len(ids) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE anchors SET state = 'pending', next_attempt_at = $3, updated_at = now()
		WHERE project_id = $1 AND state = 'failed' AND ($2::text[] IS NULL OR attestation_id = ANY($2))`,
		projectID, ids, at)
	if err != nil {
		return 0, fmt.Errorf("retry anchors of project %d: %w", projectID, classify(ctx, err))
	}
	return int(tag.RowsAffected()), nil
}

// InsertAnchor stores a copied anchor as it is.
func (s *Store) InsertAnchor(ctx context.Context, a store.Anchor) error {
	if err := store.CheckAnchor(a); err != nil {
		return fmt.Errorf("insert anchor: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO anchors (`+anchorColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		a.ProjectID, a.AttestationID, a.State, a.Attempts, a.NextAttemptAt, a.LastError, emptyNil(a.Entry),
		a.CreatedAt, a.UpdatedAt)
	if err != nil {
		return fmt.Errorf("insert the anchor of attestation %s: %w", a.AttestationID, classify(ctx, err))
	}
	return nil
}

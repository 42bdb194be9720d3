package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/attestd/attestd/internal/store"
)

const anchorColumns = `project_id, attestation_id, state, attempts, next_attempt_at, last_error, entry, created_at,
	updated_at`

func scanAnchor(row scanner) (store.Anchor, error) {
	var a store.Anchor
	var next, created, updated int64
	if err := row.Scan(&a.ProjectID, &a.AttestationID, &a.State, &a.Attempts, &next, &a.LastError, &a.Entry,
		&created, &updated); err != nil {
		return store.Anchor{}, err
	}
	a.Entry = emptyNil(a.Entry)
	a.NextAttemptAt = fromMicros(next)
	a.CreatedAt = fromMicros(created)
	a.UpdatedAt = fromMicros(updated)
	return a, nil
}

// GetAnchor returns the anchor of the project's attestation, or store.ErrNotFound.
func (s *Store) GetAnchor(ctx context.Context, projectID int64, attestationID string) (store.Anchor, error) {
	a, err := getAnchor(ctx, s.read, projectID, attestationID)
	if err != nil {
		return store.Anchor{}, fmt.Errorf("anchor of attestation %s: %w", attestationID, classify(ctx, err))
	}
	return a, nil
}

func getAnchor(ctx context.Context, db querier, projectID int64, attestationID string) (store.Anchor, error) {
	return scanAnchor(db.QueryRowContext(ctx, `SELECT `+anchorColumns+` FROM anchors
		WHERE project_id = ? AND attestation_id = ?`, projectID, attestationID))
}

// GetAnchors returns the anchors of the project's attestations with these ids, sorted by attestation id.
func (s *Store) GetAnchors(ctx context.Context, projectID int64, ids []string) ([]store.Anchor, error) {
	if len(ids) > store.MaxGetAttestations {
		return nil, fmt.Errorf("get anchors: %d ids, at most %d in one call", len(ids), store.MaxGetAttestations)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := jsonList("attestation id", ids)
	if err != nil {
		return nil, fmt.Errorf("get anchors of project %d: %w", projectID, err)
	}
	out, err := collect(ctx, s.read, scanAnchor, `SELECT `+anchorColumns+` FROM anchors
		WHERE project_id = ? AND attestation_id IN (SELECT value FROM json_each(?))
		ORDER BY attestation_id`, projectID, list)
	if err != nil {
		return nil, fmt.Errorf("get %d anchors of project %d: %w", len(ids), projectID, err)
	}
	return out, nil
}

// dueAnchorsQuery selects the pending anchors due at ?1, at most ?2: a walk of the partial index anchors_due,
// which holds the pending anchors only, in its order.
const dueAnchorsQuery = `SELECT ` + anchorColumns + ` FROM anchors
	WHERE state = 'pending' AND next_attempt_at <= ?1
	ORDER BY next_attempt_at, project_id, attestation_id LIMIT ?2`

// DueAnchors returns the pending anchors due at now, the earliest first.
func (s *Store) DueAnchors(ctx context.Context, now time.Time, limit int) ([]store.Anchor, error) {
	out, err := collect(ctx, s.read, scanAnchor, dueAnchorsQuery, micros(now), store.PageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("due anchors: %w", err)
	}
	return out, nil
}

// RecordAnchorAttempt records a failed attempt at a pending anchor. The update, and the read that explains
// why it changed nothing, are one write transaction: concurrent records of one anchor take turns.
func (s *Store) RecordAnchorAttempt(ctx context.Context, projectID int64, attestationID string, nextAttemptAt time.Time, lastError string, failed bool) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE anchors SET attempts = attempts + 1, last_error = ?3,
				state = CASE WHEN ?5 THEN 'failed' ELSE state END,
				next_attempt_at = CASE WHEN ?5 THEN next_attempt_at ELSE ?4 END,
				updated_at = ?6
			WHERE project_id = ?1 AND attestation_id = ?2 AND state = 'pending'`,
			projectID, attestationID, store.AnchorErrorText(lastError), micros(nextAttemptAt), boolInt(failed),
			micros(now()))
		if err := affected(res, err); !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = settled(ctx, tx, projectID, attestationID)
		return err
	})
	if err != nil {
		return fmt.Errorf("record an attempt at the anchor of attestation %s: %w", attestationID, classify(ctx, err))
	}
	return nil
}

// CompleteAnchor records that a pending anchor is in Rekor (see RecordAnchorAttempt).
func (s *Store) CompleteAnchor(ctx context.Context, projectID int64, attestationID string, entry []byte) error {
	if err := store.CheckAnchorEntry(entry); err != nil {
		return fmt.Errorf("complete the anchor of attestation %s: %w", attestationID, err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE anchors SET state = 'done', entry = ?, attempts = attempts + 1, updated_at = ?
			WHERE project_id = ? AND attestation_id = ? AND state = 'pending'`,
			entry, micros(now()), projectID, attestationID)
		if err := affected(res, err); !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		a, err := settled(ctx, tx, projectID, attestationID)
		if a.State == store.AnchorDone && bytes.Equal(a.Entry, entry) {
			return nil // completed before with these bytes: a retry
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("complete the anchor of attestation %s: %w", attestationID, classify(ctx, err))
	}
	return nil
}

// settled explains why an update of a pending anchor in tx changed nothing: the anchor, and sql.ErrNoRows
// (store.ErrNotFound once classified) if there is none or an *store.AnchorSettledError if it is done or
// failed.
func settled(ctx context.Context, tx *sql.Tx, projectID int64, attestationID string) (store.Anchor, error) {
	a, err := getAnchor(ctx, tx, projectID, attestationID)
	if err != nil {
		return a, err
	}
	return a, &store.AnchorSettledError{AttestationID: attestationID, State: a.State}
}

// CountAnchors counts the anchors of a project (of every project, for 0) in each state.
// RetryAnchors puts failed anchors back in the queue, in one write transaction.
func (s *Store) RetryAnchors(ctx context.Context, projectID int64, ids []string, at time.Time) (int, error) {
	if len(ids) > store.MaxGetAttestations {
		return 0, fmt.Errorf("retry anchors: %d ids, at most %d in one call", len(ids), store.MaxGetAttestations)
	}
	if ids != nil && len(ids) == 0 {
		return 0, nil
	}
	n := 0
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		query := `UPDATE anchors SET state = 'pending', next_attempt_at = ?2, updated_at = ?3
			WHERE project_id = ?1 AND state = 'failed'`
		args := []any{projectID, micros(at), micros(now())}
		if ids != nil {
			list, err := json.Marshal(ids)
			if err != nil {
				return err
			}
			query += ` AND attestation_id IN (SELECT value FROM json_each(?4))`
			args = append(args, string(list))
		}
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		n = int(k)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("retry anchors of project %d: %w", projectID, classify(ctx, err))
	}
	return n, nil
}

func (s *Store) CountAnchors(ctx context.Context, projectID int64) (map[string]int, error) {
	type count struct {
		state string
		n     int
	}
	query := `SELECT state, count(*) FROM anchors GROUP BY state`
	var args []any
	if projectID != 0 {
		query = `SELECT state, count(*) FROM anchors WHERE project_id = ? GROUP BY state`
		args = append(args, projectID)
	}
	rows, err := collect(ctx, s.read, func(row scanner) (count, error) {
		var c count
		err := row.Scan(&c.state, &c.n)
		return c, err
	}, query, args...)
	if err != nil {
		return nil, fmt.Errorf("count anchors of project %d: %w", projectID, err)
	}
	counts := map[string]int{store.AnchorPending: 0, store.AnchorDone: 0, store.AnchorFailed: 0}
	for _, c := range rows {
		counts[c.state] = c.n
	}
	return counts, nil
}

// InsertAnchor stores a copied anchor as it is.
func (s *Store) InsertAnchor(ctx context.Context, a store.Anchor) error {
	if err := store.CheckAnchor(a); err != nil {
		return fmt.Errorf("insert anchor: %w", err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO anchors (`+anchorColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ProjectID, a.AttestationID, a.State, a.Attempts, micros(a.NextAttemptAt), a.LastError,
			sql.Null[[]byte]{V: a.Entry, Valid: len(a.Entry) > 0}, micros(a.CreatedAt), micros(a.UpdatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("insert the anchor of attestation %s: %w", a.AttestationID, classify(ctx, err))
	}
	return nil
}

package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/attestd/attestd/internal/store"
)

const decisionColumns = `id, project_id, requester_id, kind, name, digest, policy, layout, layout_version, allowed, reasons, decided_at`

func scanDecision(row pgx.Row) (store.Decision, error) {
	var d store.Decision
	if err := row.Scan(&d.ID, &d.ProjectID, &d.RequesterID, &d.Kind, &d.Name, &d.Digest, &d.Policy, &d.Layout,
		&d.LayoutVersion, &d.Allowed, &d.Reasons, &d.DecidedAt); err != nil {
		return store.Decision{}, err
	}
	d.DecidedAt = d.DecidedAt.UTC()
	if len(d.Reasons) == 0 {
		d.Reasons = nil
	}
	return d, nil
}

// maxDeciders bounds the connections of AddDecision's pool. One INSERT holds a connection for about 0.1 ms,
// so a few cover thousands of decisions a second.
const maxDeciders = 4

// AddDecision records one decision; a project that does not exist is ErrNotFound and records nothing.
// It returns d with the row's id, and its decided_at when d had none.
//
// The row commits asynchronously: the decider pool's connections run with synchronous_commit off (see
// Open), so Verify does not wait for a WAL flush, about a millisecond here, which would otherwise be most of
// a decision's cost. A crash of PostgreSQL (not of attestd) can lose the decisions of its last few hundred
// milliseconds; attestations and layouts always commit durably, on the other pools.
func (s *Store) AddDecision(ctx context.Context, d store.Decision) (store.Decision, error) {
	reasons := d.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	// From the project's row rather than VALUES: a project that does not exist gives no row, which classify
	// makes ErrNotFound (the table has no foreign key, whose check would lock the project's row; 00013).
	err := s.decider.QueryRow(ctx, `
		INSERT INTO decisions (project_id, requester_id, kind, name, digest, policy, layout, layout_version, allowed,
			reasons, decided_at)
		SELECT p.id, $2, $3, $4, $5, $6, $7, $8, $9, $10, COALESCE($11, now()) FROM projects p WHERE p.id = $1
		RETURNING id, decided_at`,
		d.ProjectID, d.RequesterID, d.Kind, d.Name, d.Digest, d.Policy, d.Layout, d.LayoutVersion, d.Allowed,
		reasons, nullTime(d.DecidedAt)).Scan(&d.ID, &d.DecidedAt)
	if err != nil {
		return store.Decision{}, fmt.Errorf("add decision of project %d: %w", d.ProjectID, classify(ctx, err))
	}
	d.DecidedAt = d.DecidedAt.UTC()
	d.Reasons = emptyNil(d.Reasons)
	return d, nil
}

// ListDecisions lists the project's decisions newest first.
func (s *Store) ListDecisions(ctx context.Context, projectID, beforeID int64, limit int) ([]store.Decision, error) {
	if limit <= 0 {
		limit = store.DefaultPageSize
	}
	limit = min(limit, store.MaxPageSize)
	rows, err := s.pool.Query(ctx, `
		SELECT `+decisionColumns+` FROM decisions
		WHERE project_id = $1 AND ($2 = 0 OR id < $2)
		ORDER BY id DESC LIMIT $3`, projectID, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list decisions of project %d: %w", projectID, classify(ctx, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Decision, error) { return scanDecision(row) })
	if err != nil {
		return nil, fmt.Errorf("list decisions of project %d: %w", projectID, classify(ctx, err))
	}
	return out, nil
}

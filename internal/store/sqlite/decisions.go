package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"

	"github.com/attestd/attestd/internal/store"
)

const decisionColumns = `id, project_id, requester_id, kind, name, digest, policy, layout, layout_version, allowed, reasons, decided_at`

func scanDecision(row scanner) (store.Decision, error) {
	var d store.Decision
	var allowed, decided int64
	var reasons string
	if err := row.Scan(&d.ID, &d.ProjectID, &d.RequesterID, &d.Kind, &d.Name, &d.Digest, &d.Policy, &d.Layout,
		&d.LayoutVersion, &allowed, &reasons, &decided); err != nil {
		return store.Decision{}, err
	}
	var err error
	if d.Reasons, err = fromJSONList("reasons", reasons); err != nil {
		return store.Decision{}, err
	}
	d.Allowed = allowed != 0
	d.DecidedAt = fromMicros(decided)
	return d, nil
}

// AddDecision records one decision; the foreign key to projects refuses an unknown project (ErrNotFound).
// Ids come from AUTOINCREMENT: each is larger than every id before it, even of deleted rows.
//
// The row commits without waiting for the disk (see lazyWriteTx): Verify does not wait for an fsync, most of
// a decision's cost otherwise. A crash of attestd loses nothing; a crash of the machine may lose the
// decisions of its last moments, never an attestation or a layout.
func (s *Store) AddDecision(ctx context.Context, d store.Decision) (store.Decision, error) {
	reasons, err := jsonList("reason", d.Reasons)
	if err != nil {
		return store.Decision{}, fmt.Errorf("add decision of project %d: %w", d.ProjectID, err)
	}
	var stored store.Decision
	err = s.lazyWriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		stored, err = scanDecision(tx.QueryRowContext(ctx, `
			INSERT INTO decisions (project_id, requester_id, kind, name, digest, policy, layout, layout_version,
				allowed, reasons, decided_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			RETURNING `+decisionColumns,
			d.ProjectID, d.RequesterID, d.Kind, d.Name, d.Digest, d.Policy, d.Layout, d.LayoutVersion,
			boolInt(d.Allowed), reasons, micros(orNow(d.DecidedAt))))
		return err
	})
	if err != nil {
		return store.Decision{}, fmt.Errorf("add decision of project %d: %w", d.ProjectID, classify(ctx, err))
	}
	return stored, nil
}

// ListDecisions lists the project's decisions newest first.
func (s *Store) ListDecisions(ctx context.Context, projectID, beforeID int64, limit int) ([]store.Decision, error) {
	if beforeID == 0 {
		beforeID = math.MaxInt64 // ids never reach it: AUTOINCREMENT fails first
	}
	out, err := collect(ctx, s.read, scanDecision, `
		SELECT `+decisionColumns+` FROM decisions
		WHERE project_id = ? AND id < ?
		ORDER BY id DESC LIMIT ?`, projectID, beforeID, store.PageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("list decisions of project %d: %w", projectID, err)
	}
	return out, nil
}

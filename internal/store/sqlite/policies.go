package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/attestd/attestd/internal/store"
)

const policyColumns = `project_id, name, kind, "match", layout, require_rekor, setter_id, created_at, updated_at`

func scanPolicy(row scanner) (store.Policy, error) {
	var p store.Policy
	var requireRekor, created, updated int64
	if err := row.Scan(&p.ProjectID, &p.Name, &p.Kind, &p.Match, &p.Layout, &requireRekor, &p.SetterID,
		&created, &updated); err != nil {
		return store.Policy{}, err
	}
	p.RequireRekor = requireRekor != 0
	p.CreatedAt = fromMicros(created)
	p.UpdatedAt = fromMicros(updated)
	return p, nil
}

// SetPolicy creates or replaces a policy. The count of the project's policies and the write that follows it
// are one write transaction, which runs alone, so concurrent sets cannot race past max; the foreign key to
// layout_names refuses a layout the project does not have.
func (s *Store) SetPolicy(ctx context.Context, p store.Policy, max int) (store.Policy, error) {
	var stored store.Policy
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM projects WHERE id = ?`, p.ProjectID).Scan(&id); err != nil {
			return err
		}
		var exists bool
		var n int
		if err := tx.QueryRowContext(ctx, `
			SELECT count(*) FILTER (WHERE name = ?2) > 0, count(*) FROM policies WHERE project_id = ?1`,
			p.ProjectID, p.Name).Scan(&exists, &n); err != nil {
			return err
		}
		if !exists && n >= max {
			return fmt.Errorf("%w: project %d has %d policies, at most %d", store.ErrLimitReached, p.ProjectID, n, max)
		}
		updated := micros(orNow(p.UpdatedAt))
		var err error
		stored, err = scanPolicy(tx.QueryRowContext(ctx, `
			INSERT INTO policies (`+policyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (project_id, name) DO UPDATE SET
				kind = excluded.kind, "match" = excluded."match", layout = excluded.layout,
				require_rekor = excluded.require_rekor, setter_id = excluded.setter_id,
				updated_at = excluded.updated_at
			RETURNING `+policyColumns,
			p.ProjectID, p.Name, p.Kind, p.Match, p.Layout, boolInt(p.RequireRekor), p.SetterID, updated, updated))
		return err
	})
	if errors.Is(err, store.ErrLimitReached) {
		return store.Policy{}, err
	}
	if err != nil {
		return store.Policy{}, fmt.Errorf("set policy %q of project %d: %w", p.Name, p.ProjectID, classify(ctx, err))
	}
	return stored, nil
}

// ListPolicies returns the project's policies, of one kind or of all, by name.
func (s *Store) ListPolicies(ctx context.Context, projectID int64, kind string) ([]store.Policy, error) {
	out, err := collect(ctx, s.read, scanPolicy, `
		SELECT `+policyColumns+` FROM policies
		WHERE project_id = ?1 AND (?2 = '' OR kind = ?2)
		ORDER BY name`, projectID, kind)
	if err != nil {
		return nil, fmt.Errorf("list policies of project %d: %w", projectID, err)
	}
	return out, nil
}

// DeletePolicy deletes one policy of the project.
func (s *Store) DeletePolicy(ctx context.Context, projectID int64, name string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM policies WHERE project_id = ? AND name = ?`, projectID, name)
		return affected(res, err)
	})
	if err != nil {
		return fmt.Errorf("delete policy %q of project %d: %w", name, projectID, classify(ctx, err))
	}
	return nil
}

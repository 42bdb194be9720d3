package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/attestd/attestd/internal/store"
)

const policyColumns = `project_id, name, kind, match, layout, require_rekor, setter_id, created_at, updated_at`

func scanPolicy(row pgx.Row) (store.Policy, error) {
	var p store.Policy
	if err := row.Scan(&p.ProjectID, &p.Name, &p.Kind, &p.Match, &p.Layout, &p.RequireRekor, &p.SetterID,
		&p.CreatedAt, &p.UpdatedAt); err != nil {
		return store.Policy{}, err
	}
	p.CreatedAt = p.CreatedAt.UTC()
	p.UpdatedAt = p.UpdatedAt.UTC()
	return p, nil
}

// SetPolicy creates or replaces a policy. The project's row is locked first, so that the sets of one project
// take turns and the count of its policies cannot race past max; the foreign key to layout_names refuses a
// layout the project does not have.
func (s *Store) SetPolicy(ctx context.Context, p store.Policy, max int) (store.Policy, error) {
	var stored store.Policy
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `SELECT id FROM projects WHERE id = $1 FOR UPDATE`, p.ProjectID).Scan(&id); err != nil {
			return err
		}
		var exists bool
		var n int
		if err := tx.QueryRow(ctx, `
			SELECT count(*) FILTER (WHERE name = $2) > 0, count(*) FROM policies WHERE project_id = $1`,
			p.ProjectID, p.Name).Scan(&exists, &n); err != nil {
			return err
		}
		if !exists && n >= max {
			return fmt.Errorf("%w: project %d has %d policies, at most %d", store.ErrLimitReached, p.ProjectID, n, max)
		}
		var err error
		stored, err = scanPolicy(tx.QueryRow(ctx, `
			INSERT INTO policies (`+policyColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8, now()), COALESCE($8, now()))
			ON CONFLICT (project_id, name) DO UPDATE SET
				kind = EXCLUDED.kind, match = EXCLUDED.match, layout = EXCLUDED.layout,
				require_rekor = EXCLUDED.require_rekor, setter_id = EXCLUDED.setter_id,
				updated_at = EXCLUDED.updated_at
			RETURNING `+policyColumns,
			p.ProjectID, p.Name, p.Kind, p.Match, p.Layout, p.RequireRekor, p.SetterID, nullTime(p.UpdatedAt)))
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
	rows, err := s.pool.Query(ctx, `
		SELECT `+policyColumns+` FROM policies
		WHERE project_id = $1 AND ($2 = '' OR kind = $2)
		ORDER BY name`, projectID, kind)
	if err != nil {
		return nil, fmt.Errorf("list policies of project %d: %w", projectID, classify(ctx, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Policy, error) { return scanPolicy(row) })
	if err != nil {
		return nil, fmt.Errorf("list policies of project %d: %w", projectID, classify(ctx, err))
	}
	return out, nil
}

// DeletePolicy deletes one policy of the project.
func (s *Store) DeletePolicy(ctx context.Context, projectID int64, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM policies WHERE project_id = $1 AND name = $2`, projectID, name)
	if err != nil {
		return fmt.Errorf("delete policy %q of project %d: %w", name, projectID, classify(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete policy %q of project %d: %w", name, projectID, store.ErrNotFound)
	}
	return nil
}

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/attestd/attestd/internal/store"
)

// The methods that copy an installation whole (package dump): see the end of store.Store.

// CreateProjectAt creates a project named name created at createdAt (the database's current time for the zero
// time); store.ErrAlreadyExists if the name is taken.
func (s *Store) CreateProjectAt(ctx context.Context, name string, createdAt time.Time) (store.Project, error) {
	row := s.pool.QueryRow(ctx, `INSERT INTO projects (name, created_at) VALUES ($1, COALESCE($2, now()))
		RETURNING `+projectColumns, name, nullTime(createdAt))
	p, err := scanProject(row)
	if err != nil {
		return store.Project{}, fmt.Errorf("create project %q: %w", name, classify(ctx, err))
	}
	return p, nil
}

// BootstrapTokenID returns the id of the token that Bootstrap stored, or store.ErrNotFound.
func (s *Store) BootstrapTokenID(ctx context.Context) (string, error) {
	var id string
	if err := s.pool.QueryRow(ctx, `SELECT token_id FROM bootstrap`).Scan(&id); err != nil {
		return "", fmt.Errorf("bootstrap token: %w", classify(ctx, err))
	}
	return id, nil
}

// ScanDecisions returns the decisions of every project with an id above afterID, ascending, at most limit
// (zero or less: store.DefaultPageSize; at most store.MaxPageSize).
func (s *Store) ScanDecisions(ctx context.Context, afterID int64, limit int) ([]store.Decision, error) {
	if limit <= 0 {
		limit = store.DefaultPageSize
	}
	limit = min(limit, store.MaxPageSize)
	rows, err := s.pool.Query(ctx, `
		SELECT `+decisionColumns+` FROM decisions WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("scan decisions after id %d: %w", afterID, classify(ctx, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Decision, error) { return scanDecision(row) })
	if err != nil {
		return nil, fmt.Errorf("scan decisions after id %d: %w", afterID, classify(ctx, err))
	}
	return out, nil
}

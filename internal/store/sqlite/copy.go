package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// The methods that copy an installation whole (package dump): see the end of store.Store.

// CreateProjectAt creates a project named name created at createdAt (now for the zero time);
// store.ErrAlreadyExists if the name is taken.
func (s *Store) CreateProjectAt(ctx context.Context, name string, createdAt time.Time) (store.Project, error) {
	var p store.Project
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = scanProject(tx.QueryRowContext(ctx,
			`INSERT INTO projects (name, created_at) VALUES (?, ?) RETURNING `+projectColumns,
			name, micros(orNow(createdAt))))
		return err
	})
	if err != nil {
		return store.Project{}, fmt.Errorf("create project %q: %w", name, classify(ctx, err))
	}
	return p, nil
}

// BootstrapTokenID returns the id of the token that Bootstrap stored, or store.ErrNotFound.
func (s *Store) BootstrapTokenID(ctx context.Context) (string, error) {
	var id string
	if err := s.read.QueryRowContext(ctx, `SELECT token_id FROM bootstrap`).Scan(&id); err != nil {
		return "", fmt.Errorf("bootstrap token: %w", classify(ctx, err))
	}
	return id, nil
}

// ScanDecisions returns the decisions of every project with an id above afterID, ascending, at most limit
// (see store.PageSize).
func (s *Store) ScanDecisions(ctx context.Context, afterID int64, limit int) ([]store.Decision, error) {
	out, err := collect(ctx, s.read, scanDecision, `
		SELECT `+decisionColumns+` FROM decisions WHERE id > ? ORDER BY id LIMIT ?`, afterID, store.PageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("scan decisions after id %d: %w", afterID, err)
	}
	return out, nil
}

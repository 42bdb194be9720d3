package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/attestd/attestd/internal/store"
)

const projectColumns = `id, name, created_at, generation, rekor_url, rekor_public_key`

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

func scanProject(row scanner) (store.Project, error) {
	var p store.Project
	var created int64
	if err := row.Scan(&p.ID, &p.Name, &created, &p.Generation, &p.RekorURL, &p.RekorPublicKey); err != nil {
		return store.Project{}, err
	}
	p.CreatedAt = fromMicros(created)
	p.RekorPublicKey = emptyNil(p.RekorPublicKey)
	return p, nil
}

// CreateProject creates a project named name; store.ErrAlreadyExists if the name is taken.
func (s *Store) CreateProject(ctx context.Context, name string) (store.Project, error) {
	var p store.Project
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = scanProject(tx.QueryRowContext(ctx,
			`INSERT INTO projects (name, created_at) VALUES (?, ?) RETURNING `+projectColumns, name, micros(now())))
		return err
	})
	if err != nil {
		return store.Project{}, fmt.Errorf("create project %q: %w", name, classify(ctx, err))
	}
	return p, nil
}

// ProjectByName returns the project named name, or store.ErrNotFound.
func (s *Store) ProjectByName(ctx context.Context, name string) (store.Project, error) {
	p, err := scanProject(s.read.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE name = ?`, name))
	if err != nil {
		return store.Project{}, fmt.Errorf("project %q: %w", name, classify(ctx, err))
	}
	return p, nil
}

// ProjectByID returns the project with id, or store.ErrNotFound.
func (s *Store) ProjectByID(ctx context.Context, id int64) (store.Project, error) {
	p, err := scanProject(s.read.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ?`, id))
	if err != nil {
		return store.Project{}, fmt.Errorf("project %d: %w", id, classify(ctx, err))
	}
	return p, nil
}

// ListProjects returns every project ordered by name, byte by byte.
func (s *Store) ListProjects(ctx context.Context) ([]store.Project, error) {
	projects, err := collect(ctx, s.read, scanProject, `SELECT `+projectColumns+` FROM projects ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return projects, nil
}

// SetProjectRekor sets the project's Rekor server and key (both cleared for url "") and raises its generation,
// in one statement.
func (s *Store) SetProjectRekor(ctx context.Context, projectID int64, url string, publicKeyPEM []byte) (store.Project, error) {
	if err := store.CheckRekorSettings(url, publicKeyPEM); err != nil {
		return store.Project{}, fmt.Errorf("set rekor of project %d: %w", projectID, err)
	}
	key := []byte{} // never NULL
	if url != "" {
		key = append(key, publicKeyPEM...)
	}
	var p store.Project
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = scanProject(tx.QueryRowContext(ctx, `
			UPDATE projects SET rekor_url = ?, rekor_public_key = ?, generation = generation + 1
			WHERE id = ? RETURNING `+projectColumns, url, key, projectID))
		return err
	})
	if err != nil {
		return store.Project{}, fmt.Errorf("set rekor of project %d: %w", projectID, classify(ctx, err))
	}
	return p, nil
}

// collect runs a query on db and scans every row with scan. Errors are classified.
func collect[T any](ctx context.Context, db querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, classify(ctx, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, classify(ctx, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(ctx, err)
	}
	return out, nil
}

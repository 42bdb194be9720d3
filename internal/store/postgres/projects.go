package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/attestd/attestd/internal/store"
)

const projectColumns = `id, name, created_at, generation, rekor_url, rekor_public_key`

func scanProject(row pgx.Row) (store.Project, error) {
	var p store.Project
	if err := row.Scan(&p.ID, &p.Name, &p.CreatedAt, &p.Generation, &p.RekorURL, &p.RekorPublicKey); err != nil {
		return store.Project{}, err
	}
	p.CreatedAt = p.CreatedAt.UTC()
	p.RekorPublicKey = emptyNil(p.RekorPublicKey)
	return p, nil
}

// CreateProject creates a project named name; store.ErrAlreadyExists if the name is taken.
func (s *Store) CreateProject(ctx context.Context, name string) (store.Project, error) {
	row := s.pool.QueryRow(ctx, `INSERT INTO projects (name) VALUES ($1) RETURNING `+projectColumns, name)
	p, err := scanProject(row)
	if err != nil {
		return store.Project{}, fmt.Errorf("create project %q: %w", name, classify(ctx, err))
	}
	return p, nil
}

// ProjectByName returns the project named name, or store.ErrNotFound.
func (s *Store) ProjectByName(ctx context.Context, name string) (store.Project, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+projectColumns+` FROM projects WHERE name = $1`, name)
	p, err := scanProject(row)
	if err != nil {
		return store.Project{}, fmt.Errorf("project %q: %w", name, classify(ctx, err))
	}
	return p, nil
}

// ProjectByID returns the project with id, or store.ErrNotFound.
func (s *Store) ProjectByID(ctx context.Context, id int64) (store.Project, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = $1`, id)
	p, err := scanProject(row)
	if err != nil {
		return store.Project{}, fmt.Errorf("project %d: %w", id, classify(ctx, err))
	}
	return p, nil
}

// ListProjects returns every project ordered by name, byte by byte.
func (s *Store) ListProjects(ctx context.Context) ([]store.Project, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+projectColumns+` FROM projects ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", classify(ctx, err))
	}
	projects, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Project, error) {
		return scanProject(row)
	})
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", classify(ctx, err))
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
	row := s.pool.QueryRow(ctx, `
		UPDATE projects SET rekor_url = $2, rekor_public_key = $3, generation = generation + 1
		WHERE id = $1 RETURNING `+projectColumns, projectID, url, key)
	p, err := scanProject(row)
	if err != nil {
		return store.Project{}, fmt.Errorf("set rekor of project %d: %w", projectID, classify(ctx, err))
	}
	return p, nil
}

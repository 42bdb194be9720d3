package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/attestd/attestd/internal/store"
)

// execer is what pool and transaction have in common for statements without results.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

const tokenColumns = `id, hash, project_id, role, steps, description, created_at, revoked_at`

func scanToken(row pgx.Row) (store.Token, error) {
	var t store.Token
	var projectID *int64
	err := row.Scan(&t.ID, &t.Hash, &projectID, &t.Role, &t.Steps, &t.Description, &t.CreatedAt, &t.RevokedAt)
	if err != nil {
		return store.Token{}, err
	}
	if projectID != nil {
		t.ProjectID = *projectID
	}
	t.Steps = emptyNil(t.Steps)
	t.CreatedAt = t.CreatedAt.UTC()
	t.RevokedAt = utcPtr(t.RevokedAt)
	return t, nil
}

// projectRef is the project_id column of a token: NULL for server-admin tokens (project 0).
func projectRef(projectID int64) *int64 {
	if projectID == 0 {
		return nil
	}
	return &projectID
}

func insertToken(ctx context.Context, db execer, t store.Token) error {
	steps := t.Steps
	if steps == nil {
		steps = []string{}
	}
	_, err := db.Exec(ctx, `
		INSERT INTO tokens (id, hash, project_id, role, steps, description, created_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, now()), $8)`,
		t.ID, t.Hash, projectRef(t.ProjectID), t.Role, steps, t.Description, nullTime(t.CreatedAt), t.RevokedAt)
	return err
}

// CreateToken stores t; store.ErrAlreadyExists if its id or hash is taken, store.ErrNotFound if its project
// does not exist. A zero CreatedAt is set to the database's current time.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	if err := insertToken(ctx, s.pool, t); err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, classify(ctx, err))
	}
	return nil
}

// TokenByHash returns the token whose secret hashes to hash, revoked or not, or store.ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, hash)
	t, err := scanToken(row)
	if err != nil {
		return store.Token{}, fmt.Errorf("token by hash: %w", classify(ctx, err))
	}
	return t, nil
}

// Authenticate returns the token whose secret hashes to hash and its project, in one query.
func (s *Store) Authenticate(ctx context.Context, hash []byte) (store.Token, store.Project, error) {
	var p store.Project
	var pid, pgen *int64
	var pname, prekor *string
	var pcreated *time.Time
	var pkey []byte
	t, err := scanToken(scanFunc(func(dest ...any) error {
		return s.pool.QueryRow(ctx, `
			SELECT t.id, t.hash, t.project_id, t.role, t.steps, t.description, t.created_at, t.revoked_at,
				p.id, p.name, p.created_at, p.generation, p.rekor_url, p.rekor_public_key
			FROM tokens t LEFT JOIN projects p ON p.id = t.project_id
			WHERE t.hash = $1`, hash).Scan(append(dest, &pid, &pname, &pcreated, &pgen, &prekor, &pkey)...)
	}))
	if err != nil {
		return store.Token{}, store.Project{}, fmt.Errorf("authenticate: %w", classify(ctx, err))
	}
	if pid != nil {
		p = store.Project{ID: *pid, Name: *pname, CreatedAt: pcreated.UTC(), Generation: *pgen,
			RekorURL: *prekor, RekorPublicKey: emptyNil(pkey)}
	}
	return t, p, nil
}

// scanFunc makes a function a pgx.Row.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// ListTokens returns the tokens of a project (of no project, the server-admin ones, for 0), oldest first.
func (s *Store) ListTokens(ctx context.Context, projectID int64) ([]store.Token, error) {
	const order = ` ORDER BY created_at, id`
	var rows pgx.Rows
	var err error
	if projectID == 0 {
		rows, err = s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE project_id IS NULL`+order)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE project_id = $1`+order, projectID)
	}
	if err != nil {
		return nil, fmt.Errorf("list tokens of project %d: %w", projectID, classify(ctx, err))
	}
	tokens, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Token, error) { return scanToken(row) })
	if err != nil {
		return nil, fmt.Errorf("list tokens of project %d: %w", projectID, classify(ctx, err))
	}
	return tokens, nil
}

// RevokeToken marks the token revoked at at (now for the zero time). A token revoked before keeps its first
// revocation time. store.ErrNotFound if the project (0: no project) has no token id.
func (s *Store) RevokeToken(ctx context.Context, projectID int64, id string, at time.Time) error {
	const update = `UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2, now()) WHERE id = $1 AND `
	var tag pgconn.CommandTag
	var err error
	if projectID == 0 {
		tag, err = s.pool.Exec(ctx, update+`project_id IS NULL`, id, nullTime(at))
	} else {
		tag, err = s.pool.Exec(ctx, update+`project_id = $3`, id, nullTime(at), projectID)
	}
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, classify(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke token %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// Bootstrap stores t, which must be a server-admin token, if this database was never bootstrapped. The
// singleton row of table bootstrap decides: concurrent callers queue on its primary key and all but the
// first find it taken. A failure to store the token leaves the database not bootstrapped.
func (s *Store) Bootstrap(ctx context.Context, t store.Token) (bool, error) {
	if t.Role != store.RoleServerAdmin || t.ProjectID != 0 {
		return false, fmt.Errorf("bootstrap: token %s has role %q in project %d, want %q without project",
			t.ID, t.Role, t.ProjectID, store.RoleServerAdmin)
	}
	var done bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO bootstrap (token_id) VALUES ($1) ON CONFLICT DO NOTHING`, t.ID)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if err := insertToken(ctx, tx, t); err != nil {
			return err
		}
		done = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("bootstrap with token %s: %w", t.ID, classify(ctx, err))
	}
	return done, nil
}

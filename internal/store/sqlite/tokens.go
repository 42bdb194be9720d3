package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/attestd/attestd/internal/store"
)

const tokenColumns = `id, hash, project_id, role, steps, description, created_at, revoked_at`

func scanToken(row scanner) (store.Token, error) {
	var t store.Token
	var projectID, revoked sql.Null[int64]
	var steps string
	var created int64
	if err := row.Scan(&t.ID, &t.Hash, &projectID, &t.Role, &steps, &t.Description, &created, &revoked); err != nil {
		return store.Token{}, err
	}
	var err error
	if t.Steps, err = fromJSONList("steps", steps); err != nil {
		return store.Token{}, err
	}
	t.ProjectID = projectID.V // NULL (0) for server-admin tokens
	t.CreatedAt = fromMicros(created)
	t.RevokedAt = fromNullMicros(revoked)
	return t, nil
}

// projectRef is the project_id column of a token: NULL for server-admin tokens (project 0).
func projectRef(projectID int64) sql.Null[int64] {
	return sql.Null[int64]{V: projectID, Valid: projectID != 0}
}

func insertToken(ctx context.Context, db querier, t store.Token) error {
	steps, err := jsonList("step", t.Steps)
	if err != nil {
		return err
	}
	hash := t.Hash
	if hash == nil {
		hash = []byte{} // NULL would say "no column"; the length check says what is wrong
	}
	_, err = db.ExecContext(ctx, `
		INSERT INTO tokens (id, hash, project_id, role, steps, description, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, hash, projectRef(t.ProjectID), t.Role, steps, t.Description, micros(orNow(t.CreatedAt)),
		nullMicros(t.RevokedAt))
	return err
}

// CreateToken stores t; store.ErrAlreadyExists if its id or hash is taken, store.ErrNotFound if its project
// does not exist. A zero CreatedAt is now.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error { return insertToken(ctx, tx, t) })
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, classify(ctx, err))
	}
	return nil
}

// TokenByHash returns the token whose secret hashes to hash, revoked or not, or store.ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	if hash == nil {
		hash = []byte{}
	}
	t, err := scanToken(s.read.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if err != nil {
		return store.Token{}, fmt.Errorf("token by hash: %w", classify(ctx, err))
	}
	return t, nil
}

// Authenticate returns the token whose secret hashes to hash and its project, in one query.
func (s *Store) Authenticate(ctx context.Context, hash []byte) (store.Token, store.Project, error) {
	if hash == nil {
		hash = []byte{}
	}
	var pid, pcreated, pgen sql.Null[int64]
	var pname, prekor sql.Null[string]
	var pkey []byte
	row := s.read.QueryRowContext(ctx, `
		SELECT t.id, t.hash, t.project_id, t.role, t.steps, t.description, t.created_at, t.revoked_at,
			p.id, p.name, p.created_at, p.generation, p.rekor_url, p.rekor_public_key
		FROM tokens t LEFT JOIN projects p ON p.id = t.project_id
		WHERE t.hash = ?`, hash)
	t, err := scanToken(scanFunc(func(dest ...any) error {
		return row.Scan(append(dest, &pid, &pname, &pcreated, &pgen, &prekor, &pkey)...)
	}))
	if err != nil {
		return store.Token{}, store.Project{}, fmt.Errorf("authenticate: %w", classify(ctx, err))
	}
	var p store.Project
	if pid.Valid {
		p = store.Project{ID: pid.V, Name: pname.V, CreatedAt: fromMicros(pcreated.V), Generation: pgen.V,
			RekorURL: prekor.V, RekorPublicKey: emptyNil(pkey)}
	}
	return t, p, nil
}

// scanFunc makes a function a scanner.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// ListTokens returns the tokens of a project (of no project, the server-admin ones, for 0), oldest first.
func (s *Store) ListTokens(ctx context.Context, projectID int64) ([]store.Token, error) {
	tokens, err := collect(ctx, s.read, scanToken, `SELECT `+tokenColumns+` FROM tokens
		WHERE project_id IS ? ORDER BY created_at, id`, projectRef(projectID))
	if err != nil {
		return nil, fmt.Errorf("list tokens of project %d: %w", projectID, err)
	}
	return tokens, nil
}

// RevokeToken marks the token revoked at at (now for the zero time). A token revoked before keeps its first
// revocation time. store.ErrNotFound if the project (0: no project) has no token id.
func (s *Store) RevokeToken(ctx context.Context, projectID int64, id string, at time.Time) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?)
			WHERE id = ? AND project_id IS ?`, micros(orNow(at)), id, projectRef(projectID))
		return affected(res, err)
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, classify(ctx, err))
	}
	return nil
}

// affected turns an UPDATE or DELETE that changed no row into sql.ErrNoRows (ErrNotFound once classified).
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return sql.ErrNoRows
	}
	return nil
}

// Bootstrap stores t, which must be a server-admin token, if this database was never bootstrapped. The
// singleton row of table bootstrap decides, in a write transaction, which runs alone: every caller after the
// first finds it taken. A failure to store the token leaves the database not bootstrapped.
func (s *Store) Bootstrap(ctx context.Context, t store.Token) (bool, error) {
	if t.Role != store.RoleServerAdmin || t.ProjectID != 0 {
		return false, fmt.Errorf("bootstrap: token %s has role %q in project %d, want %q without project",
			t.ID, t.Role, t.ProjectID, store.RoleServerAdmin)
	}
	var done bool
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO bootstrap (singleton, token_id, created_at) VALUES (1, ?, ?)
			ON CONFLICT DO NOTHING`, t.ID, micros(now()))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
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

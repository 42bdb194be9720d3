package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/attestd/attestd/internal/store"
)

const keyColumns = `project_id, key_id, key_type, scheme, public_pem, description, created_at, expires_at, revoked_at, owner`

func scanKey(row scanner) (store.Key, error) {
	var k store.Key
	var created int64
	var expires, revoked sql.Null[int64]
	var owner int64
	err := row.Scan(&k.ProjectID, &k.KeyID, &k.KeyType, &k.Scheme, &k.PublicPEM, &k.Description,
		&created, &expires, &revoked, &owner)
	if err != nil {
		return store.Key{}, err
	}
	k.CreatedAt = fromMicros(created)
	k.ExpiresAt = fromNullMicros(expires)
	k.RevokedAt = fromNullMicros(revoked)
	k.Owner = owner != 0
	return k, nil
}

// AddKey registers k in its project; store.ErrAlreadyExists if the project has this key id, store.ErrNotFound
// if the project does not exist. A zero CreatedAt is now.
func (s *Store) AddKey(ctx context.Context, k store.Key) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ProjectID, k.KeyID, k.KeyType, k.Scheme, k.PublicPEM, k.Description, micros(orNow(k.CreatedAt)),
			nullMicros(k.ExpiresAt), nullMicros(k.RevokedAt), boolInt(k.Owner))
		return err
	})
	if err != nil {
		return fmt.Errorf("add key %s to project %d: %w", k.KeyID, k.ProjectID, classify(ctx, err))
	}
	return nil
}

// ListKeys returns the keys of a project, revoked ones included, oldest first.
func (s *Store) ListKeys(ctx context.Context, projectID int64) ([]store.Key, error) {
	keys, err := collect(ctx, s.read, scanKey,
		`SELECT `+keyColumns+` FROM keys WHERE project_id = ? ORDER BY created_at, key_id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list keys of project %d: %w", projectID, err)
	}
	return keys, nil
}

// RevokeKey marks the key revoked at at (now for the zero time). A key revoked before keeps its first
// revocation time. store.ErrNotFound if the project has no key keyID.
func (s *Store) RevokeKey(ctx context.Context, projectID int64, keyID string, at time.Time) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE keys SET revoked_at = COALESCE(revoked_at, ?)
			WHERE project_id = ? AND key_id = ?`, micros(orNow(at)), projectID, keyID)
		return affected(res, err)
	})
	if err != nil {
		return fmt.Errorf("revoke key %s of project %d: %w", keyID, projectID, classify(ctx, err))
	}
	return nil
}

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/attestd/attestd/internal/store"
)

const keyColumns = `project_id, key_id, key_type, scheme, public_pem, description, created_at, expires_at, revoked_at, owner`

func scanKey(row pgx.Row) (store.Key, error) {
	var k store.Key
	err := row.Scan(&k.ProjectID, &k.KeyID, &k.KeyType, &k.Scheme, &k.PublicPEM, &k.Description,
		&k.CreatedAt, &k.ExpiresAt, &k.RevokedAt, &k.Owner)
	if err != nil {
		return store.Key{}, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.ExpiresAt = utcPtr(k.ExpiresAt)
	k.RevokedAt = utcPtr(k.RevokedAt)
	return k, nil
}

// AddKey registers k in its project; store.ErrAlreadyExists if the project has this key id, store.ErrNotFound
// if the project does not exist. A zero CreatedAt is set to the database's current time.
func (s *Store) AddKey(ctx context.Context, k store.Key) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO keys (`+keyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, now()), $8, $9, $10)`,
		k.ProjectID, k.KeyID, k.KeyType, k.Scheme, k.PublicPEM, k.Description, nullTime(k.CreatedAt),
		k.ExpiresAt, k.RevokedAt, k.Owner)
	if err != nil {
		return fmt.Errorf("add key %s to project %d: %w", k.KeyID, k.ProjectID, classify(ctx, err))
	}
	return nil
}

// ListKeys returns the keys of a project, revoked ones included, oldest first.
func (s *Store) ListKeys(ctx context.Context, projectID int64) ([]store.Key, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+keyColumns+` FROM keys WHERE project_id = $1 ORDER BY created_at, key_id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list keys of project %d: %w", projectID, classify(ctx, err))
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Key, error) { return scanKey(row) })
	if err != nil {
		return nil, fmt.Errorf("list keys of project %d: %w", projectID, classify(ctx, err))
	}
	return keys, nil
}

// RevokeKey marks the key revoked at at (now for the zero time). A key revoked before keeps its first
// revocation time. store.ErrNotFound if the project has no key keyID.
func (s *Store) RevokeKey(ctx context.Context, projectID int64, keyID string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE keys SET revoked_at = COALESCE(revoked_at, $3, now())
		WHERE project_id = $1 AND key_id = $2`, projectID, keyID, nullTime(at))
	if err != nil {
		return fmt.Errorf("revoke key %s of project %d: %w", keyID, projectID, classify(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke key %s of project %d: %w", keyID, projectID, store.ErrNotFound)
	}
	return nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/attestd/attestd/internal/store"
)

const layoutColumns = `project_id, name, version, id, signer_key_ids, expires_at, pusher_id, created_at, log_index`

func scanLayout(row pgx.Row, withContent bool) (store.Layout, error) {
	var l store.Layout
	var logIndex *int64
	dest := []any{&l.ProjectID, &l.Name, &l.Version, &l.ID, &l.SignerKeyIDs, &l.ExpiresAt, &l.PusherID, &l.CreatedAt,
		&logIndex}
	if withContent {
		dest = append(dest, &l.Content)
	}
	if err := row.Scan(dest...); err != nil {
		return store.Layout{}, err
	}
	if logIndex != nil {
		u := uint64(*logIndex) // never negative: the schema checks it
		l.LogIndex = &u
	}
	l.SignerKeyIDs = emptyNil(l.SignerKeyIDs)
	l.ExpiresAt = l.ExpiresAt.UTC()
	l.CreatedAt = l.CreatedAt.UTC()
	return l, nil
}

// AddLayout stores l as the next version of its name. The upsert of the name's row in layout_names both
// assigns the version and locks the name until the transaction ends, so concurrent pushes of one name take
// turns and get consecutive versions; a push whose bytes the name had before rolls back, the counter with it.
func (s *Store) AddLayout(ctx context.Context, l store.Layout) (store.Layout, error) {
	if l.LogIndex == nil {
		return store.Layout{}, fmt.Errorf("add layout %q: no log index (the leaf is appended to the log before "+
			"the row is added)", l.Name)
	}
	index, err := dbInt("log index", *l.LogIndex)
	if err != nil {
		return store.Layout{}, fmt.Errorf("add layout %q: %w", l.Name, err)
	}
	l.LogIndex = new(*l.LogIndex) // the caller's pointer stays the caller's
	l.SignerKeyIDs = slices.Compact(slices.Sorted(slices.Values(l.SignerKeyIDs)))
	signers := l.SignerKeyIDs
	if signers == nil {
		signers = []string{}
	}
	var exists *store.LayoutExistsError
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO layout_names (project_id, name, latest) VALUES ($1, $2, 1)
			ON CONFLICT (project_id, name) DO UPDATE SET latest = layout_names.latest + 1
			RETURNING latest`, l.ProjectID, l.Name).Scan(&l.Version)
		if err != nil {
			return err
		}
		var earlier int64
		err = tx.QueryRow(ctx, `SELECT version FROM layouts WHERE project_id = $1 AND name = $2 AND id = $3`,
			l.ProjectID, l.Name, l.ID).Scan(&earlier)
		if err == nil {
			exists = &store.LayoutExistsError{Name: l.Name, Version: earlier}
			return exists // rolls the counter back
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO layouts (`+layoutColumns+`, content)
			VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8, now()), $9, $10)
			RETURNING created_at`,
			l.ProjectID, l.Name, l.Version, l.ID, signers, l.ExpiresAt, l.PusherID, nullTime(l.CreatedAt), index,
			l.Content,
		).Scan(&l.CreatedAt)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM log_orphans WHERE log_index = $1`, index)
		return err
	})
	if exists != nil {
		return store.Layout{}, exists
	}
	if err != nil {
		return store.Layout{}, fmt.Errorf("add layout %q to project %d: %w", l.Name, l.ProjectID, classify(ctx, err))
	}
	l.CreatedAt = l.CreatedAt.UTC()
	l.ExpiresAt = l.ExpiresAt.UTC()
	return l, nil
}

// ListLayouts returns the project's layouts, of one name or of all, by name and newest version first.
func (s *Store) ListLayouts(ctx context.Context, projectID int64, name string) ([]store.Layout, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+layoutColumns+` FROM layouts
		WHERE project_id = $1 AND ($2 = '' OR name = $2)
		ORDER BY name, version DESC`, projectID, name)
	if err != nil {
		return nil, fmt.Errorf("list layouts of project %d: %w", projectID, classify(ctx, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Layout, error) { return scanLayout(row, false) })
	if err != nil {
		return nil, fmt.Errorf("list layouts of project %d: %w", projectID, classify(ctx, err))
	}
	return out, nil
}

// GetLayout returns one version of a layout, content included; version 0 is the newest.
func (s *Store) GetLayout(ctx context.Context, projectID int64, name string, version int64) (store.Layout, error) {
	l, err := scanLayout(s.pool.QueryRow(ctx, `
		SELECT `+layoutColumns+`, content FROM layouts
		WHERE project_id = $1 AND name = $2 AND ($3 = 0 OR version = $3)
		ORDER BY version DESC LIMIT 1`, projectID, name, version), true)
	if err != nil {
		return store.Layout{}, fmt.Errorf("get layout %q version %d of project %d: %w", name, version, projectID, classify(ctx, err))
	}
	return l, nil
}

// ScanLayoutsByLogIndex returns up to limit logged layouts of every project from log index from on, ascending,
// content included.
func (s *Store) ScanLayoutsByLogIndex(ctx context.Context, from uint64, limit int) ([]store.Layout, error) {
	if from > math.MaxInt64 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+layoutColumns+`, content FROM layouts
		WHERE log_index >= $1 ORDER BY log_index LIMIT $2`, int64(from), store.PageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("scan layouts from log index %d: %w", from, classify(ctx, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Layout, error) { return scanLayout(row, true) })
	if err != nil {
		return nil, fmt.Errorf("scan layouts from log index %d: %w", from, classify(ctx, err))
	}
	return out, nil
}

package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/attestd/attestd/internal/store"
)

const layoutColumns = `project_id, name, version, id, signer_key_ids, expires_at, pusher_id, created_at, log_index`

func scanLayout(row scanner, withContent bool) (store.Layout, error) {
	var l store.Layout
	var signers string
	var expires, created int64
	var logIndex sql.Null[int64]
	dest := []any{&l.ProjectID, &l.Name, &l.Version, &l.ID, &signers, &expires, &l.PusherID, &created, &logIndex}
	if withContent {
		dest = append(dest, &l.Content)
	}
	if err := row.Scan(dest...); err != nil {
		return store.Layout{}, err
	}
	var err error
	if l.SignerKeyIDs, err = fromJSONList("signer key ids", signers); err != nil {
		return store.Layout{}, err
	}
	l.ExpiresAt = fromMicros(expires)
	l.CreatedAt = fromMicros(created)
	l.LogIndex = fromNullIndex(logIndex)
	return l, nil
}

// AddLayout stores l as the next version of its name. The version comes from the name's counter in
// layout_names, raised inside the write transaction, which runs alone: concurrent pushes of one name take
// turns and get consecutive versions; a push whose bytes the name had before rolls back, the counter with it.
// The same transaction deletes the orphan record of l.LogIndex, which the new row claims.
func (s *Store) AddLayout(ctx context.Context, l store.Layout) (store.Layout, error) {
	if l.LogIndex == nil {
		return store.Layout{}, fmt.Errorf("add layout %q: no log index (the leaf is appended to the log before "+
			"the row is added)", l.Name)
	}
	index, err := dbInt("log index", *l.LogIndex)
	if err == nil {
		err = checkContentID(l.ID, l.Content)
	}
	l.SignerKeyIDs = slices.Compact(slices.Sorted(slices.Values(l.SignerKeyIDs)))
	if err == nil {
		err = checkKeyIDs(l.SignerKeyIDs)
	}
	var signers string
	if err == nil {
		signers, err = jsonList("signer key id", l.SignerKeyIDs)
	}
	if err != nil {
		return store.Layout{}, fmt.Errorf("add layout %q: %w", l.Name, err)
	}
	l.LogIndex = new(*l.LogIndex) // the caller's pointer stays the caller's
	l.CreatedAt = orNow(l.CreatedAt)
	l.ExpiresAt = truncMicro(l.ExpiresAt)
	if l.Content == nil {
		l.Content = []byte{}
	}
	var exists *store.LayoutExistsError
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `
			INSERT INTO layout_names (project_id, name, latest) VALUES (?, ?, 1)
			ON CONFLICT (project_id, name) DO UPDATE SET latest = latest + 1
			RETURNING latest`, l.ProjectID, l.Name).Scan(&l.Version)
		if err != nil {
			return err
		}
		var earlier int64
		err = tx.QueryRowContext(ctx, `SELECT version FROM layouts WHERE project_id = ? AND name = ? AND id = ?`,
			l.ProjectID, l.Name, l.ID).Scan(&earlier)
		if err == nil {
			exists = &store.LayoutExistsError{Name: l.Name, Version: earlier}
			return exists // rolls the counter back
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO layouts (`+layoutColumns+`, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			l.ProjectID, l.Name, l.Version, l.ID, signers, micros(l.ExpiresAt), l.PusherID, micros(l.CreatedAt),
			index, l.Content)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM log_orphans WHERE log_index = ?`, index)
		return err
	})
	if exists != nil {
		return store.Layout{}, exists
	}
	if err != nil {
		return store.Layout{}, fmt.Errorf("add layout %q to project %d: %w", l.Name, l.ProjectID, classify(ctx, err))
	}
	l.SignerKeyIDs = emptyNil(l.SignerKeyIDs)
	return l, nil
}

// ListLayouts returns the project's layouts, of one name or of all, by name and newest version first.
func (s *Store) ListLayouts(ctx context.Context, projectID int64, name string) ([]store.Layout, error) {
	out, err := collect(ctx, s.read, func(row scanner) (store.Layout, error) { return scanLayout(row, false) }, `
		SELECT `+layoutColumns+` FROM layouts
		WHERE project_id = ?1 AND (?2 = '' OR name = ?2)
		ORDER BY name, version DESC`, projectID, name)
	if err != nil {
		return nil, fmt.Errorf("list layouts of project %d: %w", projectID, err)
	}
	return out, nil
}

// GetLayout returns one version of a layout, content included; version 0 is the newest.
func (s *Store) GetLayout(ctx context.Context, projectID int64, name string, version int64) (store.Layout, error) {
	l, err := scanLayout(s.read.QueryRowContext(ctx, `
		SELECT `+layoutColumns+`, content FROM layouts
		WHERE project_id = ?1 AND name = ?2 AND (?3 = 0 OR version = ?3)
		ORDER BY version DESC LIMIT 1`, projectID, name, version), true)
	if err != nil {
		return store.Layout{}, fmt.Errorf("get layout %q version %d of project %d: %w", name, version, projectID,
			classify(ctx, err))
	}
	return l, nil
}

// ScanLayoutsByLogIndex returns up to limit (see store.PageSize) layouts of every project from log index from on,
// ascending, content included.
func (s *Store) ScanLayoutsByLogIndex(ctx context.Context, from uint64, limit int) ([]store.Layout, error) {
	if from > math.MaxInt64 {
		return nil, nil
	}
	out, err := collect(ctx, s.read, func(row scanner) (store.Layout, error) { return scanLayout(row, true) }, `
		SELECT `+layoutColumns+`, content FROM layouts
		WHERE log_index >= ? ORDER BY log_index LIMIT ?`, int64(from), store.PageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("scan layouts from log index %d: %w", from, err)
	}
	return out, nil
}

// checkContentID checks that id is the lowercase hex sha256 of content, as the PostgreSQL schema does.
func checkContentID(id string, content []byte) error {
	sum := sha256.Sum256(content)
	if want := hex.EncodeToString(sum[:]); id != want {
		return fmt.Errorf("id %q is not the sha256 of the content (%s)", id, want)
	}
	return nil
}

// checkKeyIDs checks that every key id is 64 lowercase hex digits, as the PostgreSQL schema does.
func checkKeyIDs(ids []string) error {
	for _, id := range ids {
		if len(id) != 64 || !isLowerHex(id) {
			return fmt.Errorf("key id %q is not 64 lowercase hex digits", id)
		}
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

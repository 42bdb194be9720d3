package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/attestd/attestd/internal/store"
)

// classify maps a database/sql or SQLite error to the sentinels of package store, keeping the original error
// in the chain for the logs. ctx is the context of the failed call: when it is done, the failure is the
// caller's doing and is returned as the context's error (an interrupted statement says so only in words).
func classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var sqlErr *sqlite.Error
	isSQLite := errors.As(err, &sqlErr)
	if isSQLite {
		switch sqlErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", store.ErrAlreadyExists, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			// Rows only refer to projects, tokens and layout names; a write naming one that does not exist
			// finds nothing.
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(err, ctxErr) {
			return err
		}
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	if (isSQLite && transient(sqlErr.Code())) || errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// transient reports result codes after which the same request may succeed when retried: the file stayed
// locked by another process, the disk failed or filled up, or memory ran out. The low byte of an extended
// code is its primary code.
func transient(code int) bool {
	switch code & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL,
		sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL:
		return true
	}
	return false
}

// isUnique reports whether err is the violation of a unique or primary key constraint.
func isUnique(err error) bool {
	var sqlErr *sqlite.Error
	return errors.As(err, &sqlErr) &&
		(sqlErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqlErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

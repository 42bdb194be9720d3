package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/attestd/attestd/internal/store"
)

// SQLSTATE codes that classify needs; see https://www.postgresql.org/docs/current/errcodes-appendix.html.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeTooManyConnections   = "53300"
	codeAdminShutdown        = "57P01"
	codeCrashShutdown        = "57P02"
	codeCannotConnectNow     = "57P03"
	classConnectionException = "08"
)

// classify maps a pgx error to the sentinels of package store, keeping the original error in the chain for
// the logs. ctx is the context of the failed call: when it is done, the failure is the caller's doing and is
// returned as it is, even though pgx reports it through a broken connection.
func classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == codeUniqueViolation:
			return fmt.Errorf("%w: %w", store.ErrAlreadyExists, err)
		case pgErr.Code == codeForeignKeyViolation:
			// Rows only refer to projects and tokens; a write naming one that does not exist finds nothing.
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		case transientCode(pgErr.Code):
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return err
	}
	if ctx.Err() != nil {
		return err
	}
	if connectionLost(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// transientCode reports SQLSTATEs after which the same request may succeed when retried: the server is
// going away or not yet accepting, the connection broke, or the transaction lost a race.
func transientCode(code string) bool {
	switch code {
	case codeSerializationFailure, codeDeadlockDetected, codeTooManyConnections,
		codeAdminShutdown, codeCrashShutdown, codeCannotConnectNow:
		return true
	}
	return strings.HasPrefix(code, classConnectionException)
}

// connectionLost reports errors of the transport rather than of the statement: the server could not be
// reached, or the connection broke while in use.
func connectionLost(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) ||
		errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed)
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/attestd/attestd/internal/store"
)

func TestClassify(t *testing.T) {
	pgErr := func(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code}) }
	netErr := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, tc := range []struct {
		name string
		err  error
		want error // nil: none of the sentinels
	}{
		{"no rows", pgx.ErrNoRows, store.ErrNotFound},
		{"unique violation", pgErr(codeUniqueViolation), store.ErrAlreadyExists},
		{"foreign key violation", pgErr(codeForeignKeyViolation), store.ErrNotFound},
		{"admin shutdown", pgErr(codeAdminShutdown), store.ErrUnavailable},
		{"crash shutdown", pgErr(codeCrashShutdown), store.ErrUnavailable},
		{"starting up", pgErr(codeCannotConnectNow), store.ErrUnavailable},
		{"too many connections", pgErr(codeTooManyConnections), store.ErrUnavailable},
		{"serialization failure", pgErr(codeSerializationFailure), store.ErrUnavailable},
		{"deadlock", pgErr(codeDeadlockDetected), store.ErrUnavailable},
		{"connection failure", pgErr("08006"), store.ErrUnavailable},
		{"connection reset", netErr, store.ErrUnavailable},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), store.ErrUnavailable},
		{"conn closed", pgconn.ErrConnClosed, store.ErrUnavailable},
		{"connect error", &pgconn.ConnectError{}, store.ErrUnavailable},
		{"check violation", pgErr("23514"), nil},
		{"syntax error", pgErr("42601"), nil},
		{"other", errors.New("boom"), nil},
	} {
		got := classify(context.Background(), tc.err)
		for _, sentinel := range []error{store.ErrNotFound, store.ErrAlreadyExists, store.ErrUnavailable} {
			if errors.Is(got, sentinel) != (sentinel == tc.want) {
				t.Errorf("%s: classify = %v; errors.Is(%v) = %v", tc.name, got, sentinel, !(sentinel == tc.want))
			}
		}
		if !errors.Is(got, tc.err) && tc.err != pgx.ErrNoRows {
			t.Errorf("%s: classify = %v, lost the original error", tc.name, got)
		}
	}
	if classify(context.Background(), nil) != nil {
		t.Error("classify(nil) != nil")
	}

	// A broken connection after the caller gave up is the caller's doing, not the database's.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := classify(ctx, netErr); errors.Is(err, store.ErrUnavailable) {
		t.Errorf("classify with a canceled context = %v, want no ErrUnavailable", err)
	}
}

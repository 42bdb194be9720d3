package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store"
)

// Errors the handlers raise themselves; toStatus maps them like the domain's.
var (
	errUnauthenticated    = errors.New("unauthenticated")
	errDenied             = errors.New("permission denied")
	errInvalid            = errors.New("invalid argument")
	errNotFound           = errors.New("not found")
	errAlreadyExists      = errors.New("already exists")
	errLogUnavailable     = errors.New("transparency log unavailable")
	errNotIntegrated      = errors.New("not yet integrated")
	errFailedPrecondition = errors.New("failed precondition")
	errOutOfRange         = errors.New("out of range")
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errInvalid}, args...)...)
}

func deniedf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errDenied}, args...)...)
}

func alreadyExistsf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errAlreadyExists}, args...)...)
}

func notFoundf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errNotFound}, args...)...)
}

func failedPreconditionf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errFailedPrecondition}, args...)...)
}

// toStatus is the one place where errors become gRPC status codes. Messages of client errors are returned as
// they are (they name the problem); anything unexpected is logged and answered with a generic message.
func toStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var (
		inputErr *attestation.InputError
		limitErr *attestation.LimitError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.As(err, &limitErr):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.As(err, &inputErr), errors.Is(err, errInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, errUnauthenticated):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.Is(err, attestation.ErrNoValidSignature), errors.Is(err, errDenied):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, errNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, errAlreadyExists):
		return status.Error(codes.AlreadyExists, err.Error())
	// Storage errors carry database text: the handlers wrap the ones a client should read; these are the rest.
	case errors.Is(err, store.ErrNotFound):
		log.InfoContext(ctx, "not found", "method", method, "err", err)
		return status.Error(codes.NotFound, "not found")
	case errors.Is(err, store.ErrAlreadyExists):
		log.InfoContext(ctx, "already exists", "method", method, "err", err)
		return status.Error(codes.AlreadyExists, "already exists")
	case errors.Is(err, errNotIntegrated), errors.Is(err, errFailedPrecondition):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, errOutOfRange):
		return status.Error(codes.OutOfRange, err.Error())
	case errors.Is(err, errLogUnavailable):
		log.WarnContext(ctx, "log unavailable", "method", method, "err", err)
		return status.Error(codes.Unavailable, "transparency log unavailable, retry later")
	case errors.Is(err, store.ErrUnavailable):
		log.WarnContext(ctx, "database unavailable", "method", method, "err", err)
		return status.Error(codes.Unavailable, "database unavailable, retry later")
	default:
		log.ErrorContext(ctx, "internal error", "method", method, "err", err)
		return status.Error(codes.Internal, "internal error")
	}
}

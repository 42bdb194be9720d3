package server

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// public reports whether a method needs no token: health checks and reflection.
func public(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.")
}

// UnaryInterceptor recovers from panics, authenticates, maps errors to status codes, logs and measures every
// unary call. It is the only unary interceptor attestd installs.
func (s *Server) UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	authenticated := false
	defer func() {
		if r := recover(); r != nil {
			s.logger.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp, err = nil, status.Error(codes.Internal, "internal error")
		}
		if authenticated && !authChangeFree[info.FullMethod] {
			// Before the answer leaves, so that the caller's next request sees what this one changed. Only
			// after a caller that authenticated: unknown tokens cannot empty the cache.
			s.auth.clear()
		}
		s.observe(ctx, info.FullMethod, start, err)
	}()
	if !public(info.FullMethod) {
		p, aerr := s.authenticate(ctx)
		if aerr != nil {
			return nil, toStatus(ctx, s.logger, info.FullMethod, aerr)
		}
		ctx = withPrincipal(ctx, p)
		authenticated = true
	}
	resp, err = handler(ctx, req)
	return resp, toStatus(ctx, s.logger, info.FullMethod, err)
}

// StreamInterceptor does the same for streams (only health Watch and reflection are streams).
func (s *Server) StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	ctx := ss.Context()
	defer func() {
		if r := recover(); r != nil {
			s.logger.ErrorContext(ctx, "panic in stream handler", "method", info.FullMethod, "panic", fmt.Sprint(r))
			err = status.Error(codes.Internal, "internal error")
		}
		s.observe(ctx, info.FullMethod, start, err)
	}()
	if !public(info.FullMethod) {
		if _, aerr := s.authenticate(ctx); aerr != nil {
			return toStatus(ctx, s.logger, info.FullMethod, aerr)
		}
		return status.Error(codes.Unimplemented, "no streaming methods")
	}
	return handler(srv, ss)
}

func (s *Server) observe(ctx context.Context, method string, start time.Time, err error) {
	code := status.Code(err)
	elapsed := time.Since(start)
	s.metrics.requests.WithLabelValues(method, code.String()).Inc()
	s.metrics.latency.WithLabelValues(method).Observe(elapsed.Seconds())
	attrs := []any{"method", method, "code", code.String(), "duration_ms", float64(elapsed.Microseconds()) / 1000}
	if p, ok := principalFrom(ctx); ok {
		attrs = append(attrs, "token", p.token.ID, "project", p.project.Name)
	}
	if err != nil && code != codes.OK {
		attrs = append(attrs, "error", status.Convert(err).Message())
	}
	s.logger.InfoContext(ctx, "rpc", attrs...)
}

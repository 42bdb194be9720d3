package server

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A panic in a handler becomes INTERNAL with a generic message; the process lives on.
func TestUnaryInterceptorRecoversPanics(t *testing.T) {
	s := New(Config{})
	info := &grpc.UnaryServerInfo{FullMethod: "/grpc.health.v1.Health/Check"} // public: no token needed
	resp, err := s.UnaryInterceptor(context.Background(), nil, info, func(context.Context, any) (any, error) {
		panic("boom: secret detail")
	})
	if resp != nil || status.Code(err) != codes.Internal || status.Convert(err).Message() != "internal error" {
		t.Fatalf("got %v, %v; want INTERNAL \"internal error\"", resp, err)
	}
}

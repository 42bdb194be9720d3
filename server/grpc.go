package server

import (
	"context"
	"crypto/tls"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
)

// GRPCOptions tune the transport. Zero values take the defaults noted.
type GRPCOptions struct {
	TLS                  *tls.Config // nil: plaintext
	MaxConcurrentStreams uint32      // per connection; default 256 (HTTP/2 rapid-reset defence)
	// StreamWorkers is how many goroutines handle calls and are kept for the next one; a call that finds
	// none free gets a new goroutine, as without workers. Default DefaultStreamWorkers; negative: none.
	StreamWorkers int
}

// DefaultStreamWorkers covers the calls in flight at attestd's measured peak (64 submitters, or about 40
// open-loop submissions at 1,500/s, each waiting ~20 ms for its log batch and group commit). A new goroutine
// per call starts with a small stack and grows it, by copying, two or three times on the way through
// Submit's signature check and pgx (ed25519's frames alone are several KiB): that copying was 5% of attestd's
// CPU at the peak (docs/performance.md). A worker keeps its grown stack for the next call. Idle workers cost
// their stacks, which the garbage collector shrinks while they wait: at most a few MiB for 128.
const DefaultStreamWorkers = 128

// Receive windows of each call and of a connection, fixed. Without them gRPC sizes the windows itself by
// pinging the client whenever a request's data arrives and no ping is out (its BDP estimate): with one call at a
// time on a connection, as CI runners make them, that is a ping and its acknowledgement, a write and a read on
// each side, for every call (with the client's own pings, 3% of attestd's CPU per submission at the peak and a
// quarter of attestd-load's: docs/performance.md). Fixed windows send none. 1 MiB per call takes a 4 MiB
// envelope (the default limit) in four round trips.
const (
	callWindowBytes = 1 << 20
	connWindowBytes = 4 << 20
)

// serviceNames are the services reported by health, besides the server as a whole ("").
var serviceNames = []string{
	attestdv1.ProjectService_ServiceDesc.ServiceName,
	attestdv1.TokenService_ServiceDesc.ServiceName,
	attestdv1.KeyService_ServiceDesc.ServiceName,
	attestdv1.AttestationService_ServiceDesc.ServiceName,
	attestdv1.LogService_ServiceDesc.ServiceName,
	attestdv1.LayoutService_ServiceDesc.ServiceName,
	attestdv1.PolicyService_ServiceDesc.ServiceName,
}

// NewGRPCServer builds the gRPC server with every attestd service, health v1 and reflection registered, and
// returns it with the health server that Watch drives.
func (s *Server) NewGRPCServer(o GRPCOptions) (*grpc.Server, *health.Server) {
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = 256
	}
	if o.StreamWorkers == 0 {
		o.StreamWorkers = DefaultStreamWorkers
	}
	opts := []grpc.ServerOption{
		grpc.UnaryInterceptor(s.UnaryInterceptor),
		grpc.StreamInterceptor(s.StreamInterceptor),
		// Room for envelopes up to twice the limit, so that the handler's own check, whose error names the
		// limit, answers all but grossly oversized requests (which gRPC refuses, also RESOURCE_EXHAUSTED).
		// The same holds for pushed layouts.
		grpc.MaxRecvMsgSize(2*max(s.limits.MaxEnvelopeBytes, maxLayoutPushBytes) + 64<<10),
		grpc.MaxConcurrentStreams(o.MaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 15 * time.Minute, Time: 2 * time.Minute, Timeout: 20 * time.Second}),
		grpc.ConnectionTimeout(10 * time.Second),
		grpc.InitialWindowSize(callWindowBytes),
		grpc.InitialConnWindowSize(connWindowBytes),
	}
	if o.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	if o.StreamWorkers > 0 {
		opts = append(opts, grpc.NumStreamWorkers(uint32(o.StreamWorkers)))
	}
	gs := grpc.NewServer(opts...)
	attestdv1.RegisterProjectServiceServer(gs, s)
	attestdv1.RegisterTokenServiceServer(gs, s)
	attestdv1.RegisterKeyServiceServer(gs, s)
	attestdv1.RegisterAttestationServiceServer(gs, s)
	attestdv1.RegisterLogServiceServer(gs, s)
	attestdv1.RegisterLayoutServiceServer(gs, s)
	attestdv1.RegisterPolicyServiceServer(gs, s)
	attestdv1.RegisterVerifyServiceServer(gs, s)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	for _, name := range append([]string{""}, serviceNames...) {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	return gs, hs
}

// CheckHealth pings the database once and sets hs and ready from the answer.
func (s *Server) CheckHealth(ctx context.Context, hs *health.Server, ready *Readiness, timeout time.Duration) {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	err := s.store.Ping(pctx)
	cancel()
	st := healthpb.HealthCheckResponse_SERVING
	if err != nil {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	if ready.Set(err == nil) {
		s.logger.InfoContext(ctx, "health changed", "status", st.String(), "err", err)
	}
	for _, name := range append([]string{""}, serviceNames...) {
		hs.SetServingStatus(name, st)
	}
}

// WatchHealth keeps hs SERVING while the database answers and NOT_SERVING while it does not, checking every
// interval until ctx ends. It reports the current state to ready for /healthz.
func (s *Server) WatchHealth(ctx context.Context, hs *health.Server, ready *Readiness, interval time.Duration) {
	timeout := max(interval, time.Second) // a busy database is not a dead one
	s.CheckHealth(ctx, hs, ready, timeout)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.CheckHealth(ctx, hs, ready, timeout)
		}
	}
}

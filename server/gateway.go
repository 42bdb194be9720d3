package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
)

// Bounds of the REST/JSON gateway.
const (
	// maxRESTBodyBytes bounds a request body (only Verify has one: a few hundred bytes).
	maxRESTBodyBytes = 64 << 10
	// maxRESTAnswerBytes bounds an answer the gateway reads from the gRPC server: an offline bundle can hold
	// many envelopes (ExportBundle bounds it below this).
	maxRESTAnswerBytes = 256 << 20
	// pipeBuffer is the buffer of the in-memory connection between the gateway and the gRPC server.
	pipeBuffer = 1 << 20
	// gatewayCallWindowBytes and gatewayConnWindowBytes are the gateway's fixed HTTP/2 receive windows, for the
	// reason of callWindowBytes: with gRPC's estimate instead, each side pinged the other on every call.
	gatewayCallWindowBytes = 4 << 20
	gatewayConnWindowBytes = 8 << 20
)

// Gateway serves the read RPCs and Verify as JSON over HTTP (grpc-gateway, routes in
// proto/attestd/v1/attestd_http.yaml). Each request becomes a gRPC call over an in-memory connection to the
// process's own gRPC server, so that it passes through exactly the interceptors of a gRPC call:
// authentication (the Authorization header), limits, logging and metrics. Errors are answered as JSON
// ({"code", "message", "details"}) with the HTTP status of the gRPC code (NOT_FOUND is 404, UNAUTHENTICATED
// 401, ...).
type Gateway struct {
	lis     *bufconn.Listener
	conn    *grpc.ClientConn
	handler http.Handler
}

// NewGateway returns a gateway for gs, which must also Serve g.Listener(). tlsOn says that gs was built with
// TLS credentials: the in-memory connection then speaks TLS too, and does not check the certificate, whose
// other end is this process.
func NewGateway(ctx context.Context, tlsOn bool) (*Gateway, error) {
	lis := bufconn.Listen(pipeBuffer)
	creds := insecure.NewCredentials()
	if tlsOn {
		// Both ends of the pipe are this process: there is no one in between to authenticate.
		creds = credentials.NewTLS(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // in-memory pipe to ourselves
	}
	conn, err := grpc.NewClient("passthrough:///attestd-gateway",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRESTAnswerBytes)),
		grpc.WithInitialWindowSize(gatewayCallWindowBytes),
		grpc.WithInitialConnWindowSize(gatewayConnWindowBytes),
	)
	if err != nil {
		return nil, fmt.Errorf("gateway connection: %w", err)
	}
	mux := runtime.NewServeMux(runtime.WithIncomingHeaderMatcher(gatewayHeader))
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		attestdv1.RegisterProjectServiceHandler,
		attestdv1.RegisterTokenServiceHandler,
		attestdv1.RegisterKeyServiceHandler,
		attestdv1.RegisterAttestationServiceHandler,
		attestdv1.RegisterLayoutServiceHandler,
		attestdv1.RegisterPolicyServiceHandler,
		attestdv1.RegisterVerifyServiceHandler,
		attestdv1.RegisterLogServiceHandler,
	} {
		if err := register(ctx, mux, conn); err != nil {
			conn.Close()
			return nil, fmt.Errorf("gateway routes: %w", err)
		}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxRESTBodyBytes)
		mux.ServeHTTP(w, r)
	})
	return &Gateway{lis: lis, conn: conn, handler: h}, nil
}

// Listener is what the gRPC server must serve for the gateway to reach it.
func (g *Gateway) Listener() net.Listener { return g.lis }

// ServeHTTP answers a REST/JSON request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.handler.ServeHTTP(w, r) }

// Close closes the gateway's connection.
func (g *Gateway) Close() error { return g.conn.Close() }

// gatewayHeader forwards no HTTP header as gRPC metadata: the gateway itself passes Authorization on as
// "authorization", the only header attestd reads. Other headers (cookies, proxies' X-Forwarded-*) stay out of
// the calls and out of the logs.
func gatewayHeader(string) (string, bool) { return "", false }

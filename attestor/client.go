package attestor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
)

// DialOptions say how to reach an attestd server.
type DialOptions struct {
	// Token is the bearer token sent with every call as
	// "authorization: Bearer <token>". Empty sends no token.
	Token string
	// Plaintext turns TLS off. The token is still sent, in the clear: use it
	// only on loopback or inside a trusted network.
	Plaintext bool
	// CAFile is a PEM file of CA certificates that replaces the system roots
	// for checking the server's certificate. Not allowed with Plaintext.
	CAFile string
}

// maxRecvBytes bounds one answer from the server. A page of List with
// envelopes can be far larger than gRPC's default of 4 MiB.
const maxRecvBytes = 256 << 20

// Receive windows of a connection and of each call, fixed. Without them gRPC sizes the windows itself by
// pinging the server whenever an answer's data arrives and no ping is out (its BDP estimate): with one call at
// a time on a connection, as a CI runner makes them, that is a ping and its acknowledgement, a write and a
// read on each side, for every call. Fixed windows send none. 4 MiB per call moves a large List page at 80
// MiB/s over a 50 ms round trip.
const (
	callWindowBytes = 4 << 20
	connWindowBytes = 8 << 20
)

// A Client talks to one attestd server. Its fields are the generated service
// clients, for calls that need no help; the methods cover the calls that do.
// It is safe for concurrent use; Close it when done.
type Client struct {
	Projects     attestdv1.ProjectServiceClient
	Tokens       attestdv1.TokenServiceClient
	Keys         attestdv1.KeyServiceClient
	Attestations attestdv1.AttestationServiceClient
	Log          attestdv1.LogServiceClient
	Layouts      attestdv1.LayoutServiceClient
	Policies     attestdv1.PolicyServiceClient
	Verify       attestdv1.VerifyServiceClient

	conn *grpc.ClientConn
}

// Dial prepares a client for the server at target ("host:port"). It does not
// wait for the server: the first call connects, and a server that cannot be
// reached shows up there as codes.Unavailable. ctx bounds only the set-up.
func Dial(ctx context.Context, target string, opts DialOptions) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if target == "" {
		return nil, errors.New("dial: no server address")
	}
	var transport credentials.TransportCredentials
	switch {
	case opts.Plaintext && opts.CAFile != "":
		return nil, errors.New("dial: a CA file makes no sense without TLS (plaintext was asked for)")
	case opts.Plaintext:
		transport = insecure.NewCredentials()
	default:
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if opts.CAFile != "" {
			pemCerts, err := os.ReadFile(opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("dial: CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemCerts) {
				return nil, fmt.Errorf("dial: CA file %s holds no PEM certificate", opts.CAFile)
			}
			cfg.RootCAs = pool
		}
		transport = credentials.NewTLS(cfg)
	}
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(transport),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvBytes)),
		grpc.WithInitialWindowSize(callWindowBytes),
		grpc.WithInitialConnWindowSize(connWindowBytes),
	}
	if opts.Token != "" {
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(bearer{token: opts.Token, plaintext: opts.Plaintext}))
	}
	conn, err := grpc.NewClient(target, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return &Client{
		Projects:     attestdv1.NewProjectServiceClient(conn),
		Tokens:       attestdv1.NewTokenServiceClient(conn),
		Keys:         attestdv1.NewKeyServiceClient(conn),
		Attestations: attestdv1.NewAttestationServiceClient(conn),
		Log:          attestdv1.NewLogServiceClient(conn),
		Layouts:      attestdv1.NewLayoutServiceClient(conn),
		Policies:     attestdv1.NewPolicyServiceClient(conn),
		Verify:       attestdv1.NewVerifyServiceClient(conn),
		conn:         conn,
	}, nil
}

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Submit sends one envelope (exactly the bytes given) to project; "" means the
// token's own project. Errors are gRPC status errors as the server sent them.
// The receipt carries the attestation's log index; its inclusion proof comes
// later (SubmitWait, or LogService.GetInclusionProof).
func (c *Client) Submit(ctx context.Context, project string, envelope []byte) (*attestdv1.Receipt, error) {
	return c.submit(ctx, &attestdv1.SubmitRequest{Project: project, Envelope: envelope})
}

// SubmitWait is Submit that also waits (within ctx) until a signed checkpoint
// of the transparency log covers the attestation, and returns the receipt with
// its inclusion proof and that checkpoint. Nothing in the receipt is verified
// here: the proof is what the server says until the caller checks it against
// the log's key. A receipt without a proof is returned with an error.
func (c *Client) SubmitWait(ctx context.Context, project string, envelope []byte) (*attestdv1.Receipt, error) {
	r, err := c.submit(ctx, &attestdv1.SubmitRequest{Project: project, Envelope: envelope, Wait: true})
	if err != nil {
		return nil, err
	}
	if r.GetInclusionProof() == nil {
		return r, errors.New("submit: the server was asked to wait for the log but answered without an inclusion proof")
	}
	return r, nil
}

func (c *Client) submit(ctx context.Context, req *attestdv1.SubmitRequest) (*attestdv1.Receipt, error) {
	resp, err := c.Attestations.Submit(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.GetReceipt() == nil {
		return nil, errors.New("submit: the server answered without a receipt")
	}
	return resp.GetReceipt(), nil
}

// ListAll calls List with req and follows the page tokens until there are no
// more results or limit attestations have been collected (limit <= 0: all).
// req's PageToken is overwritten; its PageSize is kept.
func (c *Client) ListAll(ctx context.Context, req *attestdv1.ListRequest, limit int) ([]*attestdv1.Attestation, error) {
	var out []*attestdv1.Attestation
	seen := map[string]bool{}
	for {
		resp, err := c.Attestations.List(ctx, req)
		if err != nil {
			return out, err
		}
		out = append(out, resp.GetAttestations()...)
		if limit > 0 && len(out) >= limit {
			return out[:limit], nil
		}
		next := resp.GetNextPageToken()
		if next == "" {
			return out, nil
		}
		if seen[next] {
			return out, fmt.Errorf("list: the server returned page token %q twice", next)
		}
		seen[next] = true
		req.PageToken = next
	}
}

// MarshalReceipt encodes a receipt as indented JSON (protojson field names),
// the form "attest run --receipt" and "attest submit --receipt" write.
func MarshalReceipt(r *attestdv1.Receipt) ([]byte, error) {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode receipt: %w", err)
	}
	return append(b, '\n'), nil
}

// bearer adds the token to every call. It asks gRPC for transport security
// except when the caller chose plaintext, so that a token is never sent in the
// clear by accident.
type bearer struct {
	token     string
	plaintext bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return !b.plaintext }

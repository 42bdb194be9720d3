package attestor

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
)

// fakeServer answers Submit and List and remembers the authorization
// metadata it saw.
type fakeServer struct {
	attestdv1.UnimplementedAttestationServiceServer

	mu    sync.Mutex
	auth  []string
	total int  // attestations List pages through
	loop  bool // List returns the same page token forever
	proof bool // Submit with wait answers with an inclusion proof
}

func (f *fakeServer) Submit(ctx context.Context, req *attestdv1.SubmitRequest) (*attestdv1.SubmitResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.auth = append(f.auth, md.Get("authorization")...)
	proof := f.proof
	f.mu.Unlock()
	r := &attestdv1.Receipt{Id: "id-" + string(req.GetEnvelope()), Project: req.GetProject(), Created: true, LogIndex: 7}
	if req.GetWait() && proof {
		r.InclusionProof = &attestdv1.InclusionProof{LogIndex: 7, TreeSize: 8, Checkpoint: []byte("checkpoint")}
	}
	return &attestdv1.SubmitResponse{Receipt: r}, nil
}

func (f *fakeServer) List(_ context.Context, req *attestdv1.ListRequest) (*attestdv1.ListResponse, error) {
	start := 0
	if req.GetPageToken() != "" {
		n, err := strconv.Atoi(req.GetPageToken())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "bad page token")
		}
		start = n
	}
	resp := &attestdv1.ListResponse{}
	for i := start; i < f.total && i < start+int(req.GetPageSize()); i++ {
		resp.Attestations = append(resp.Attestations, &attestdv1.Attestation{Receipt: &attestdv1.Receipt{Id: strconv.Itoa(i)}})
	}
	if next := start + int(req.GetPageSize()); next < f.total {
		resp.NextPageToken = strconv.Itoa(next)
	}
	if f.loop {
		resp.NextPageToken = "again"
	}
	return resp, nil
}

// serve starts f on a loopback port and returns its address.
func serve(t *testing.T, f *fakeServer, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(opts...)
	attestdv1.RegisterAttestationServiceServer(s, f)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

func TestClientPlaintextSendsToken(t *testing.T) {
	f := &fakeServer{}
	addr := serve(t, f)
	c, err := Dial(t.Context(), addr, DialOptions{Token: "s3cret", Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Submit(t.Context(), "acme", []byte("env"))
	if err != nil {
		t.Fatal(err)
	}
	if r.GetId() != "id-env" || r.GetProject() != "acme" {
		t.Errorf("receipt = %v", r)
	}
	if len(f.auth) != 1 || f.auth[0] != "Bearer s3cret" {
		t.Errorf("authorization metadata = %q", f.auth)
	}

	// Without a token, no authorization header at all.
	c2, err := Dial(t.Context(), addr, DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Submit(t.Context(), "", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if len(f.auth) != 1 {
		t.Errorf("authorization metadata without a token: %q", f.auth[1:])
	}
}

func TestSubmitWait(t *testing.T) {
	f := &fakeServer{proof: true}
	c, err := Dial(t.Context(), serve(t, f), DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.SubmitWait(t.Context(), "", []byte("env"))
	if err != nil || r.GetInclusionProof().GetTreeSize() != 8 || r.GetLogIndex() != 7 {
		t.Errorf("SubmitWait = %v, %v; want a receipt with its proof", r, err)
	}
	if r, err := c.Submit(t.Context(), "", []byte("env")); err != nil || r.GetInclusionProof() != nil {
		t.Errorf("Submit = %v, %v; want no proof without waiting", r, err)
	}

	// A server that ignores wait: the receipt, and an error that says so.
	f.mu.Lock()
	f.proof = false
	f.mu.Unlock()
	r, err = c.SubmitWait(t.Context(), "", []byte("env"))
	if err == nil || r.GetId() != "id-env" {
		t.Errorf("SubmitWait without a proof = %v, %v; want the receipt and an error", r, err)
	}
}

func TestClientTLS(t *testing.T) {
	dir := t.TempDir()
	cert, caFile := selfSignedCert(t, dir)
	f := &fakeServer{}
	addr := serve(t, f, grpc.Creds(credentials.NewServerTLSFromCert(&cert)))

	c, err := Dial(t.Context(), addr, DialOptions{Token: "tok", CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Submit(t.Context(), "", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if len(f.auth) != 1 || f.auth[0] != "Bearer tok" {
		t.Errorf("authorization metadata = %q", f.auth)
	}

	// The system roots do not know the test CA.
	c2, err := Dial(t.Context(), addr, DialOptions{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Submit(t.Context(), "", []byte("x")); status.Code(err) != codes.Unavailable {
		t.Errorf("untrusted certificate: err = %v, want Unavailable", err)
	}
}

func TestDialRefuses(t *testing.T) {
	if _, err := Dial(t.Context(), "127.0.0.1:1", DialOptions{Plaintext: true, CAFile: "ca.pem"}); err == nil {
		t.Error("plaintext with a CA file was accepted")
	}
	if _, err := Dial(t.Context(), "127.0.0.1:1", DialOptions{CAFile: filepath.Join(t.TempDir(), "none.pem")}); err == nil {
		t.Error("a missing CA file was accepted")
	}
	if _, err := Dial(t.Context(), "", DialOptions{}); err == nil {
		t.Error("an empty address was accepted")
	}
}

func TestListAllFollowsPages(t *testing.T) {
	f := &fakeServer{total: 7}
	c, err := Dial(t.Context(), serve(t, f), DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	all, err := c.ListAll(t.Context(), &attestdv1.ListRequest{PageSize: 3}, 0)
	if err != nil || len(all) != 7 || all[6].GetReceipt().GetId() != "6" {
		t.Fatalf("ListAll = %d results, %v", len(all), err)
	}
	some, err := c.ListAll(t.Context(), &attestdv1.ListRequest{PageSize: 3}, 4)
	if err != nil || len(some) != 4 {
		t.Fatalf("ListAll with limit 4 = %d results, %v", len(some), err)
	}
	f.loop = true
	if _, err := c.ListAll(t.Context(), &attestdv1.ListRequest{PageSize: 3}, 0); err == nil {
		t.Fatal("a server repeating its page token made ListAll loop or succeed")
	}
}

func TestMarshalReceipt(t *testing.T) {
	b, err := MarshalReceipt(&attestdv1.Receipt{Id: "abc", Step: "build", Created: true})
	if err != nil {
		t.Fatal(err)
	}
	var r attestdv1.Receipt
	if err := protojson.Unmarshal(b, &r); err != nil || r.GetId() != "abc" || r.GetStep() != "build" {
		t.Fatalf("round trip: %v, %v", &r, err)
	}
}

// selfSignedCert makes a certificate for 127.0.0.1 and writes it to a CA file.
func selfSignedCert(t *testing.T, dir string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "attestd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}

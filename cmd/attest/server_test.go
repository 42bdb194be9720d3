package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
)

// fakeServer is a stand-in for attestd, just enough to see what the CLI
// sends and prints. The real server is tested end to end elsewhere.
type fakeServer struct {
	attestdv1.UnimplementedAttestationServiceServer
	attestdv1.UnimplementedTokenServiceServer
	attestdv1.UnimplementedKeyServiceServer

	mu     sync.Mutex
	stored []*attestdv1.Attestation // oldest first
	log    *fakeLog                 // nil: no transparency log
}

var fakeTime = timestamppb.New(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))

func authorize(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) != 1 || v[0] != "Bearer good" {
		return status.Error(codes.Unauthenticated, "unknown token")
	}
	return nil
}

func (f *fakeServer) Submit(ctx context.Context, req *attestdv1.SubmitRequest) (*attestdv1.SubmitResponse, error) {
	if err := authorize(ctx); err != nil {
		return nil, err
	}
	env, err := attestation.ParseEnvelope(req.GetEnvelope(), attestation.Limits{})
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	st, err := attestation.ParseStatement(env.Payload, attestation.Limits{})
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	sum := sha256.Sum256(req.GetEnvelope())
	id := hex.EncodeToString(sum[:])
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.stored {
		if a.GetReceipt().GetId() == id {
			r := proto.Clone(a.GetReceipt()).(*attestdv1.Receipt)
			r.Created = false
			return &attestdv1.SubmitResponse{Receipt: f.log.withProof(r, req.GetWait())}, nil
		}
	}
	a := &attestdv1.Attestation{
		Receipt:       &attestdv1.Receipt{Id: id, Project: "acme", Step: st.Step, PredicateType: st.PredicateType, IntegratedTime: fakeTime, Created: true},
		Envelope:      req.GetEnvelope(),
		StatementType: st.Type,
		SignerKeyIds:  []string{env.Signatures[0].KeyID},
	}
	for _, s := range st.Subjects {
		a.Subjects = append(a.Subjects, &attestdv1.ArtifactRef{Name: s.Name, Algorithm: "sha256", Digest: s.Digest["sha256"]})
	}
	f.log.add(a.GetReceipt())
	f.stored = append(f.stored, a)
	return &attestdv1.SubmitResponse{Receipt: f.log.withProof(proto.Clone(a.GetReceipt()).(*attestdv1.Receipt), req.GetWait())}, nil
}

func (f *fakeServer) Get(ctx context.Context, req *attestdv1.GetRequest) (*attestdv1.GetResponse, error) {
	if err := authorize(ctx); err != nil {
		return nil, err
	}
	if a := f.find(req.GetId()); a != nil {
		return &attestdv1.GetResponse{Attestation: a}, nil
	}
	return nil, status.Errorf(codes.NotFound, "attestation %s not found", req.GetId())
}

func (f *fakeServer) find(id string) *attestdv1.Attestation {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.stored {
		if a.GetReceipt().GetId() == id {
			return proto.Clone(a).(*attestdv1.Attestation)
		}
	}
	return nil
}

func (f *fakeServer) List(ctx context.Context, req *attestdv1.ListRequest) (*attestdv1.ListResponse, error) {
	if err := authorize(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var match []*attestdv1.Attestation
	for i := len(f.stored) - 1; i >= 0; i-- {
		for _, s := range f.stored[i].GetSubjects() {
			if "sha256:"+s.GetDigest() == req.GetSubjectDigest() {
				match = append(match, f.stored[i])
				break
			}
		}
	}
	start, _ := strconv.Atoi(req.GetPageToken())
	end := min(start+int(req.GetPageSize()), len(match))
	resp := &attestdv1.ListResponse{}
	for _, a := range match[start:end] {
		resp.Attestations = append(resp.Attestations, proto.Clone(a).(*attestdv1.Attestation))
	}
	if end < len(match) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

func (f *fakeServer) CreateToken(ctx context.Context, req *attestdv1.CreateTokenRequest) (*attestdv1.CreateTokenResponse, error) {
	if err := authorize(ctx); err != nil {
		return nil, err
	}
	return &attestdv1.CreateTokenResponse{
		Token:  &attestdv1.Token{Id: "tok1", Project: req.GetProject(), Role: req.GetRole(), Steps: req.GetSteps()},
		Secret: "secret-" + strings.Join(req.GetSteps(), "+"),
	}, nil
}

func (f *fakeServer) AddKey(ctx context.Context, req *attestdv1.AddKeyRequest) (*attestdv1.AddKeyResponse, error) {
	if err := authorize(ctx); err != nil {
		return nil, err
	}
	pk, err := attestation.ParsePublicKey([]byte(req.GetPublicKeyPem()))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &attestdv1.AddKeyResponse{Key: &attestdv1.Key{KeyId: pk.ID, Scheme: pk.Scheme, ExpireTime: req.GetExpireTime()}}, nil
}

// startFake serves a fakeServer on loopback and returns the global flags that reach it.
func startFake(t *testing.T) []string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	f := &fakeServer{}
	attestdv1.RegisterAttestationServiceServer(s, f)
	attestdv1.RegisterTokenServiceServer(s, f)
	attestdv1.RegisterKeyServiceServer(s, f)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return []string{"--server", lis.Addr().String(), "--plaintext", "--token", "good"}
}

func TestRunSubmitAndGet(t *testing.T) {
	workdir(t)
	server := startFake(t)
	args := append([]string{"run", "--step", "build", "--key", "k", "--products", "app", "--receipt", "r.json"}, server...)
	_, errOut, code := attest(t, append(args, "--", "sh", "-c", "echo v1 > app")...)
	if code != exitOK || !strings.Contains(errOut, "(submitted, id ") {
		t.Fatalf("run: exit %d: %s", code, errOut)
	}
	var receipt attestdv1.Receipt
	b, err := os.ReadFile("r.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(b, &receipt); err != nil || receipt.GetStep() != "build" || !receipt.GetCreated() {
		t.Fatalf("receipt %v, %v", &receipt, err)
	}

	// The same envelope again: the original receipt, marked.
	out, errOut, code := attest(t, append([]string{"submit", "build.intoto.json"}, server...)...)
	if code != exitOK || !strings.Contains(out, receipt.GetId()) || !strings.Contains(out, "(already recorded)") {
		t.Errorf("submit again: exit %d\n%s%s", code, out, errOut)
	}

	// A refused file does not stop the others, and makes the exit code 1.
	if err := os.WriteFile("junk.json", []byte(`{"payloadType":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = attest(t, append([]string{"submit", "junk.json", "build.intoto.json", "--json"}, server...)...)
	if code != exitFailed || !strings.Contains(errOut, "attest: submit junk.json: INVALID_ARGUMENT: ") {
		t.Errorf("submit junk: exit %d\n%s", code, errOut)
	}
	var results []submitResult
	if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) != 2 || results[0].Error == "" || results[1].Receipt == nil {
		t.Errorf("submit --json = %s (%v)", out, err)
	}

	// A wrong token: refused, exit 1.
	_, errOut, code = attest(t, append(append([]string{"submit", "build.intoto.json"}, server...), "--token", "bad")...)
	if code != exitFailed || !strings.Contains(errOut, "UNAUTHENTICATED: unknown token") {
		t.Errorf("bad token: exit %d: %s", code, errOut)
	}

	// A second version of the product, then get: newest first, all pages.
	if _, errOut, code := attest(t, append(args, "--", "sh", "-c", "echo v1 > app; echo again")...); code != exitOK {
		t.Fatalf("second run: %s", errOut)
	}
	digest := "sha256:" + sha256Hex("v1\n")
	out, errOut, code = attest(t, append([]string{"get", "--digest", digest, "--limit", "5"}, server...)...)
	if code != exitOK || strings.Count(out, "\n") != 3 || !strings.HasPrefix(out, "INTEGRATED") || !strings.Contains(out, "2026-11-26T10:00:00Z  build") {
		t.Errorf("get: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = attest(t, append([]string{"get", "--json", "--digest", digest, "--limit", "1"}, server...)...)
	var list attestdv1.ListResponse
	if err := protojson.Unmarshal([]byte(out), &list); code != exitOK || err != nil || len(list.GetAttestations()) != 1 || len(list.GetAttestations()[0].GetEnvelope()) == 0 {
		t.Errorf("get --json --limit 1: exit %d, %v\n%s", code, err, out)
	}
	out, errOut, code = attest(t, append([]string{"get", "--digest", "sha256:" + sha256Hex("other")}, server...)...)
	if code != exitOK || out != "" || !strings.Contains(errOut, "no attestations") {
		t.Errorf("get nothing: exit %d, %q, %q", code, out, errOut)
	}
}

func TestTokenCreatePrintsSecretAlone(t *testing.T) {
	server := startFake(t)
	out, errOut, code := attest(t, append([]string{"token", "create", "--role", "attestor", "--steps", "build, test", "--project", "acme"}, server...)...)
	if code != exitOK || out != "secret-build+test\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, _, code = attest(t, append([]string{"--json", "token", "create", "--role", "admin"}, server...)...)
	var resp attestdv1.CreateTokenResponse
	if err := protojson.Unmarshal([]byte(out), &resp); code != exitOK || err != nil || resp.GetSecret() != "secret-" || resp.GetToken().GetRole() != "admin" {
		t.Errorf("--json: exit %d, %v, %s", code, err, out)
	}
}

func TestKeyAdd(t *testing.T) {
	pk := workdir(t)
	server := startFake(t)
	out, errOut, code := attest(t, append([]string{"key", "add", "--pub", "k.pub", "--expires", "2027-06-30T00:00:00Z"}, server...)...)
	if code != exitOK || out != pk.ID+"\n" || errOut != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, errOut, code = attest(t, append([]string{"key", "add", "--pub", "k.pub", "--expires", "tomorrow"}, server...)...)
	if code != exitUsage || !strings.Contains(errOut, "RFC 3339") {
		t.Errorf("bad --expires: exit %d, %s", code, errOut)
	}
	_, errOut, code = attest(t, append([]string{"key", "add", "--pub", "k"}, server...)...)
	if code != exitFailed || !strings.Contains(errOut, "private key given where a public key is expected") {
		t.Errorf("private key: exit %d, %s", code, errOut)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

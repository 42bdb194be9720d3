package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/tlog"
)

// fakeLog is the transparency log of the fake server: a real RFC 6962 tree
// (merkle/testonly, independent of internal/tlog) with C2SP checkpoints
// signed by a real note key, and switches that make it lie in the ways the
// CLI must catch.
type fakeLog struct {
	attestdv1.UnimplementedLogServiceServer
	srv *fakeServer

	mu        sync.Mutex
	signer    note.Signer // signs checkpoints
	tree      *testonly.Tree
	entries   [][]byte
	published uint64 // size of the latest checkpoint; leaves beyond it are pending

	hold       bool   // publish no checkpoint for new leaves
	lieEntry   bool   // log new attestations under the entry of other envelope bytes
	wrongProof bool   // answer with the audit path of another leaf
	staleOnce  bool   // answer GetCheckpoint once with the checkpoint before the latest
	namedKey   string // verifier key named in GetCheckpoint (trust on first use); "" names none
}

const fakeOrigin = "attestd.test/log"

// newLogKey makes a note key pair for origin and writes the verifier key to
// a file in dir, as 'attestd log-key > FILE' would.
func newLogKey(t *testing.T, dir, origin string) (note.Signer, string, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(dir, "log-*.pub")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(vkey + "\n"); err != nil {
		t.Fatal(err)
	}
	file := f.Name()
	return signer, vkey, file
}

// startFakeLog serves a fakeServer with a fakeLog on loopback. It returns
// them, the global flags that reach the server and the file of the log's
// verifier key.
func startFakeLog(t *testing.T) (*fakeServer, *fakeLog, []string, string) {
	t.Helper()
	signer, _, keyFile := newLogKey(t, t.TempDir(), fakeOrigin)
	f := &fakeServer{}
	l := &fakeLog{srv: f, signer: signer, tree: testonly.New(rfc6962.DefaultHasher)}
	f.log = l
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	attestdv1.RegisterAttestationServiceServer(s, f)
	attestdv1.RegisterLogServiceServer(s, l)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return f, l, []string{"--server", lis.Addr().String(), "--plaintext", "--token", "good"}, keyFile
}

// add gives a new attestation its leaf, as attestd does on Submit.
func (l *fakeLog) add(r *attestdv1.Receipt) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	envelopeHash := r.GetId() // the id is the sha256 of the envelope
	if l.lieEntry {
		envelopeHash = sha256Hex("other bytes")
	}
	entry := tlog.EntryFor(r.GetProject(), r.GetId(), envelopeHash)
	r.LogIndex, r.LogEntry = uint64(len(l.entries)), entry
	l.entries = append(l.entries, entry)
	l.tree.AppendData(entry)
	if !l.hold {
		l.published = l.tree.Size()
	}
}

// withProof adds the inclusion proof to r when the caller asked to wait.
func (l *fakeLog) withProof(r *attestdv1.Receipt, wait bool) *attestdv1.Receipt {
	if l == nil || !wait {
		return r
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.published = l.tree.Size() // waiting publishes a checkpoint that covers the leaf
	r.InclusionProof = l.proof(r.GetLogIndex())
	return r
}

// proof proves leaf index in the published tree. Call with mu held.
func (l *fakeLog) proof(index uint64) *attestdv1.InclusionProof {
	proven := index
	if l.wrongProof {
		proven = index ^ 1 // the sibling leaf's audit path
		if proven >= l.published {
			proven = index - 1
		}
	}
	hashes, err := l.tree.InclusionProof(proven, l.published)
	if err != nil {
		panic(err)
	}
	return &attestdv1.InclusionProof{LogIndex: index, TreeSize: l.published, Hashes: hashes, Checkpoint: l.checkpoint(l.published)}
}

// checkpoint signs the checkpoint of the tree of size. Call with mu held.
func (l *fakeLog) checkpoint(size uint64) []byte {
	body := fmt.Sprintf("%s\n%d\n%s\n", l.signer.Name(), size, base64.StdEncoding.EncodeToString(l.tree.HashAt(size)))
	raw, err := note.Sign(&note.Note{Text: body}, l.signer)
	if err != nil {
		panic(err)
	}
	return raw
}

// rewrite replaces the log's leaves with entries: the history changes under
// the same key (a split view) or shrinks (a rollback).
func (l *fakeLog) rewrite(entries [][]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = entries
	l.tree = testonly.New(rfc6962.DefaultHasher)
	l.tree.AppendData(entries...)
	l.published = l.tree.Size()
}

// root is the root hash of the published tree, as attest prints it.
func (l *fakeLog) root() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%x", l.tree.HashAt(l.published))
}

func (l *fakeLog) set(f func(l *fakeLog)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

func (l *fakeLog) GetCheckpoint(ctx context.Context, _ *attestdv1.GetCheckpointRequest) (*attestdv1.GetCheckpointResponse, error) {
	if err := authorize(ctx); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	size := l.published
	if l.staleOnce && size > 0 {
		l.staleOnce = false
		size--
	}
	return &attestdv1.GetCheckpointResponse{Checkpoint: l.checkpoint(size), Origin: l.signer.Name(), TreeSize: size, RootHash: l.tree.HashAt(size),
		VerifierKey: l.namedKey}, nil
}

func (l *fakeLog) GetInclusionProof(ctx context.Context, req *attestdv1.GetInclusionProofRequest) (*attestdv1.GetInclusionProofResponse, error) {
	if err := authorize(ctx); err != nil {
		return nil, err
	}
	a := l.srv.find(req.GetAttestationId())
	if a == nil {
		return nil, status.Errorf(codes.NotFound, "attestation %s not found", req.GetAttestationId())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	index := a.GetReceipt().GetLogIndex()
	if req.GetWait() {
		l.published = l.tree.Size()
	}
	if index >= l.published {
		return nil, status.Errorf(codes.FailedPrecondition, "leaf %d is not yet covered by a published checkpoint (size %d)", index, l.published)
	}
	return &attestdv1.GetInclusionProofResponse{Proof: l.proof(index), LogEntry: l.entries[index]}, nil
}

func (l *fakeLog) GetConsistencyProof(ctx context.Context, req *attestdv1.GetConsistencyProofRequest) (*attestdv1.GetConsistencyProofResponse, error) {
	if err := authorize(ctx); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	from, to := req.GetFromSize(), req.GetToSize()
	if to == 0 {
		to = l.published
	}
	switch {
	case to > l.published:
		return nil, status.Errorf(codes.OutOfRange, "to_size %d is beyond the latest checkpoint (%d)", to, l.published)
	case from > to:
		return nil, status.Errorf(codes.InvalidArgument, "from_size %d is larger than to_size %d", from, to)
	}
	resp := &attestdv1.GetConsistencyProofResponse{FromSize: from, ToSize: to}
	if from > 0 && from < to {
		var err error
		if resp.Hashes, err = l.tree.ConsistencyProof(from, to); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
	}
	if to == l.published {
		resp.Checkpoint = l.checkpoint(to)
	}
	return resp, nil
}

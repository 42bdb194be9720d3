package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/tlog"
	"github.com/attestd/attestd/server"
)

// rfc6962 is an independent check of inclusion proofs: the audit path recomputed by hand (RFC 9162 2.1.3.2).
func rfc6962Root(leafHash []byte, index, size uint64, path [][]byte) ([]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("index %d >= size %d", index, size)
	}
	node := func(l, r []byte) []byte {
		h := sha256.New()
		h.Write([]byte{1})
		h.Write(l)
		h.Write(r)
		return h.Sum(nil)
	}
	fn, sn := index, size-1
	r := leafHash
	for _, p := range path {
		if sn == 0 {
			return nil, fmt.Errorf("path too long")
		}
		if fn&1 == 1 || fn == sn {
			r = node(p, r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = node(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return nil, fmt.Errorf("path too short")
	}
	return r, nil
}

func leafHash(entry []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(entry)
	return h.Sum(nil)
}

func (e *env) logs() attestdv1.LogServiceClient { return attestdv1.NewLogServiceClient(e.conn) }

func (e *env) verifierKey() string {
	e.t.Helper()
	return e.log.VerifierKey()
}

func TestSubmitWaitProvesInclusion(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha")
	s := newSigner(t)
	e.addKey(tok["admin"], s)
	env := envelope(inTotoPayloadType, statement("build", "out.txt"), s)
	resp, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: env, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.GetReceipt()
	sum := sha256.Sum256(env)
	want := tlog.EntryFor("alpha", hex.EncodeToString(sum[:]), hex.EncodeToString(sum[:]))
	if !bytes.Equal(r.GetLogEntry(), want) {
		t.Fatalf("receipt entry %x, want %x", r.GetLogEntry(), want)
	}
	p := r.GetInclusionProof()
	if p == nil || len(p.GetCheckpoint()) == 0 {
		t.Fatalf("no proof with checkpoint in a waited receipt: %v", r)
	}
	cp, err := tlog.VerifyCheckpoint(p.GetCheckpoint(), e.verifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != p.GetTreeSize() {
		t.Fatalf("checkpoint size %d, proof size %d", cp.Size, p.GetTreeSize())
	}
	root, err := rfc6962Root(leafHash(want), r.GetLogIndex(), p.GetTreeSize(), p.GetHashes())
	if err != nil || !bytes.Equal(root, cp.Hash) {
		t.Fatalf("independent RFC 6962 check: root %x, checkpoint %x, %v", root, cp.Hash, err)
	}
	// The proof does not prove another entry.
	other := tlog.EntryFor("beta", hex.EncodeToString(sum[:]), hex.EncodeToString(sum[:]))
	if err := tlog.VerifyInclusion(leafHash(other), r.GetLogIndex(), p.GetTreeSize(), p.GetHashes(), cp.Hash); err == nil {
		t.Fatal("proof accepted for another project's entry")
	}

	cpr, err := e.logs().GetCheckpoint(as(tok["reader"]), &attestdv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if cpr.GetVerifierKey() != e.verifierKey() {
		t.Fatalf("GetCheckpoint verifier key %q, want the log's %q", cpr.GetVerifierKey(), e.verifierKey())
	}
	if _, err := tlog.VerifyCheckpoint(cpr.GetCheckpoint(), cpr.GetVerifierKey()); err != nil {
		t.Fatal(err)
	}

	// Resubmission: same index, no new leaf.
	again, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: env, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.GetReceipt().GetLogIndex() != r.GetLogIndex() || again.GetReceipt().GetInclusionProof().GetTreeSize() != 1 {
		t.Fatalf("resubmission: %v", again.GetReceipt())
	}
	// Another project cannot ask for this attestation's proof; it can read the public entry by index.
	b := e.project("beta")
	_, err = e.logs().GetInclusionProof(as(b["reader"]), &attestdv1.GetInclusionProofRequest{AttestationId: r.GetId()})
	wantCode(t, err, codes.NotFound)
	idx := r.GetLogIndex()
	byIndex, err := e.logs().GetInclusionProof(as(b["reader"]), &attestdv1.GetInclusionProofRequest{LogIndex: &idx})
	if err != nil || !bytes.Equal(byIndex.GetLogEntry(), want) {
		t.Fatalf("proof by index: %v %v", byIndex, err)
	}
	_, err = e.logs().GetEntry(as(b["reader"]), &attestdv1.GetEntryRequest{LogIndex: 5})
	wantCode(t, err, codes.OutOfRange)
}

func TestConcurrentSubmittersGetContiguousIndices(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha")
	s := newSigner(t)
	e.addKey(tok["admin"], s)
	const writers, each = 32, 4
	var mu sync.Mutex
	var indices []uint64
	var wg sync.WaitGroup
	// A reader polls checkpoints throughout: their sizes never go down.
	stopPoll := make(chan struct{})
	polled := make(chan error, 1)
	go func() {
		var last uint64
		for {
			select {
			case <-stopPoll:
				polled <- nil
				return
			default:
			}
			cp, err := e.logs().GetCheckpoint(as(tok["reader"]), &attestdv1.GetCheckpointRequest{})
			if err != nil {
				polled <- err
				return
			}
			if cp.GetTreeSize() < last {
				polled <- fmt.Errorf("checkpoint went from %d to %d", last, cp.GetTreeSize())
				return
			}
			last = cp.GetTreeSize()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				env := envelope(inTotoPayloadType, statement("build", fmt.Sprintf("w%d-%d", w, i)), s)
				resp, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: env})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				indices = append(indices, resp.GetReceipt().GetLogIndex())
				mu.Unlock()
			}
		})
	}
	// The same envelope from 10 clients at once: one leaf.
	same := envelope(inTotoPayloadType, statement("build", "same"), s)
	sameIdx := make(chan uint64, 10)
	for range 10 {
		wg.Go(func() {
			resp, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: same})
			if err != nil {
				t.Error(err)
				return
			}
			sameIdx <- resp.GetReceipt().GetLogIndex()
		})
	}
	wg.Wait()
	close(stopPoll)
	if err := <-polled; err != nil {
		t.Fatal(err)
	}
	close(sameIdx)
	first := <-sameIdx
	for i := range sameIdx {
		if i != first {
			t.Fatalf("one envelope got leaves %d and %d", first, i)
		}
	}
	indices = append(indices, first)
	sort.Slice(indices, func(i, j int) bool { return indices[i] < indices[j] })
	for i, idx := range indices {
		if idx != uint64(i) {
			t.Fatalf("indices not unique and contiguous: position %d has %d", i, idx)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, cp, err := e.log.AwaitIntegration(ctx, uint64(len(indices)-1))
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != uint64(len(indices)) {
		t.Fatalf("log size %d, want %d (one leaf per distinct envelope)", cp.Size, len(indices))
	}
}

func TestConsistencyProofs(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha")
	s := newSigner(t)
	e.addKey(tok["admin"], s)
	submit := func(name string) {
		if _, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: envelope(inTotoPayloadType, statement("build", name), s), Wait: true}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		submit(fmt.Sprint("a", i))
	}
	c1, err := e.logs().GetCheckpoint(as(tok["reader"]), &attestdv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		submit(fmt.Sprint("b", i))
	}
	c2, err := e.logs().GetCheckpoint(as(tok["reader"]), &attestdv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := e.logs().GetConsistencyProof(as(tok["reader"]), &attestdv1.GetConsistencyProofRequest{FromSize: c1.GetTreeSize(), ToSize: c2.GetTreeSize()})
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.VerifyConsistency(c1.GetTreeSize(), c2.GetTreeSize(), c1.GetRootHash(), c2.GetRootHash(), cons.GetHashes()); err != nil {
		t.Fatalf("consistency %d -> %d: %v", c1.GetTreeSize(), c2.GetTreeSize(), err)
	}
	if err := tlog.VerifyConsistency(c1.GetTreeSize(), c2.GetTreeSize(), c2.GetRootHash(), c2.GetRootHash(), cons.GetHashes()); err == nil {
		t.Fatal("consistency proof accepted against the wrong old root")
	}
	_, err = e.logs().GetConsistencyProof(as(tok["reader"]), &attestdv1.GetConsistencyProofRequest{FromSize: 5, ToSize: 2})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.logs().GetConsistencyProof(as(tok["reader"]), &attestdv1.GetConsistencyProofRequest{FromSize: 1, ToSize: 1000})
	wantCode(t, err, codes.OutOfRange)
}

// A leaf sequenced before a crash, whose row never committed, is recorded at start-up and claimed by the retry:
// one envelope, one leaf.
func TestRetryAfterCrashClaimsOrphanLeaf(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha")
	s := newSigner(t)
	e.addKey(tok["admin"], s)
	env := envelope(inTotoPayloadType, statement("build", "out.txt"), s)
	sum := sha256.Sum256(env)
	id := hex.EncodeToString(sum[:])
	ctx := context.Background()
	// The crash: the leaf is in the log, the row is not.
	orphanIdx, err := e.log.Append(ctx, tlog.EntryFor("alpha", id, id))
	if err != nil {
		t.Fatal(err)
	}
	// The restart: a new server on the same store and log reconciles.
	srv := server.New(server.Config{Store: e.store, Log: e.log})
	rep, err := srv.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	restarted := attestdv1.NewAttestationServiceClient(serve(t, srv))
	if rep.NewOrphans != 1 || rep.Orphans != 1 {
		t.Fatalf("reconcile report %+v, want one new orphan", rep)
	}
	// Retry through the restarted server: it claims the leaf.
	resp, err := restarted.Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: env})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetReceipt().GetLogIndex() != orphanIdx {
		t.Fatalf("retry got leaf %d, want the orphan %d", resp.GetReceipt().GetLogIndex(), orphanIdx)
	}
	size, err := e.log.IntegratedSize(ctx)
	if err != nil || size != 1 {
		t.Fatalf("log size %d (%v), want 1", size, err)
	}
	left, err := e.store.ListOrphanLeaves(ctx)
	if err != nil || len(left) != 0 {
		t.Fatalf("orphans left after the claim: %v %v", left, err)
	}
}

func TestSubmitFailsClosedWhenLogIsDown(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha")
	s := newSigner(t)
	e.addKey(tok["admin"], s)
	if err := e.log.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: envelope(inTotoPayloadType, statement("build", "x"), s)})
	wantCode(t, err, codes.Unavailable, "log")
	if n := e.count("alpha"); n != 0 {
		t.Fatalf("%d rows stored while the log was down", n)
	}
}

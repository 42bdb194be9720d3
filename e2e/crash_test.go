package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestor"
	"github.com/attestd/attestd/internal/store/dbtest"
	"github.com/attestd/attestd/internal/tlog"
)

// TestKillUnderLoad kills attestd with SIGKILL at random moments while many clients submit, restarts it on the
// same database and data directory, and checks after every restart: every acknowledged attestation is there
// with its leaf and a verifying inclusion proof; retrying every unacknowledged submission yields one row and
// one leaf per envelope; attestd audit agrees.
func TestKillUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test: not in -short mode")
	}
	url := dbtest.New(t)
	dataDir := t.TempDir()
	const bootstrap = "attd_crash-test-admin"
	env := "ATTESTD_BOOTSTRAP_TOKEN=" + bootstrap

	d := startDaemonIn(t, url, dataDir, env)
	conn := dial(t, d.grpcAddr)
	ctx := context.Background()
	if _, err := attestdv1.NewProjectServiceClient(conn).CreateProject(bearer(ctx, bootstrap), &attestdv1.CreateProjectRequest{Name: "crash"}); err != nil {
		t.Fatal(err)
	}
	tok, err := attestdv1.NewTokenServiceClient(conn).CreateToken(bearer(ctx, bootstrap), &attestdv1.CreateTokenRequest{Project: "crash", Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	secret := tok.GetSecret()
	priv, pub, err := attestor.GenerateKey(attestor.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := attestor.LoadSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attestdv1.NewKeyServiceClient(conn).AddKey(bearer(ctx, secret), &attestdv1.AddKeyRequest{PublicKeyPem: string(pub)}); err != nil {
		t.Fatal(err)
	}
	vkey, err := os.ReadFile(filepath.Join(dataDir, tlog.PubFile))
	if err != nil {
		t.Fatal(err)
	}

	makeEnvelope := func(n int) []byte {
		stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"artifact-%d","digest":{"sha256":"%s"}}],`+
			`"predicateType":"https://example.com/crash-test/v1","predicate":{"n":%d}}`, n, sha(fmt.Sprint(n)), n)
		env, err := signer.Sign(ctx, "application/vnd.in-toto+json", []byte(stmt))
		if err != nil {
			t.Fatal(err)
		}
		return env
	}

	acked := map[string]uint64{} // id -> log index from the receipt
	var unacked [][]byte
	next := 0
	for round := range 4 {
		conn := dial(t, d.grpcAddr)
		client := attestdv1.NewAttestationServiceClient(conn)
		var mu sync.Mutex
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 16 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					n := next
					next++
					mu.Unlock()
					env := makeEnvelope(n)
					cctx, cancel := context.WithTimeout(bearer(ctx, secret), 5*time.Second)
					resp, err := client.Submit(cctx, &attestdv1.SubmitRequest{Envelope: env})
					cancel()
					mu.Lock()
					if err == nil {
						acked[resp.GetReceipt().GetId()] = resp.GetReceipt().GetLogIndex()
					} else {
						unacked = append(unacked, env)
					}
					mu.Unlock()
					if err != nil {
						return // the server is gone: this worker's last submission is in doubt
					}
				}
			})
		}
		time.Sleep(time.Duration(300+rand.IntN(900)) * time.Millisecond)
		d.kill(t)
		close(stop)
		wg.Wait()
		conn.Close()
		t.Logf("round %d: killed with %d acknowledged, %d unacknowledged so far", round, len(acked), len(unacked))

		d = startDaemonIn(t, url, dataDir, env)
		checkAcked(t, d, secret, acked, string(trimNL(vkey)))
	}

	// Retry every unacknowledged submission: each yields exactly one row and claims or adds exactly one leaf.
	conn = dial(t, d.grpcAddr)
	client := attestdv1.NewAttestationServiceClient(conn)
	for _, env := range unacked {
		resp, err := client.Submit(bearer(ctx, secret), &attestdv1.SubmitRequest{Envelope: env})
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
		id := resp.GetReceipt().GetId()
		if idx, ok := acked[id]; ok && idx != resp.GetReceipt().GetLogIndex() {
			t.Fatalf("retry of %s moved it from leaf %d to %d", id, idx, resp.GetReceipt().GetLogIndex())
		}
		acked[id] = resp.GetReceipt().GetLogIndex()
	}
	checkAcked(t, d, secret, acked, string(trimNL(vkey)))
	cp, err := attestdv1.NewLogServiceClient(conn).GetCheckpoint(bearer(ctx, secret), &attestdv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Wait for a checkpoint that covers every leaf, then: one leaf per distinct envelope.
	deadline := time.Now().Add(10 * time.Second)
	for cp.GetTreeSize() < uint64(len(acked)) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if cp, err = attestdv1.NewLogServiceClient(conn).GetCheckpoint(bearer(ctx, secret), &attestdv1.GetCheckpointRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if cp.GetTreeSize() != uint64(len(acked)) {
		t.Fatalf("log has %d leaves for %d distinct envelopes", cp.GetTreeSize(), len(acked))
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("attestd exited %d after SIGTERM", code)
	}
	out, code := runAudit(t, url, dataDir)
	if code != 0 {
		t.Fatalf("audit exit %d:\n%s", code, out)
	}
	if strings.Contains(out, "note: leaf") {
		t.Fatalf("orphan leaves left after every submission was retried:\n%s", out)
	}
}

// checkAcked verifies that every acknowledged attestation is readable at its receipt's leaf and that its
// inclusion proof verifies against a checkpoint signed by the log key.
func checkAcked(t *testing.T, d *daemon, secret string, acked map[string]uint64, vkey string) {
	t.Helper()
	conn := dial(t, d.grpcAddr)
	defer conn.Close()
	atts := attestdv1.NewAttestationServiceClient(conn)
	logs := attestdv1.NewLogServiceClient(conn)
	for id, idx := range acked {
		ctx, cancel := context.WithTimeout(bearer(context.Background(), secret), 10*time.Second)
		got, err := atts.Get(ctx, &attestdv1.GetRequest{Id: id})
		if err != nil {
			cancel()
			t.Fatalf("acknowledged attestation %s lost: %v", id, err)
		}
		if got.GetAttestation().GetReceipt().GetLogIndex() != idx {
			cancel()
			t.Fatalf("attestation %s: leaf %d, receipt said %d", id, got.GetAttestation().GetReceipt().GetLogIndex(), idx)
		}
		p, err := logs.GetInclusionProof(ctx, &attestdv1.GetInclusionProofRequest{AttestationId: id, Wait: true})
		cancel()
		if err != nil {
			t.Fatalf("proof for %s: %v", id, err)
		}
		cp, err := tlog.VerifyCheckpoint(p.GetProof().GetCheckpoint(), vkey)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(got.GetAttestation().GetEnvelope())
		entry := tlog.EntryFor("crash", id, hex.EncodeToString(sum[:]))
		if err := tlog.VerifyInclusion(tlog.LeafHash(entry), idx, p.GetProof().GetTreeSize(), p.GetProof().GetHashes(), cp.Hash); err != nil {
			t.Fatalf("inclusion of %s at %d: %v", id, idx, err)
		}
	}
}

// runAudit runs attestd audit on the database at url (none: the embedded default in dataDir) and returns its
// output and exit code.
func runAudit(t *testing.T, url, dataDir string) (string, int) {
	t.Helper()
	attestd, _ := binaries(t)
	args := []string{"audit", "--data-dir", dataDir}
	if url != "" {
		args = append(args, "--database-url", url)
	}
	cmd := exec.Command(attestd, args...)
	cmd.Env = commandEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatal(err)
	}
	return string(out), 0
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func bearer(ctx context.Context, secret string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func trimNL(b []byte) []byte { return []byte(strings.TrimSpace(string(b))) }

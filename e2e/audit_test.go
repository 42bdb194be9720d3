package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestor"
	"github.com/attestd/attestd/internal/store/dbtest"
)

// TestAuditCatchesTampering changes the database behind attestd's back, one way at a time, and checks that
// attestd audit names each change.
func TestAuditCatchesTampering(t *testing.T) {
	url := dbtest.New(t)
	dataDir := t.TempDir()
	const bootstrap = "attd_audit-test-admin"
	d := startDaemonIn(t, url, dataDir, "ATTESTD_BOOTSTRAP_TOKEN="+bootstrap)
	conn := dial(t, d.grpcAddr)
	ctx := context.Background()
	if _, err := attestdv1.NewProjectServiceClient(conn).CreateProject(bearer(ctx, bootstrap), &attestdv1.CreateProjectRequest{Name: "audited"}); err != nil {
		t.Fatal(err)
	}
	priv, pub, err := attestor.GenerateKey(attestor.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := attestor.LoadSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attestdv1.NewKeyServiceClient(conn).AddKey(bearer(ctx, bootstrap), &attestdv1.AddKeyRequest{Project: "audited", PublicKeyPem: string(pub)}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	var oldCheckpoint []byte
	for n := range 4 {
		stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a%d","digest":{"sha256":"%s"}}],"predicateType":"https://example.com/p","predicate":{}}`, n, sha(fmt.Sprint(n)))
		env, err := signer.Sign(ctx, "application/vnd.in-toto+json", []byte(stmt))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := attestdv1.NewAttestationServiceClient(conn).Submit(bearer(ctx, bootstrap), &attestdv1.SubmitRequest{Project: "audited", Envelope: env, Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.GetReceipt().GetId())
		if n == 1 {
			oldCheckpoint = resp.GetReceipt().GetInclusionProof().GetCheckpoint()
		}
	}
	conn.Close()
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if out, code := runAudit(t, url, dataDir); code != 0 || !strings.Contains(out, "clean") {
		t.Fatalf("audit of an untouched installation: exit %d\n%s", code, out)
	}

	db, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	expect := func(kind, id string) {
		t.Helper()
		out, code := runAudit(t, url, dataDir)
		if code != 1 {
			t.Fatalf("audit exit %d after tampering (%s), want 1:\n%s", code, kind, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "MISMATCH "+kind) && strings.Contains(line, id) {
				return
			}
		}
		t.Fatalf("audit did not report %s for %q:\n%s", kind, id, out)
	}

	// An envelope rewritten (with its id, so the row still looks self-consistent).
	exec(`ALTER TABLE attestations DROP CONSTRAINT attestations_id_is_sha256`)
	exec(`UPDATE attestations SET envelope = envelope || ' '::bytea WHERE id = $1`, ids[0])
	expect("entry-mismatch", ids[0])
	// A row deleted.
	exec(`DELETE FROM attestations WHERE id = $1`, ids[1])
	expect("leaf-without-row", "leaf")
	// A row inserted directly, without a leaf.
	forged := strings.Repeat("ab", 32)
	exec(`INSERT INTO attestations (project_id, id, envelope, payload_type, statement_type)
	      SELECT project_id, $1, envelope, payload_type, statement_type FROM attestations WHERE id = $2`, forged, ids[2])
	expect("row-without-leaf", forged)
	// The log's checkpoint rolled back to an older, genuinely signed one: smaller than what the last clean
	// audit verified, and the rows of the later leaves now point beyond the tree.
	cpPath := filepath.Join(dataDir, "log", "checkpoint")
	current, err := os.ReadFile(cpPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cpPath, oldCheckpoint, 0o644); err != nil {
		t.Fatal(err)
	}
	expect("rollback", "")
	expect("row-beyond-tree", ids[3])
	if err := os.WriteFile(cpPath, current, 0o644); err != nil {
		t.Fatal(err)
	}
	// A checkpoint rewritten on disk.
	raw, err := os.ReadFile(cpPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(raw), "\n", 3)
	lines[1] = "999"
	if err := os.WriteFile(cpPath, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	expect("checkpoint-signature", "")
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestor"
)

// dropIDCheck is what someone who rewrites an envelope under its old id must drop first: PostgreSQL checks in
// the table that an attestation's id is the sha256 of its envelope; SQLite has no sha256 in SQL, and its store
// checks it before the insert.
var dropIDCheck = map[string]string{
	postgresBackend.name: `ALTER TABLE attestations DROP CONSTRAINT attestations_id_is_sha256`,
}

// TestAuditCatchesTampering changes the database behind attestd's back, one way at a time, and checks that
// attestd audit names each change; on each backend.
func TestAuditCatchesTampering(t *testing.T) { onEachBackend(t, auditCatchesTampering) }

func auditCatchesTampering(t *testing.T, db backend) {
	url := db.newDatabase(t)
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

	direct := db.openSQL(t, url)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := direct.ExecContext(ctx, sql, args...); err != nil {
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
	if sql, ok := dropIDCheck[db.name]; ok {
		exec(sql)
	}
	var envelope []byte
	if err := direct.QueryRowContext(ctx, `SELECT envelope FROM attestations WHERE id = $1`, ids[0]).Scan(&envelope); err != nil {
		t.Fatal(err)
	}
	exec(`UPDATE attestations SET envelope = $1 WHERE id = $2`, append(envelope, ' '), ids[0])
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

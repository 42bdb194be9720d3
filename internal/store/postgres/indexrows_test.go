package postgres_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/dbtest"
)

// TestIndexRowsOfAnotherProject: no foreign key holds an index row to its attestation (migration 00010), so
// rows written behind attestd's back may name one project and another project's attestation. Reads join by
// project and seq: such a row shows in neither project's attestations, and leads neither project to the other's.
func TestIndexRowsOfAnotherProject(t *testing.T) {
	ctx := t.Context()
	st, conn, alpha := withProject(t, dbtest.New(t))
	beta, err := st.CreateProject(ctx, "beta")
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := st.InsertAttestation(ctx, attestation(alpha.ID, "alpha's", 0))
	if err != nil {
		t.Fatal(err)
	}
	planted := strings.Repeat("e", 64)
	for _, table := range []string{"attestation_subjects", "attestation_materials"} {
		if _, err := conn.Exec(ctx, `INSERT INTO `+table+` (project_id, attestation_seq, ord, name, algorithm, digest)
			VALUES ($1, $2, 99, 'planted', 'sha256', $3)`, beta.ID, a.Seq, planted); err != nil {
			t.Fatalf("plant a row in %s: %v", table, err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO attestation_signers (project_id, attestation_seq, key_id)
		VALUES ($1, $2, $3)`, beta.ID, a.Seq, planted); err != nil {
		t.Fatal(err)
	}

	got, err := st.GetAttestation(ctx, alpha.ID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Subjects) != 1 || got.Subjects[0].Name != "out" || len(got.Materials) != 0 {
		t.Errorf("alpha's attestation reads subjects %v, materials %v: want only its own", got.Subjects, got.Materials)
	}
	related, err := st.RelatedAttestations(ctx, alpha.ID, []store.Digest{{Algorithm: "sha256", Value: strings.Repeat("a", 64)}}, nil, 10)
	if err != nil || len(related) != 1 {
		t.Fatalf("alpha's related: %d, %v", len(related), err)
	}
	for _, art := range slices.Concat(related[0].Subjects, related[0].Materials) {
		if art.Digest == planted {
			t.Errorf("alpha's related attestation carries beta's planted digest")
		}
	}
	for _, f := range []store.Filter{{SubjectDigest: planted}, {MaterialDigest: planted}, {SignerKeyID: planted}} {
		list, err := st.ListAttestations(ctx, beta.ID, f)
		if err != nil || len(list) != 0 {
			t.Errorf("beta lists %+v: %d attestations (%v), want none of alpha's", f, len(list), err)
		}
	}
	for _, subj := range [][]store.Digest{{{Algorithm: "sha256", Value: planted}}, nil} {
		var mats []store.Digest
		if subj == nil {
			mats = []store.Digest{{Algorithm: "sha256", Value: planted}}
		}
		related, err := st.RelatedAttestations(ctx, beta.ID, subj, mats, 10)
		if err != nil || len(related) != 0 {
			t.Errorf("beta's related by the planted digest: %d (%v), want none", len(related), err)
		}
	}
}

// TestEnvelopeCompression: envelopes over the TOAST threshold are compressed with lz4 (migration 00011), which
// this machine's PostgreSQL has, and read back byte for byte.
func TestEnvelopeCompression(t *testing.T) {
	ctx := t.Context()
	st, conn, p := withProject(t, dbtest.New(t))
	a := attestation(p.ID, strings.Repeat("compressible ", 1000), 1)
	if _, _, err := st.InsertAttestation(ctx, a); err != nil {
		t.Fatal(err)
	}
	var method string
	var stored int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(pg_column_compression(envelope), ''), pg_column_size(envelope)
		FROM attestations WHERE id = $1`, a.ID).Scan(&method, &stored); err != nil {
		t.Fatal(err)
	}
	if method != "lz4" || stored >= len(a.Envelope)/4 {
		t.Errorf("envelope of %d bytes stored as %d bytes with %q; want lz4, compressed", len(a.Envelope), stored, method)
	}
	got, err := st.GetAttestation(ctx, p.ID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Envelope, a.Envelope) {
		t.Errorf("envelope read back differs")
	}
}

// TestSignerKeyIDsCheck: the database refuses signer key ids that are not 64 lower-case hex digits each
// (migration 00012 checks it without a regular expression), whoever writes them.
func TestSignerKeyIDsCheck(t *testing.T) {
	ctx := t.Context()
	st, conn, p := withProject(t, dbtest.New(t))
	a := attestation(p.ID, "signers", 1)
	if _, _, err := st.InsertAttestation(ctx, a); err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("0123456789abcdef", 4)
	other := strings.Repeat("fedcba9876543210", 4)
	set := func(ids []string) error {
		_, err := conn.Exec(ctx, `UPDATE attestations SET signer_key_ids = $1 WHERE id = $2`, ids, a.ID)
		return err
	}
	for _, ids := range [][]string{{}, {id}, {id, other}, {other, id, id}} {
		if err := set(ids); err != nil {
			t.Errorf("%q refused: %v", ids, err)
		}
	}
	for _, ids := range [][]string{
		{id[:63]}, {id + "0"}, {strings.ToUpper(id)}, {id[:63] + "g"}, {id[:63] + "x"}, {id[:63] + ","},
		{id[:63], id + "0"}, {id[:63] + "," + id[:63], "0"}, {""}, {id, ""}, {id + "," + id}, {" " + id[1:]},
		{id[:32] + "é" + id[34:]},
	} {
		if err := set(ids); err == nil || !strings.Contains(err.Error(), "attestations_signer_key_ids_hex") {
			t.Errorf("%q: err = %v, want the check attestations_signer_key_ids_hex", ids, err)
		}
	}
	if _, err := conn.Exec(ctx, `UPDATE attestations SET signer_key_ids = ARRAY[$1, NULL] WHERE id = $2`, id, a.ID); err == nil {
		t.Errorf("a NULL signer key id accepted")
	}
}

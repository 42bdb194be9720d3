package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	in_toto "github.com/in-toto/in-toto-golang/in_toto"
	"github.com/jackc/pgx/v5"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/tlog"
	"github.com/attestd/attestd/server"
)

// BenchmarkVerify measures Verify (gRPC over loopback, a real server, PostgreSQL and the Tessera log) for a
// 5-step layout (clone, build, test, package, release) with 100 artifacts per step, in a project holding
// ATTESTD_BENCH_OTHER (default 100,000) other attestations of the same step names, and in the same run
// in-toto-golang's InTotoVerify making the same decision from the same five signed links, written as
// <step>.<keyid[:8]>.link in a temporary directory with the signed layout. attestd's decisions are timed kept
// (nothing changed), fresh (after an unrelated new leaf) and cold (every Verify cache dropped). It reports the
// p50/p99 of each and the ratios of the means, and the p50 of GetCheckpoint, the cheapest authenticated call, as
// the floor of any RPC.
func BenchmarkVerify(b *testing.B) {
	other := 100000
	if v := os.Getenv("ATTESTD_BENCH_OTHER"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			b.Fatalf("ATTESTD_BENCH_OTHER=%q: want a count", v)
		}
		other = n
	}
	// The token cache as attestd serve has it by default (--auth-cache-ttl).
	e := newEnvWith(b, server.Config{AuthCacheTTL: time.Second})
	tok := e.project("bench")
	owner, fn := benchIntotoKey(b), benchIntotoKey(b)
	e.addOwner(tok["admin"], owner)
	e.addKey(tok["admin"], fn.signer)

	const perStep = 100
	names := func(prefix string) map[string]in_toto.HashObj {
		out := map[string]in_toto.HashObj{}
		for i := range perStep {
			n := fmt.Sprintf("%s/%03d", prefix, i)
			out[n] = in_toto.HashObj{"sha256": sha("chain " + n)}
		}
		return out
	}
	// Each step's materials are the products of the one it names, with the same digests.
	type spec struct{ name, from, in, out string }
	specs := []spec{{"clone", "", "", "src"}, {"build", "clone", "src", "obj"}, {"test", "build", "obj", "report"},
		{"package", "build", "obj", "pkg"}, {"release", "package", "pkg", "rel"}}
	layout := in_toto.Layout{Type: "layout", Expires: e.clock.Now().Add(24 * time.Hour).UTC().Format(in_toto.ISO8601DateSchema),
		Keys: map[string]in_toto.Key{fn.id: fn.pub}, Inspect: []in_toto.Inspection{}}
	dir := b.TempDir()
	for _, sp := range specs {
		st := in_toto.Step{Type: "step", Threshold: 1, PubKeys: []string{fn.id}, ExpectedCommand: []string{"make"}}
		st.Name = sp.name
		st.ExpectedMaterials = [][]string{{"DISALLOW", "*"}}
		materials := map[string]in_toto.HashObj{}
		if sp.from != "" {
			st.ExpectedMaterials = [][]string{{"MATCH", sp.in + "/*", "WITH", "PRODUCTS", "FROM", sp.from}, {"DISALLOW", "*"}}
			materials = names(sp.in)
		}
		st.ExpectedProducts = [][]string{{"CREATE", sp.out + "/*"}, {"DISALLOW", "*"}}
		layout.Steps = append(layout.Steps, st)

		mb := in_toto.Metablock{Signed: in_toto.Link{Type: "link", Name: sp.name, Command: []string{"make"},
			Materials: materials, Products: names(sp.out), ByProducts: map[string]any{}, Environment: map[string]any{}}}
		if err := mb.Sign(fn.priv); err != nil {
			b.Fatal(err)
		}
		raw, err := json.Marshal(mb)
		if err != nil {
			b.Fatal(err)
		}
		// The same bytes go to attestd and to disk.
		if _, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: raw}); err != nil {
			b.Fatalf("submit %s: %v", sp.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s.%s.link", sp.name, fn.id[:8])), raw, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	signedLayout := signLayoutTB(b, layout, owner)
	layoutPath := filepath.Join(dir, "root.layout")
	if err := os.WriteFile(layoutPath, signedLayout, 0o600); err != nil {
		b.Fatal(err)
	}
	if _, err := e.push(tok["admin"], "release", signedLayout); err != nil {
		b.Fatal(err)
	}
	if _, err := e.setPolicy(tok["admin"], "rel", "file", "rel/*", "release"); err != nil {
		b.Fatal(err)
	}

	// The other attestations: link v0.3 statements of the same step names with unrelated digests, signed, each
	// with its leaf appended to the log and its row written in bulk (Submit would take minutes for 100,000).
	seedStart := time.Now()
	seedOther(b, e, "bench", other, fn.signer, func(i int) string { return specs[i%len(specs)].name })
	// Wait until the checkpoint covers everything.
	lastID := ""
	if list, err := e.atts().List(as(tok["reader"]), &attestdv1.ListRequest{PageSize: 1, OmitEnvelopes: true}); err != nil || len(list.GetAttestations()) != 1 {
		b.Fatalf("list: %v", err)
	} else {
		lastID = list.GetAttestations()[0].GetReceipt().GetId()
	}
	if _, err := attestdv1.NewLogServiceClient(e.conn).GetInclusionProof(as(tok["reader"]),
		&attestdv1.GetInclusionProofRequest{AttestationId: lastID, Wait: true}); err != nil {
		b.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a checkpoint after the last integration
	b.Logf("seeded %d other attestations in %v", other, time.Since(seedStart).Round(time.Millisecond))

	artifact := "sha256:" + sha("chain rel/042")
	req := &attestdv1.VerifyRequest{Kind: "file", Name: "rel/042", Digest: artifact}
	ownerKeys := map[string]in_toto.Key{owner.id: owner.pub}
	attestdOnce := func() time.Duration {
		start := time.Now()
		resp, err := e.verifier().Verify(as(tok["verifier"]), req)
		el := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if !resp.GetDecision().GetAllowed() {
			b.Fatalf("attestd denied: %q", resp.GetDecision().GetReasons())
		}
		if n := len(resp.GetDecision().GetSteps()); n != len(specs) {
			b.Fatalf("%d steps", n)
		}
		return el
	}
	intotoOnce := func() time.Duration {
		start := time.Now()
		lmb, err := in_toto.LoadMetadata(layoutPath)
		if err == nil {
			_, err = in_toto.InTotoVerify(lmb, ownerKeys, dir, "", nil, nil, false)
		}
		el := time.Since(start)
		if err != nil {
			b.Fatalf("InTotoVerify: %v", err)
		}
		return el
	}
	// Both must deny a tampered chain too: the same decision, not just the same success.
	if resp, err := e.verifier().Verify(as(tok["verifier"]), &attestdv1.VerifyRequest{Kind: "file", Name: "rel/042",
		Digest: "sha256:" + sha("not it")}); err != nil || resp.GetDecision().GetAllowed() {
		b.Fatalf("attestd did not deny another digest: %v", err)
	}
	attestdOnce()
	intotoOnce()

	// newLeaf appends an unrelated attestation, so that the next Verify follows a new leaf: attestd must learn
	// that nothing its decision depends on changed.
	leaf := 0
	newLeaf := func() {
		leaf++
		stmt := linkStatement("unrelated", nil, map[string]string{"x": sha(fmt.Sprint("bench leaf ", leaf))})
		resp, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: envelope(inTotoPayloadType, stmt, fn.signer)})
		if err != nil {
			b.Fatal(err)
		}
		// Let the log publish the checkpoint that covers it, so that its background work (tiles, fsyncs) does
		// not land in the timed calls that follow.
		if _, _, err := e.log.AwaitIntegration(b.Context(), resp.GetReceipt().GetLogIndex()); err != nil {
			b.Fatal(err)
		}
	}

	// The floor: the cheapest authenticated call, a token lookup and the checkpoint read from memory and disk.
	logClient := attestdv1.NewLogServiceClient(e.conn)
	floorOnce := func() time.Duration {
		start := time.Now()
		if _, err := logClient.GetCheckpoint(as(tok["verifier"]), &attestdv1.GetCheckpointRequest{}); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}

	// warm is an untimed call after an idle wait (the new leaf's integration), so that the timed call after it
	// runs, like InTotoVerify's and the kept ones, on a process and a database that are awake: without it the
	// first call after ~100 ms of idleness measured 1 ms more, in the floor as much as in Verify.
	warm := func() { floorOnce() }

	// Four phases, so that one's garbage is not collected while another is timed: the floor and kept
	// decisions; decisions after a new unrelated leaf; cold decisions, every cache of Verify dropped first (as
	// after a restart: candidates read from the database, envelopes parsed, signatures and inclusion proofs
	// checked); then InTotoVerify.
	b.ResetTimer()
	var kept, fresh, cold, theirs, floor []time.Duration
	for range b.N {
		floor = append(floor, floorOnce())
		kept = append(kept, attestdOnce())
	}
	for range b.N {
		b.StopTimer()
		newLeaf()
		warm()
		b.StartTimer()
		fresh = append(fresh, attestdOnce())
	}
	for range b.N {
		b.StopTimer()
		e.srv.DropVerifyCaches()
		warm()
		b.StartTimer()
		cold = append(cold, attestdOnce())
	}
	for range b.N {
		theirs = append(theirs, intotoOnce())
	}
	b.StopTimer()
	mean := func(d []time.Duration) float64 {
		var s time.Duration
		for _, x := range d {
			s += x
		}
		return float64(s) / float64(len(d)) / 1e6
	}
	b.ReportMetric(pct(floor, 50), "floor-p50-ms")
	b.ReportMetric(pct(kept, 50), "kept-p50-ms")
	b.ReportMetric(pct(kept, 99), "kept-p99-ms")
	b.ReportMetric(pct(fresh, 50), "fresh-p50-ms")
	b.ReportMetric(pct(fresh, 99), "fresh-p99-ms")
	b.ReportMetric(pct(cold, 50), "cold-p50-ms")
	b.ReportMetric(pct(cold, 99), "cold-p99-ms")
	b.ReportMetric(pct(theirs, 50), "intoto-p50-ms")
	b.ReportMetric(pct(theirs, 99), "intoto-p99-ms")
	b.ReportMetric(mean(theirs)/mean(kept), "intoto/kept")
	b.ReportMetric(mean(theirs)/mean(fresh), "intoto/fresh")
	b.ReportMetric(mean(theirs)/mean(cold), "intoto/cold")
	b.ReportMetric(float64(other), "other-attestations")
}

func benchIntotoKey(tb testing.TB) *intotoKey {
	tb.Helper()
	s := newSigner(tb)
	der, err := x509.MarshalPKCS8PrivateKey(s.priv)
	if err != nil {
		tb.Fatal(err)
	}
	k := &intotoKey{signer: s}
	if err := k.priv.LoadKeyReaderDefaults(bytes.NewReader(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))); err != nil {
		tb.Fatal(err)
	}
	if err := k.pub.LoadKeyReaderDefaults(strings.NewReader(s.pem)); err != nil {
		tb.Fatal(err)
	}
	return k
}

func signLayoutTB(tb testing.TB, signed any, keys ...*intotoKey) []byte {
	tb.Helper()
	mb := &in_toto.Metablock{Signed: signed, Signatures: []in_toto.Signature{}}
	for _, k := range keys {
		if err := mb.Sign(k.priv); err != nil {
			tb.Fatal(err)
		}
	}
	out, err := json.Marshal(mb)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// seedOther gives project n other attestations (step(i) names the step of the i-th) as Submit would leave
// them: signed link statements, each with its leaf in the log (appended by 64 writers) and its row and index
// rows, written in chunks of 5,000 with one statement per table.
func seedOther(b *testing.B, e *env, project string, n int, s *signer, step func(int) string) {
	b.Helper()
	ctx := b.Context()
	proj, err := e.store.ProjectByName(ctx, project)
	if err != nil {
		b.Fatal(err)
	}
	type row struct {
		id, step       string
		env            []byte
		index          int64
		in, outA, outB string
	}
	rows := make([]row, n)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 64 {
				r := row{step: step(i), in: sha(fmt.Sprint("other in ", i)), outA: sha(fmt.Sprint("other out ", i)),
					outB: sha(fmt.Sprint("other out b ", i))}
				r.env = envelope(inTotoPayloadType, linkStatement(r.step, map[string]string{"in/a": r.in},
					map[string]string{"out/a": r.outA, "out/b": r.outB}), s)
				sum := sha256.Sum256(r.env)
				r.id = hex.EncodeToString(sum[:])
				idx, err := e.log.Append(ctx, tlog.EntryForEnvelope(project, r.id, r.env))
				if err != nil {
					errs <- err
					return
				}
				r.index = int64(idx)
				rows[i] = r
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	for chunk := range slices.Chunk(rows, 5000) {
		var ids, steps []string
		var envs [][]byte
		var indexes []int64
		for _, r := range chunk {
			ids, steps, envs, indexes = append(ids, r.id), append(steps, r.step), append(envs, r.env), append(indexes, r.index)
		}
		if _, err := conn.Exec(ctx, `
			INSERT INTO attestations (project_id, id, envelope, payload_type, statement_type, predicate_type, step,
				signer_key_ids, submitter_id, log_index)
			SELECT $1, u.id, u.env, $2, 'https://in-toto.io/Statement/v1', 'https://in-toto.io/attestation/link/v0.3',
				u.step, ARRAY[$3], 'seed', u.idx
			FROM unnest($4::text[], $5::bytea[], $6::text[], $7::bigint[]) AS u (id, env, step, idx)`,
			proj.ID, inTotoPayloadType, s.id, ids, envs, steps, indexes); err != nil {
			b.Fatal(err)
		}
		var seqIDs []string
		var names, digests []string
		var kinds []int32
		for _, r := range chunk {
			seqIDs = append(seqIDs, r.id, r.id, r.id)
			kinds = append(kinds, 0, 0, 1)
			names = append(names, "out/a", "out/b", "in/a")
			digests = append(digests, r.outA, r.outB, r.in)
		}
		for kind, table := range []string{"attestation_subjects", "attestation_materials"} {
			if _, err := conn.Exec(ctx, `
				INSERT INTO `+table+` (project_id, attestation_seq, ord, name, algorithm, digest)
				SELECT $1, a.seq, u.ord, u.name, 'sha256', u.digest
				FROM unnest($2::text[], $3::int[], $4::text[], $5::text[]) WITH ORDINALITY AS u (id, kind, name, digest, ord)
				JOIN attestations a ON a.project_id = $1 AND a.id = u.id
				WHERE u.kind = $6`, proj.ID, seqIDs, kinds, names, digests, kind); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := conn.Exec(ctx, `INSERT INTO attestation_signers (project_id, attestation_seq, key_id)
			SELECT $1, seq, $2 FROM attestations WHERE project_id = $1 AND id = ANY($3)`,
			proj.ID, s.id, ids); err != nil {
			b.Fatal(err)
		}
	}
	// As autovacuum would leave the tables in steady state: statistics, and the visibility map that lets the
	// artifact lookups be index-only scans.
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

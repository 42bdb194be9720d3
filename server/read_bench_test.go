package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/store/postgres"
	"github.com/attestd/attestd/internal/tlog"
)

// BenchmarkReadPaths measures the read RPCs on a project of ATTESTD_BENCH_READ_ROWS attestations (default
// 1,000,000; see read_bench_gen_test.go for what they are and read_bench_seed_test.go for how the seed is made
// once and reused), next to a second project of about one in twenty as many that shares the digests asked
// for. A real server in process (server.New, the Tessera log of the seed's leaves, PostgreSQL), one client over
// loopback gRPC, reader token. Each phase makes ATTESTD_BENCH_READ_CALLS calls (default 2,000) after 50 untimed
// ones and reports its p50, p99 and mean in milliseconds:
//
//   - floor: GetCheckpoint, the cheapest authenticated call, the baseline of every ratio;
//   - list-hot-omit and list-hot: List by the subject digest of one of the readHotImages images (hundreds of
//     scans each: a full page of 100), chosen at random each call, without and with envelopes;
//   - list-random: List (page size 100, with envelopes) by a subject digest of an attestation drawn at random
//     from the whole project, a different one each call;
//   - provenance: Provenance (default bounds) of the image of a pipeline run drawn at random among 1,000 runs:
//     a 5-step chain back to the commit;
//   - dependents: Dependents (default bounds) of the commit of such a run.
//
// Phases whose RPC answers UNIMPLEMENTED are skipped with a note. Run it with -benchtime 1x: the calls per
// phase are set by the variable, not by b.N.
//
//	ATTESTD_REQUIRE_DB=1 go test ./server -run '^$' -bench BenchmarkReadPaths -benchtime 1x -timeout 30m
func BenchmarkReadPaths(b *testing.B) {
	rows := readEnvInt(b, "ATTESTD_BENCH_READ_ROWS", 1_000_000, 10_000)
	calls := readEnvInt(b, "ATTESTD_BENCH_READ_CALLS", 2000, 100)
	dbURL, logDir, seed := openReadSeed(b, rows)
	ctx := context.Background()
	randomDigests := sampleSubjectDigests(b, dbURL, seed, calls)

	st, err := postgres.Open(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	start := time.Now()
	e := benchServer(b, st, openReadLog(b, logDir))
	b.Logf("server reconciled and serving in %v", time.Since(start).Round(time.Millisecond))
	tok, err := e.tokens().CreateToken(as(e.admin), &attestdv1.CreateTokenRequest{Project: "bench", Role: "reader"})
	if err != nil {
		b.Fatal(err)
	}
	auth := as(tok.GetSecret())
	atts, logs := e.atts(), attestdv1.NewLogServiceClient(e.conn)

	rng := rand.New(rand.NewPCG(5, 6))
	chains := make([]int, 1000)
	for i := range chains {
		chains[i] = readHotImages + rng.IntN(seed.Runs-readHotImages-1)
	}

	list := func(digest string, omit bool) (int, error) {
		resp, err := atts.List(auth, &attestdv1.ListRequest{SubjectDigest: "sha256:" + digest, PageSize: 100, OmitEnvelopes: omit})
		if err != nil {
			return 0, err
		}
		return len(resp.GetAttestations()), checkListed(resp.GetAttestations(), digest, omit)
	}
	phases := []struct {
		name string
		call func() (int, error) // returns the rows, nodes or dependents of the answer
	}{
		{"floor", func() (int, error) {
			_, err := logs.GetCheckpoint(auth, &attestdv1.GetCheckpointRequest{})
			return 0, err
		}},
		{"list-hot-omit", func() (int, error) { return list(readImage("bench", rng.IntN(readHotImages)).Digest, true) }},
		{"list-hot", func() (int, error) { return list(readImage("bench", rng.IntN(readHotImages)).Digest, false) }},
		{"list-random", func() (int, error) { return list(randomDigests[rng.IntN(len(randomDigests))], false) }},
		{"provenance", func() (int, error) {
			r := chains[rng.IntN(len(chains))]
			resp, err := atts.Provenance(auth, &attestdv1.ProvenanceRequest{Digest: "sha256:" + readImage("bench", r).Digest})
			if err != nil {
				return 0, err
			}
			return len(resp.GetNodes()), checkProvenance(resp, r)
		}},
		{"dependents", func() (int, error) {
			r := chains[rng.IntN(len(chains))]
			resp, err := atts.Dependents(auth, &attestdv1.DependentsRequest{Digest: "sha256:" + readCommit("bench", r).Digest})
			if err != nil {
				return 0, err
			}
			return len(resp.GetDependents()), checkDependents(resp, r)
		}},
	}

	b.ResetTimer()
	var floor []time.Duration
	for _, ph := range phases {
		runtime.GC() // not during the next phase's timing
		if _, err := ph.call(); status.Code(err) == codes.Unimplemented {
			b.Logf("%s: not implemented by this server; phase skipped", ph.name)
			continue
		}
		for range 50 {
			if _, err := ph.call(); err != nil {
				b.Fatalf("%s: %v", ph.name, err)
			}
		}
		durs := make([]time.Duration, 0, calls)
		results := 0
		for range calls {
			t0 := time.Now()
			n, err := ph.call()
			durs = append(durs, time.Since(t0))
			if err != nil {
				b.Fatalf("%s: %v", ph.name, err)
			}
			results += n
		}
		if ph.name == "floor" {
			floor = durs
		}
		b.ReportMetric(pct(durs, 50), ph.name+"-p50-ms")
		b.ReportMetric(pct(durs, 99), ph.name+"-p99-ms")
		b.ReportMetric(meanMS(durs), ph.name+"-mean-ms")
		if ph.name != "floor" {
			b.ReportMetric(float64(results)/float64(calls), ph.name+"-results")
			b.ReportMetric(pct(durs, 99)/pct(floor, 99), ph.name+"-p99/floor")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(seed.Rows), "attestations")
	b.ReportMetric(seed.Seconds, "seed-s")
}

// checkListed fails unless every listed attestation is the bench project's and has the digest as a subject,
// with its envelope unless omitted.
func checkListed(atts []*attestdv1.Attestation, digest string, omit bool) error {
	if len(atts) == 0 {
		return fmt.Errorf("no attestation listed for %s", digest)
	}
	for _, a := range atts {
		if p := a.GetReceipt().GetProject(); p != "bench" {
			return fmt.Errorf("listed an attestation of project %q", p)
		}
		if !slices.ContainsFunc(a.GetSubjects(), func(s *attestdv1.ArtifactRef) bool { return s.GetDigest() == digest }) {
			return fmt.Errorf("listed %s, which does not have subject %s", a.GetReceipt().GetId(), digest)
		}
		if omit != (len(a.GetEnvelope()) == 0) {
			return fmt.Errorf("envelope of %d bytes with omit_envelopes=%v", len(a.GetEnvelope()), omit)
		}
	}
	return nil
}

// checkProvenance fails unless the graph of run r's image holds its five steps, in this project only.
func checkProvenance(resp *attestdv1.ProvenanceResponse, r int) error {
	steps := map[string]int32{}
	for _, n := range resp.GetNodes() {
		if p := n.GetAttestation().GetReceipt().GetProject(); p != "bench" {
			return fmt.Errorf("provenance of run %d holds an attestation of project %q", r, p)
		}
		steps[n.GetAttestation().GetReceipt().GetStep()] = n.GetDepth()
	}
	for depth, step := range []string{"image", "package", "build", "fetch", "source"} {
		if steps[step] != int32(depth+1) {
			return fmt.Errorf("provenance of run %d: step %s at depth %d, want %d (%d nodes)", r, step, steps[step], depth+1, len(resp.GetNodes()))
		}
	}
	commit := readCommit("bench", r).Digest
	if !slices.ContainsFunc(resp.GetSources(), func(s *attestdv1.ArtifactRef) bool { return s.GetDigest() == commit }) {
		return fmt.Errorf("provenance of run %d: the commit is not among its %d sources", r, len(resp.GetSources()))
	}
	return nil
}

// checkDependents fails unless run r's image is among the dependents of its commit, at depth 5.
func checkDependents(resp *attestdv1.DependentsResponse, r int) error {
	image := readImage("bench", r).Digest
	for _, d := range resp.GetDependents() {
		if d.GetArtifact().GetDigest() == image && d.GetDepth() == 5 {
			return nil
		}
	}
	return fmt.Errorf("dependents of run %d's commit: its image is not among the %d at depth 5", r, len(resp.GetDependents()))
}

// sampleSubjectDigests returns n subject digests of attestations of the bench project drawn at random.
func sampleSubjectDigests(b *testing.B, dbURL string, seed readSeed, n int) []string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	rng := rand.New(rand.NewPCG(9, 10))
	var out []string
	for len(out) < n {
		seqs := make([]int64, n)
		for i := range seqs {
			seqs[i] = 1 + rng.Int64N(int64(seed.Total))
		}
		rows, err := conn.Query(ctx, `SELECT s.digest FROM attestation_subjects s JOIN projects p ON p.id = s.project_id
			WHERE p.name = 'bench' AND s.attestation_seq = ANY($1) AND s.ord = 0`, seqs)
		if err != nil {
			b.Fatal(err)
		}
		found, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, found...)
	}
	return out[:n]
}

// openReadLog opens the seed's log (a copy) with attestd serve's defaults.
func openReadLog(b *testing.B, dir string) *tlog.Log {
	signer, vkey, err := tlog.LoadOrCreateKey(dir, readLogOrigin)
	if err != nil {
		b.Fatal(err)
	}
	lg, err := tlog.Open(context.Background(), tlog.Config{Dir: filepath.Join(dir, "log"), Signer: signer,
		VerifierKey: vkey, Logger: readDiscardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = lg.Close(context.Background()) })
	return lg
}

func meanMS(d []time.Duration) float64 {
	var s time.Duration
	for _, x := range d {
		s += x
	}
	return float64(s) / float64(len(d)) / 1e6
}

// readEnvInt reads a count from the environment variable name (def when unset; at least least).
func readEnvInt(b *testing.B, name string, def, least int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		b.Fatalf("%s=%q: want a number of at least %d", name, v, least)
	}
	return n
}

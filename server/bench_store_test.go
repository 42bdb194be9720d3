package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/dbtest"
	"github.com/attestd/attestd/internal/store/postgres"
	"github.com/attestd/attestd/internal/store/sqlite"
)

// The store backends that BenchmarkStoreSubmit and BenchmarkStoreList compare, in this order in each run.
var benchBackends = []string{"postgres", "sqlite"}

// openBenchStore opens a fresh, migrated store until b ends: a database on dbtest's PostgreSQL server, or an
// SQLite file in b.TempDir() (Migrate, then Open, as attestd serve does).
func openBenchStore(b *testing.B, backend string) store.Store {
	b.Helper()
	ctx := context.Background()
	var st store.Store
	var err error
	switch backend {
	case "postgres":
		st, err = postgres.Open(ctx, dbtest.New(b))
	case "sqlite":
		path := filepath.Join(b.TempDir(), "attestd.db")
		if err = sqlite.Migrate(ctx, path); err == nil {
			st, err = sqlite.Open(ctx, path)
		}
	default:
		b.Fatalf("unknown store backend %q", backend)
	}
	if err != nil {
		b.Fatalf("open the %s store: %v", backend, err)
	}
	b.Cleanup(st.Close)
	return st
}

// BenchmarkStoreSubmit is BenchmarkSubmit with the Tessera log on each store backend, in one run: 64 clients,
// 4 KiB ed25519-signed envelopes, peak throughput and latency, then latency at half the peak.
// docs/performance.md has the figures, from
//
//	ATTESTD_REQUIRE_DB=1 go test -count=1 -run '^$' -bench BenchmarkStoreSubmit -benchtime 3000x ./server/
//	ATTESTD_REQUIRE_DB=1 go test -count=1 -run '^$' -bench BenchmarkStoreList -benchtime 1000x ./server/
func BenchmarkStoreSubmit(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run("store="+backend, func(b *testing.B) { benchSubmit(b, openBenchStore(b, backend), "tessera") })
	}
}

// listReleases is how many "release" digests the attestations of BenchmarkStoreList share.
const listReleases = 100

// BenchmarkStoreList measures List by subject digest, one page of 100 with envelopes, from one client, on each
// store backend in one run. The project holds ATTESTD_BENCH_LIST_ROWS attestations (default 20,000): 4 KiB
// ed25519-signed envelopes, each with a subject of its own and one of 100 shared "release" digests, so that
// every listed digest matches rows/100 of them (200 at the default), spread over the whole table, and fills
// the page. They are inserted through the store, as Submit inserts them (with a log index each) but without
// a log, which List does not read. Each iteration lists the next release digest through the RPC, then calls
// the store's ListAttestations with the same filter directly. Reported: p50/p99 of each, in milliseconds.
// Go runs the function once only (b.Loop), so the rows are seeded once per backend.
func BenchmarkStoreList(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run("store="+backend, func(b *testing.B) { benchList(b, openBenchStore(b, backend)) })
	}
}

func benchList(b *testing.B, st store.Store) {
	ctx := context.Background()
	e := benchServer(b, st, &noopLog{})
	tok := e.project("bench")
	s := newSigner(b)
	e.addKey(tok["admin"], s)
	p, err := st.ProjectByName(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	rows := benchListRows(b)
	start := time.Now()
	seedList(b, st, p.ID, s, rows)
	b.Logf("seeded %d attestations in %s", rows, time.Since(start).Round(time.Millisecond))

	client := attestdv1.NewAttestationServiceClient(e.conn)
	auth := as(tok["reader"])
	want := min(100, rows/listReleases)
	var rpc, direct []time.Duration
	for i := 0; b.Loop(); i++ {
		digest := sha(fmt.Sprint("release-", i%listReleases))
		t0 := time.Now()
		resp, err := client.List(auth, &attestdv1.ListRequest{SubjectDigest: "sha256:" + digest, PageSize: 100})
		rpc = append(rpc, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if n := len(resp.GetAttestations()); n != want || len(resp.GetAttestations()[0].GetEnvelope()) < 4000 {
			b.Fatalf("List of release %d: %d attestations, want %d with their envelopes", i%listReleases, n, want)
		}
		t0 = time.Now()
		atts, err := st.ListAttestations(ctx, p.ID, store.Filter{SubjectAlgorithm: "sha256", SubjectDigest: digest, Limit: 100})
		direct = append(direct, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if len(atts) != want {
			b.Fatalf("ListAttestations of release %d: %d attestations, want %d", i%listReleases, len(atts), want)
		}
	}
	b.ReportMetric(pct(rpc, 50), "p50-ms")
	b.ReportMetric(pct(rpc, 99), "p99-ms")
	b.ReportMetric(pct(direct, 50), "store-p50-ms")
	b.ReportMetric(pct(direct, 99), "store-p99-ms")
}

// benchListRows reads ATTESTD_BENCH_LIST_ROWS (default 20,000; at least listReleases).
func benchListRows(b *testing.B) int {
	v := os.Getenv("ATTESTD_BENCH_LIST_ROWS")
	if v == "" {
		return 20000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < listReleases {
		b.Fatalf("ATTESTD_BENCH_LIST_ROWS=%q: want a number of at least %d", v, listReleases)
	}
	return n
}

// seedList inserts n attestations into the project from 16 writers, as Submit would store them: attestation i
// has the subjects artifact-i and release-(i mod listReleases) and the log index i.
func seedList(b *testing.B, st store.Store, projectID int64, s *signer, n int) {
	ctx := context.Background()
	pad := strings.Repeat("x", 2500)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || b.Failed() {
					return
				}
				release := fmt.Sprint("release-", i%listReleases)
				stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[`+
					`{"name":"artifact-%d","digest":{"sha256":%q}},{"name":%q,"digest":{"sha256":%q}}],`+
					`"predicateType":"https://example.com/bench/v1","predicate":{"pad":%q}}`,
					i, sha(fmt.Sprint(i)), release, sha(release), pad)
				env := envelope(inTotoPayloadType, []byte(stmt), s)
				index := uint64(i)
				_, _, err := st.InsertAttestation(ctx, store.Attestation{
					ProjectID:     projectID,
					ID:            sha(string(env)),
					Envelope:      env,
					PayloadType:   inTotoPayloadType,
					StatementType: "https://in-toto.io/Statement/v1",
					PredicateType: "https://example.com/bench/v1",
					Subjects: []store.Artifact{
						{Name: fmt.Sprint("artifact-", i), Algorithm: "sha256", Digest: sha(fmt.Sprint(i))},
						{Name: release, Algorithm: "sha256", Digest: sha(release)},
					},
					SignerKeyIDs: []string{s.id},
					SubmitterID:  "bench",
					LogIndex:     &index,
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

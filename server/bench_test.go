package server_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/tlog"
	"github.com/attestd/attestd/server"
)

// noopLog replaces the log seam with a counter: the baseline of the log's cost in BenchmarkSubmit.
type noopLog struct{ n atomic.Uint64 }

var errNoop = errors.New("no-op log keeps nothing")

func (l *noopLog) Append(context.Context, []byte) (uint64, error) { return l.n.Add(1) - 1, nil }
func (l *noopLog) IntegratedSize(context.Context) (uint64, error) { return 0, nil }
func (l *noopLog) Checkpoint(context.Context) ([]byte, tlog.Checkpoint, error) {
	return nil, tlog.Checkpoint{}, errNoop
}
func (l *noopLog) AwaitIntegration(context.Context, uint64) ([]byte, tlog.Checkpoint, error) {
	return nil, tlog.Checkpoint{}, errNoop
}
func (l *noopLog) InclusionProof(context.Context, uint64, uint64) ([][]byte, error) {
	return nil, errNoop
}
func (l *noopLog) InclusionProofs(context.Context, []uint64, uint64) ([][][]byte, error) {
	return nil, errNoop
}
func (l *noopLog) ConsistencyProof(context.Context, uint64, uint64) ([][]byte, error) {
	return nil, errNoop
}
func (l *noopLog) Entry(context.Context, uint64) ([]byte, error) { return nil, errNoop }
func (l *noopLog) VerifierKey() string                           { return "" }

// BenchmarkSubmit measures Submit on PostgreSQL with 4 KiB ed25519-signed envelopes from 64 concurrent
// clients, with the Tessera log and, in the same run, with the log replaced by a no-op. Each sub-benchmark
// reports peak throughput and latency, then latency under an open-loop load at half that peak.
// BenchmarkStoreSubmit runs the same on SQLite next to PostgreSQL.
//
//	go test -run '^$' -bench BenchmarkSubmit -benchtime 4000x ./server/
func BenchmarkSubmit(b *testing.B) {
	for _, mode := range []string{"tessera", "noop"} {
		b.Run("log="+mode, func(b *testing.B) { benchSubmit(b, openBenchStore(b, "postgres"), mode) })
	}
}

// benchSubmit runs BenchmarkSubmit's load on a server over st, with the Tessera log (mode "tessera") or the
// no-op log ("noop").
func benchSubmit(b *testing.B, st store.Store, mode string) {
	var lg server.Log = &noopLog{}
	if mode == "tessera" {
		lg = openLogBatched(b, b.TempDir(), benchBatchSize(b), benchBatchAge(b), benchCheckpointInterval(b))
	}
	e := benchServer(b, st, lg)
	tok := e.project("bench")
	s := newSigner(b)
	e.addKey(tok["admin"], s)

	// Distinct 4 KiB envelopes, signed before the clock starts: peak run b.N, half-load run b.N/2.
	pad := strings.Repeat("x", 2600)
	envs := make([][]byte, b.N+b.N/2)
	for i := range envs {
		stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"artifact-%d","digest":{"sha256":%q}}],`+
			`"predicateType":"https://example.com/bench/v1","predicate":{"pad":%q}}`, i, sha(fmt.Sprint(i)), pad)
		envs[i] = envelope(inTotoPayloadType, []byte(stmt), s)
	}
	client := attestdv1.NewAttestationServiceClient(e.conn)
	auth := as(tok["attestor"])
	submit := func(env []byte) time.Duration {
		start := time.Now()
		if _, err := client.Submit(auth, &attestdv1.SubmitRequest{Envelope: env}); err != nil {
			b.Error(err)
		}
		return time.Since(start)
	}

	const clients = 64
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				lat[i] = submit(envs[i])
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	peak := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(peak, "submits/s")
	b.ReportMetric(pct(lat, 50), "p50-ms")
	b.ReportMetric(pct(lat, 99), "p99-ms")

	// Open loop at half the peak: requests start on schedule whether or not earlier ones have finished.
	half := envs[b.N:]
	if len(half) == 0 {
		return
	}
	interval := time.Duration(float64(time.Second) / (peak / 2))
	hl := make([]time.Duration, len(half))
	t0 := time.Now()
	for i := range half {
		time.Sleep(time.Until(t0.Add(time.Duration(i) * interval)))
		wg.Go(func() { hl[i] = submit(half[i]) })
	}
	wg.Wait()
	b.ReportMetric(pct(hl, 50), "half-load-p50-ms")
	b.ReportMetric(pct(hl, 99), "half-load-p99-ms")
}

// benchServer serves a reconciled server over st and lg on loopback until b ends, with a server-admin token.
func benchServer(b *testing.B, st store.Store, lg server.Log) *env {
	ctx := context.Background()
	srv := server.New(server.Config{Store: st, Log: lg})
	if _, err := srv.Reconcile(ctx); err != nil {
		b.Fatal(err)
	}
	e := &env{t: b, conn: serve(b, srv), store: st}
	admin, secret, err := server.NewToken("server-admin", 0)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Bootstrap(ctx, admin); err != nil {
		b.Fatal(err)
	}
	e.admin = secret
	return e
}

func pct(d []time.Duration, p int) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return float64(s[i].Microseconds()) / 1000
}

// benchBatchAge and benchCheckpointInterval read ATTESTD_BENCH_BATCH_AGE and ATTESTD_BENCH_CHECKPOINT_INTERVAL
// (defaults: attestd serve's defaults), so that the figures in docs/performance.md can be reproduced per setting.
func benchBatchAge(b *testing.B) time.Duration {
	return envDuration(b, "ATTESTD_BENCH_BATCH_AGE", 50*time.Millisecond)
}

// benchBatchSize reads ATTESTD_BENCH_BATCH_SIZE (default: attestd serve's default).
func benchBatchSize(b *testing.B) uint {
	v := os.Getenv("ATTESTD_BENCH_BATCH_SIZE")
	if v == "" {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		b.Fatalf("ATTESTD_BENCH_BATCH_SIZE: %v", err)
	}
	return uint(n)
}

func benchCheckpointInterval(b *testing.B) time.Duration {
	return envDuration(b, "ATTESTD_BENCH_CHECKPOINT_INTERVAL", 200*time.Millisecond)
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return d
}

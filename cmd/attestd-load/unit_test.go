package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/attestation"
)

func TestPercentile(t *testing.T) {
	var hundred []time.Duration
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, time.Duration(i)*time.Millisecond)
	}
	ten := hundred[:10]
	for _, c := range []struct {
		samples  []time.Duration
		perMille int
		want     time.Duration
	}{
		{hundred, 500, 50 * time.Millisecond},
		{hundred, 900, 90 * time.Millisecond},
		{hundred, 990, 99 * time.Millisecond},
		{hundred, 999, 100 * time.Millisecond},
		{hundred, 1000, 100 * time.Millisecond},
		{hundred, 0, 1 * time.Millisecond},
		{ten, 500, 5 * time.Millisecond},
		{ten, 990, 10 * time.Millisecond},
		{ten, 900, 9 * time.Millisecond},
		{ten, 901, 10 * time.Millisecond},
		{hundred[:1], 990, 1 * time.Millisecond},
		{nil, 500, 0},
	} {
		if got := percentile(c.samples, c.perMille); got != c.want {
			t.Errorf("percentile of %d samples at %d‰ = %v, want %v", len(c.samples), c.perMille, got, c.want)
		}
	}
	l := summarize(hundred)
	if l.N != 100 || l.P50 != 50 || l.P99 != 99 || l.Max != 100 || l.Mean != 50.5 {
		t.Fatalf("summary %+v", l)
	}
}

// fakeClock is time for drive: it moves only when a client sleeps or an operation takes time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestOpenLoopLatencyFromSchedule: at 100/s one client makes requests due every 10 ms; the first stalls for
// 35 ms. The three requests that fell due during the stall are charged from when they were due (26, 17 and
// 8 ms) and counted late, not measured from when the client got to them (1 ms each). A closed loop over the
// same service times sees 35 ms once and 1 ms after.
func TestOpenLoopLatencyFromSchedule(t *testing.T) {
	service := func(i int64) time.Duration {
		if i == 0 {
			return 35 * time.Millisecond
		}
		return time.Millisecond
	}
	run := func(rate float64) *outcome {
		clk := &fakeClock{now: time.Unix(1000, 0)}
		p := plan{name: "test", clients: 1, count: 8, rate: rate, timeout: time.Minute, now: clk.Now,
			sleep: func(_ context.Context, d time.Duration) bool { clk.advance(d); return true }}
		return drive(context.Background(), p, func(_ context.Context, _ int, i int64) (int, string) {
			clk.advance(service(i))
			return 0, ""
		})
	}
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	open := run(100)
	if want := ms(1, 1, 1, 1, 8, 17, 26, 35); fmt.Sprint(open.lat) != fmt.Sprint(want) {
		t.Fatalf("open loop latencies %v, want %v", open.lat, want)
	}
	if open.late != 3 || open.maxBehind != 25*time.Millisecond {
		t.Fatalf("open loop: %d late, max %v behind; want 3, 25ms", open.late, open.maxBehind)
	}
	if open.elapsed != 71*time.Millisecond { // the last request is due at 70 ms, answered 1 ms later
		t.Fatalf("open loop elapsed %v, want 71ms", open.elapsed)
	}
	closed := run(0)
	if want := ms(1, 1, 1, 1, 1, 1, 1, 35); fmt.Sprint(closed.lat) != fmt.Sprint(want) {
		t.Fatalf("closed loop latencies %v, want %v", closed.lat, want)
	}
	if closed.late != 0 || closed.elapsed != 42*time.Millisecond {
		t.Fatalf("closed loop: %d late, elapsed %v", closed.late, closed.elapsed)
	}
}

// TestDriveBounds: a run stops at --count, or at --duration with the operations in flight finished, and
// counts errors by the code the op returns.
func TestDriveBounds(t *testing.T) {
	o := drive(context.Background(), plan{clients: 3, count: 10, timeout: time.Second}, func(_ context.Context, _ int, i int64) (int, string) {
		if i%5 == 0 {
			return 0, "UNAVAILABLE"
		}
		return 0, ""
	})
	if o.done() != 10 || o.ok != 8 || o.errors["UNAVAILABLE"] != 2 {
		t.Fatalf("count bound: done %d, ok %d, errors %v", o.done(), o.ok, o.errors)
	}
	o = drive(context.Background(), plan{clients: 2, count: maxCount, duration: 50 * time.Millisecond, timeout: time.Second},
		func(ctx context.Context, _ int, _ int64) (int, string) {
			time.Sleep(time.Millisecond)
			return 0, ""
		})
	if o.done() == 0 || o.done() >= maxCount || len(o.errors) != 0 {
		t.Fatalf("duration bound: done %d, errors %v", o.done(), o.errors)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:7700", "127.1.2.3:1", "[::1]:7700", "localhost:65535"} {
		if err := checkLoopback(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"10.0.0.1:7700", "example.com:7700", "0.0.0.0:7700", "[::]:7700", "192.168.1.1:80",
		"127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "localhost.example.com:7700", "[::ffff:10.0.0.1]:7700", ":7700"} {
		if err := checkLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	for _, u := range []string{"https://rekor.sigstore.dev", "http://10.1.1.1:3000", "ftp://127.0.0.1:21", "http://127.0.0.1.nip.io:3000"} {
		if err := checkLoopbackURL(u); err == nil {
			t.Errorf("Rekor URL %s accepted", u)
		}
	}
	if err := checkLoopbackURL("http://127.0.0.1:3077"); err != nil {
		t.Error(err)
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"submit", "--server", "10.0.0.1:7700", "--token", "x"}, &bytes.Buffer{}, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), "not a loopback address") {
		t.Fatalf("non-loopback server: exit %d, %s", code, stderr.String())
	}
}

// TestFlagBounds: every bound is enforced before anything is contacted, as a usage error (exit 2) that
// names the flag.
func TestFlagBounds(t *testing.T) {
	base := []string{"--token", "x"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"submit", "--clients", "0"}, "--clients"},
		{[]string{"submit", "--clients", "1025"}, "--clients"},
		{[]string{"submit", "--clients", "8", "--conns", "9"}, "--conns"},
		{[]string{"submit", "--count", "10000001"}, "--count"},
		{[]string{"submit", "--count", "-1"}, "--count"},
		{[]string{"submit", "--count", "10", "--duration", "2h1m"}, "--duration"},
		{[]string{"submit", "--rate", "-1", "--count", "10"}, "--rate"},
		{[]string{"submit", "--rate", "2000000", "--count", "10"}, "--rate"},
		{[]string{"submit", "--rate", "10000", "--duration", "2h"}, "more than 10000000"},
		{[]string{"submit", "--envelope-bytes", "100"}, "--envelope-bytes"},
		{[]string{"submit", "--envelope-bytes", "4194305"}, "--envelope-bytes"},
		{[]string{"submit", "--count", "2000", "--envelope-bytes", "4194304"}, "GiB"},
		{[]string{"submit", "--subjects", "0"}, "--subjects"},
		{[]string{"submit", "--subjects", "10001"}, "--subjects"},
		{[]string{"submit", "--key", "dsa"}, "--key"},
		{[]string{"submit", "--timeout", "0s"}, "--timeout"},
		{[]string{"submit", "--duration", "10s"}, "needs --count"},
		{[]string{"submit", "--pg", "12,abc"}, "--pg"},
		{[]string{"submit", "--limits-time", "2m"}, "--limits-time"},
		{[]string{"soak", "--duration", "1m"}, "--rate and --duration"},
		{[]string{"soak", "--rate", "10", "--duration", "5s"}, "at least 10s"},
		{[]string{"get", "--prefill", "0"}, "--prefill"},
		{[]string{"submit", "--project", "p"}, "not both"},
		{[]string{"submit", "extra"}, "unexpected arguments"},
		{[]string{"frobnicate"}, "unknown command"},
	} {
		args := append(append([]string{}, c.args...), base...)
		var stderr bytes.Buffer
		if code := run(context.Background(), args, &bytes.Buffer{}, &stderr); code != exitUsage || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, %q; want exit %d mentioning %q", c.args, code, stderr.String(), exitUsage, c.want)
		}
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"submit"}, &bytes.Buffer{}, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "is required") {
		t.Errorf("no token: exit %d, %s", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"rekor", "--rekor-url", "https://rekor.sigstore.dev"}, &bytes.Buffer{}, &stderr); code != exitUsage {
		t.Errorf("public Rekor: exit %d, %s", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"rekor", "--key", "rsa"}, &bytes.Buffer{}, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "PKCS#1") {
		t.Errorf("rekor with RSA: exit %d, %s", code, stderr.String())
	}
	// Defaults: 10,000 operations without --count or --duration; the open-loop schedule's count with --rate.
	cfg, err := parseFlags("submit", base, &bytes.Buffer{})
	if err != nil || cfg.count != defaultCount || cfg.conns != cfg.clients || cfg.clients != 64 {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	if cfg, err = parseFlags("soak", append([]string{"--rate", "1500", "--duration", "10m"}, base...), &bytes.Buffer{}); err != nil || cfg.count != 900000 {
		t.Fatalf("soak count: %v, %v", cfg.count, err)
	}
	// A soak signs as it goes: an hour at 1,500/s of 4 KiB (22 GB of envelopes) is not refused for memory.
	if cfg, err = parseFlags("soak", append([]string{"--rate", "1500", "--duration", "1h"}, base...), &bytes.Buffer{}); err != nil || cfg.count != 5_400_000 {
		t.Fatalf("hour-long soak: %v, %v", cfg.count, err)
	}
}

// TestEnvelopes: every envelope is exactly the size asked for, distinct, parses as attestd parses it, carries
// the subjects asked for and verifies with the key, for every key type and sizes on each side of a base64
// quantum.
func TestEnvelopes(t *testing.T) {
	ctx := context.Background()
	for _, kind := range keyKinds() {
		s, err := newSigner(kind)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := attestation.ParsePublicKey(s.PublicPEM())
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{1500, 4096, 4097, 4098, 4099} {
			for _, subjects := range []int{1, 3} {
				m, err := newMaker(ctx, s, size, subjects)
				if err != nil {
					t.Fatal(err)
				}
				envs, err := makeEnvelopes(ctx, m, 12, nil)
				if err != nil {
					t.Fatalf("%s, %d bytes: %v", kind, size, err)
				}
				seen := map[string]bool{}
				for i, raw := range envs {
					if len(raw) != size || seen[string(raw)] {
						t.Fatalf("%s envelope %d: %d bytes (want %d), seen before %v", kind, i, len(raw), size, seen[string(raw)])
					}
					seen[string(raw)] = true
					env, err := attestation.ParseEnvelope(raw, attestation.Limits{})
					if err != nil {
						t.Fatalf("%s envelope %d: %v\n%s", kind, i, err, raw)
					}
					if ids, err := attestation.VerifySignatures(env, []*attestation.PublicKey{pub}); err != nil || len(ids) != 1 {
						t.Fatalf("%s envelope %d does not verify: %v", kind, i, err)
					}
					st, err := attestation.ParseStatement(env.Payload, attestation.Limits{})
					if err != nil || len(st.Subjects) != subjects {
						t.Fatalf("%s envelope %d: %v, %d subjects", kind, i, err, len(st.Subjects))
					}
				}
			}
		}
	}
	s, _ := newSigner("ed25519")
	if _, err := newMaker(ctx, s, 512, 10); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Fatalf("10 subjects in 512 bytes: %v", err)
	}
}

// TestEnvelopeStream: a soak's stream hands out every envelope of the run once, each distinct and verifying,
// never holds more than it may ahead of the operations, counts the operations that had to wait, and says when
// the run's envelopes are used up.
func TestEnvelopeStream(t *testing.T) {
	ctx := t.Context()
	s, err := newSigner("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := attestation.ParsePublicKey(s.PublicPEM())
	if err != nil {
		t.Fatal(err)
	}
	m, err := newMaker(ctx, s, 1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	const n, ahead = 300, 16
	st := startStream(ctx, m, n, ahead, 3)
	defer st.stop()
	if err := st.fill(ctx, n); err != nil {
		t.Fatal(err)
	}
	if got := len(st.ch); got != ahead {
		t.Fatalf("filled with %d envelopes, want %d", got, ahead)
	}
	time.Sleep(20 * time.Millisecond) // the workers hold one more each at most, blocked on the full stream
	if got := len(st.ch); got != ahead {
		t.Fatalf("%d envelopes ready without being taken, want %d", got, ahead)
	}
	// Taken back to back, faster than three goroutines sign them: past the first 16, takers wait.
	got := make([][]byte, n)
	for i := range got {
		if got[i], err = st.next(ctx); err != nil {
			t.Fatalf("envelope %d: %v", i, err)
		}
	}
	if _, err := st.next(ctx); !errors.Is(err, errStreamEnded) {
		t.Fatalf("after %d envelopes: %v, want errStreamEnded", n, err)
	}
	if st.waits.Load() == 0 {
		t.Fatalf("300 envelopes taken back to back from 16 ahead, and none waited")
	}
	seen := map[string]bool{}
	for i, raw := range got {
		if len(raw) != 1024 || seen[string(raw)] {
			t.Fatalf("envelope %d: %d bytes, seen before %v", i, len(raw), seen[string(raw)])
		}
		seen[string(raw)] = true
		env, err := attestation.ParseEnvelope(raw, attestation.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if ids, err := attestation.VerifySignatures(env, []*attestation.PublicKey{pub}); err != nil || len(ids) != 1 {
			t.Fatalf("envelope %d does not verify: %v", i, err)
		}
	}

	// A soak's stream is bounded by its rate, its clients and its memory.
	for _, c := range []struct {
		rate    float64
		clients int
		bytes   int
		count   int64
		want    int
	}{
		{1000, 256, 4096, 1_000_000, 2000},
		{20, 8, 4096, 200, 40},
		{1, 64, 4096, 1000, 64},
		{1000, 64, 4 << 20, 1_000_000, 64},
		{100000, 64, 4096, 1_000_000, maxStreamMemory / 4096},
		{1000, 64, 4096, 500, 500},
	} {
		cfg := &config{rate: c.rate, clients: c.clients, envBytes: c.bytes, count: c.count}
		if got := cfg.streamAhead(); got != c.want {
			t.Errorf("rate %v, %d clients, %d bytes, count %d: %d ahead, want %d", c.rate, c.clients, c.bytes, c.count, got, c.want)
		}
	}
}

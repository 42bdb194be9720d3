package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"testing"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/rekor/rekortest"
	"github.com/attestd/attestd/server/servertest"
)

// TestSubmitStoresEveryEnvelope: a closed-loop submit of 150 envelopes from 8 clients on 3 connections is
// answered 150 times without error, and the project then holds exactly the 150 envelopes the tool signed,
// byte for byte, each of --envelope-bytes. The CPU figures name this process (attestd is in it, found by its
// listening port) and PostgreSQL.
func TestSubmitStoresEveryEnvelope(t *testing.T) {
	a := servertest.Start(t, attestation.Limits{})
	var envs [][]byte
	e := &env{prepared: func(v [][]byte) { envs = v }}
	const n = 150
	r := load(t, e, "submit", "--server", a.Addr, "--token", a.Admin, "--clients", "8", "--conns", "3",
		"--count", strconv.Itoa(n), "--envelope-bytes", "3000", "--subjects", "2")
	if r.Ops != n || r.OK != n || len(r.Errors) != 0 || r.Latency.N != n {
		t.Fatalf("ops %d, ok %d, errors %v, latency samples %d; want %d, %d, none, %d", r.Ops, r.OK, r.Errors, r.Latency.N, n, n, n)
	}
	if r.Throughput <= 0 || r.Latency.P50 <= 0 || r.Latency.P50 > r.Latency.P99 || r.Latency.P99 > r.Latency.Max {
		t.Fatalf("figures out of order: %+v, throughput %v", r.Latency, r.Throughput)
	}
	if r.Loop != "closed" || r.Clients != 8 || r.Conns != 3 {
		t.Fatalf("report says %s loop, %d clients, %d conns", r.Loop, r.Clients, r.Conns)
	}
	if got := cpuOf(t, r, "attestd"); got.Note != "pid "+strconv.Itoa(os.Getpid()) || got.Seconds <= 0 || got.PerOpUs <= 0 {
		t.Fatalf("attestd CPU: %+v (this process is %d)", got, os.Getpid())
	}
	if got := cpuOf(t, r, "postgres"); got.Processes == 0 || got.Seconds <= 0 {
		t.Fatalf("postgres CPU: %+v", got)
	}
	if r.RSS == nil || r.RSS.StartMiB <= 0 || r.RSS.MaxMiB < r.RSS.EndMiB {
		t.Fatalf("RSS: %+v", r.RSS)
	}
	if r.Machine == nil || r.Machine.Cores < 1 || r.Machine.BusySeconds <= 0 {
		t.Fatalf("machine: %+v", r.Machine)
	}

	if len(envs) != n {
		t.Fatalf("the tool signed %d envelopes, want %d", len(envs), n)
	}
	want := map[string][]byte{}
	for _, env := range envs {
		if len(env) != 3000 {
			t.Fatalf("an envelope of %d bytes", len(env))
		}
		sum := sha256.Sum256(env)
		want[hex.EncodeToString(sum[:])] = env
	}
	if len(want) != n {
		t.Fatalf("%d distinct envelopes of %d", len(want), n)
	}
	stored := attestations(t, a, r.Project)
	if len(stored) != n {
		t.Fatalf("project %s holds %d attestations, want %d", r.Project, len(stored), n)
	}
	for _, s := range stored {
		env, ok := want[s.ID]
		if !ok || string(env) != string(s.Envelope) || len(s.Subjects) != 2 {
			t.Fatalf("stored attestation %s (%d subjects) is not one the tool submitted", s.ID, len(s.Subjects))
		}
		delete(want, s.ID)
	}
}

// TestSubmitCountsErrorsByCode: with its attestor token revoked before the clock starts, every submission
// is counted as UNAUTHENTICATED and none as a success; envelopes over the server's limit count as
// RESOURCE_EXHAUSTED.
func TestSubmitCountsErrorsByCode(t *testing.T) {
	a := servertest.Start(t, attestation.Limits{MaxEnvelopeBytes: 2048})
	revoke := &env{ready: func(ctx context.Context, s *session) error {
		_, err := s.admin.Tokens.RevokeToken(ctx, &attestdv1.RevokeTokenRequest{Project: s.project, Id: s.tokenID["attestor"]})
		return err
	}}
	r := load(t, revoke, "submit", "--server", a.Addr, "--token", a.Admin, "--clients", "4", "--count", "40", "--envelope-bytes", "1024")
	if r.Ops != 40 || r.OK != 0 || r.Errors["UNAUTHENTICATED"] != 40 || len(r.Errors) != 1 || r.Latency.N != 0 {
		t.Fatalf("revoked token: ops %d, ok %d, errors %v", r.Ops, r.OK, r.Errors)
	}
	r = load(t, nil, "submit", "--server", a.Addr, "--token", a.Admin, "--clients", "4", "--count", "25", "--envelope-bytes", "4096")
	if r.Ops != 25 || r.OK != 0 || r.Errors["RESOURCE_EXHAUSTED"] != 25 {
		t.Fatalf("envelopes over the limit: ops %d, ok %d, errors %v", r.Ops, r.OK, r.Errors)
	}
	if n := len(attestations(t, a, r.Project)); n != 0 {
		t.Fatalf("%d attestations stored from refused submissions", n)
	}
}

// TestSubmitOpenLoop: at --rate the run makes its --count requests, and says it was an open loop.
func TestSubmitOpenLoop(t *testing.T) {
	a := servertest.Start(t, attestation.Limits{})
	r := load(t, nil, "submit", "--server", a.Addr, "--token", a.Admin, "--clients", "16", "--rate", "200", "--count", "100")
	if r.Loop != "open" || r.Rate != 200 || r.OK != 100 || len(r.Errors) != 0 {
		t.Fatalf("open loop: %s at %v, ok %d, errors %v", r.Loop, r.Rate, r.OK, r.Errors)
	}
	// 100 requests due 5 ms apart take at least the 495 ms of the schedule.
	if r.DurationSeconds < 0.495 {
		t.Fatalf("100 requests at 200/s took %v s", r.DurationSeconds)
	}
}

// TestExistingProject: with --project and a project admin token, the run loads that project, and revokes
// the tokens it created (not the one it was given).
func TestExistingProject(t *testing.T) {
	a := servertest.Start(t, attestation.Limits{})
	root, err := dial(t.Context(), a.Addr, a.Admin)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.Projects.CreateProject(t.Context(), &attestdv1.CreateProjectRequest{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	tok, err := createToken(t.Context(), root, "acme", "admin")
	if err != nil {
		t.Fatal(err)
	}
	r := load(t, nil, "submit", "--server", a.Addr, "--project", "acme", "--admin-token", tok.GetSecret(), "--clients", "2", "--count", "10")
	if r.Project != "acme" || r.OK != 10 {
		t.Fatalf("project %s, ok %d", r.Project, r.OK)
	}
	if n := len(attestations(t, a, "acme")); n != 10 {
		t.Fatalf("acme holds %d attestations", n)
	}
	toks, err := root.Tokens.ListTokens(t.Context(), &attestdv1.ListTokensRequest{Project: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range toks.GetTokens() {
		if revoked := k.GetRevokeTime() != nil; revoked != (k.GetId() != tok.GetToken().GetId()) {
			t.Errorf("token %s (%s): revoked %v", k.GetId(), k.GetRole(), revoked)
		}
	}
}

// TestGet: after the prefill, every Get and List answers with the attestation asked for, and both kinds
// are reported.
func TestGet(t *testing.T) {
	a := servertest.Start(t, attestation.Limits{})
	r := load(t, nil, "get", "--server", a.Addr, "--token", a.Admin, "--clients", "8", "--prefill", "60", "--count", "300")
	if r.Ops != 300 || r.OK != 300 || len(r.Errors) != 0 {
		t.Fatalf("get: ops %d, ok %d, errors %v", r.Ops, r.OK, r.Errors)
	}
	g, l := r.ByKind["Get"], r.ByKind["List"]
	if g.N == 0 || l.N == 0 || g.N+l.N != 300 {
		t.Fatalf("by kind: Get %d, List %d", g.N, l.N)
	}
	if n := len(attestations(t, a, r.Project)); n != 60 {
		t.Fatalf("prefill stored %d attestations, want 60", n)
	}
}

// TestVerify: the 5-step chain, layout and policy the tool sets up are allowed at every decision, with each
// key type as the functionary's.
func TestVerify(t *testing.T) {
	a := servertest.Start(t, attestation.Limits{})
	for _, kind := range keyKinds() {
		r := load(t, nil, "verify", "--server", a.Addr, "--token", a.Admin, "--clients", "4", "--count", "40", "--key", kind)
		if r.Ops != 40 || r.OK != 40 || len(r.Errors) != 0 {
			t.Fatalf("verify with a %s functionary: ops %d, ok %d, errors %v", kind, r.Ops, r.OK, r.Errors)
		}
		if n := len(attestations(t, a, r.Project)); n != 5 {
			t.Fatalf("the chain is %d attestations, want 5", n)
		}
	}
}

// TestSoak samples attestd's RSS every second and reports it after a warm-up of 10% of the run.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("a soak lasts at least 10 s")
	}
	a := servertest.Start(t, attestation.Limits{})
	r := load(t, nil, "soak", "--server", a.Addr, "--token", a.Admin, "--clients", "8", "--rate", "20", "--duration", "10s")
	if r.OK != 200 || len(r.Errors) != 0 || r.Loop != "open" {
		t.Fatalf("soak: ok %d, errors %v, %s loop", r.OK, r.Errors, r.Loop)
	}
	if r.RSS == nil || r.RSS.Samples < 10 || r.RSS.StartMiB <= 0 || r.RSS.MaxMiB < r.RSS.StartMiB || r.RSS.MaxMiB < r.RSS.EndMiB {
		t.Fatalf("RSS: %+v", r.RSS)
	}
}

// TestRekor uploads to the real Rekor of scripts/rekor.sh (skipped without it, failed under
// ATTESTD_REQUIRE_REKOR=1).
func TestRekor(t *testing.T) {
	url := rekortest.URL(t)
	r := load(t, nil, "rekor", "--rekor-url", url, "--clients", "4", "--count", "20")
	if r.Ops != 20 || r.OK != 20 || len(r.Errors) != 0 {
		t.Fatalf("rekor: ops %d, ok %d, errors %v", r.Ops, r.OK, r.Errors)
	}
	cpuOf(t, r, "rekor")
}

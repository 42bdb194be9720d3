package server_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/server"
)

// TestDuplicateFilter: new envelopes skip the duplicate query; a resubmission, before and after a restart
// (whose filter is loaded from the database), is answered from its row with its first receipt and adds no leaf;
// the same envelope in another project is that project's new attestation.
func TestDuplicateFilter(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, server.Config{Limits: testLimits(), Registry: reg})
	alpha, beta := e.project("alpha"), e.project("beta")
	s := newSigner(t)
	e.addKey(alpha["admin"], s)
	e.addKey(beta["admin"], s)
	const n = 12
	var envs [][]byte
	first := map[string]uint64{} // id -> log index
	for i := range n {
		env := envelope(inTotoPayloadType, statement("build", fmt.Sprint("out-", i)), s)
		envs = append(envs, env)
		resp, err := e.atts().Submit(as(alpha["attestor"]), &attestdv1.SubmitRequest{Envelope: env})
		if err != nil || !resp.GetReceipt().GetCreated() {
			t.Fatalf("submit %d: %v %v", i, resp.GetReceipt(), err)
		}
		first[resp.GetReceipt().GetId()] = resp.GetReceipt().GetLogIndex()
	}
	if got := gather(t, reg); got["attestd_submit_duplicate_checks_total by=filter"] != n ||
		got["attestd_submit_duplicate_checks_total by=database"] != 0 {
		t.Fatalf("duplicate checks of %d new envelopes: %v by filter, %v by database; want all by filter", n,
			got["attestd_submit_duplicate_checks_total by=filter"], got["attestd_submit_duplicate_checks_total by=database"])
	}
	size, err := e.log.IntegratedSize(ctx)
	if err != nil {
		t.Fatal(err)
	}

	resubmit := func(when string) {
		t.Helper()
		for i, env := range envs {
			resp, err := e.atts().Submit(as(alpha["attestor"]), &attestdv1.SubmitRequest{Envelope: env})
			if err != nil {
				t.Fatalf("%s: resubmit %d: %v", when, i, err)
			}
			r := resp.GetReceipt()
			if r.GetCreated() || first[r.GetId()] != r.GetLogIndex() {
				t.Fatalf("%s: resubmit %d = created %v at %d; want its first receipt, at %d", when, i, r.GetCreated(),
					r.GetLogIndex(), first[r.GetId()])
			}
		}
		if got, err := e.log.IntegratedSize(ctx); err != nil || got != size {
			t.Fatalf("%s: the log grew from %d to %d leaves (%v): a duplicate was appended again", when, size, got, err)
		}
	}
	resubmit("before a restart")
	if got := gather(t, reg); got["attestd_submit_duplicate_checks_total by=database"] != n {
		t.Errorf("%d resubmissions: %v duplicate checks by database", n, got["attestd_submit_duplicate_checks_total by=database"])
	}

	// A restarted server knows the rows only from its load of the table.
	reg2 := prometheus.NewRegistry()
	srv := server.New(server.Config{Store: e.store, Log: e.log, Now: e.clock.Now, VSASigner: e.vsa, Limits: testLimits(),
		Registry: reg2})
	if _, err := srv.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	srv.LoadDuplicateFilter(ctx)
	e.srv, e.conn = srv, serve(t, srv)
	resubmit("after a restart")
	if got := gather(t, reg2); got["attestd_submit_duplicate_checks_total by=database"] != n ||
		got["attestd_submit_duplicate_checks_total by=filter"] != 0 {
		t.Errorf("%d resubmissions after a restart: %v by database, %v by filter; want all by database", n,
			got["attestd_submit_duplicate_checks_total by=database"], got["attestd_submit_duplicate_checks_total by=filter"])
	}

	// The filter's keys are per project.
	resp, err := e.atts().Submit(as(beta["attestor"]), &attestdv1.SubmitRequest{Envelope: envs[0]})
	if err != nil || !resp.GetReceipt().GetCreated() || resp.GetReceipt().GetProject() != "beta" {
		t.Fatalf("alpha's envelope in beta: %v %v; want a new attestation of beta", resp.GetReceipt(), err)
	}
}

// TestDuplicateFilterUnloaded: a server whose filter has not been loaded asks the database every time, and
// still answers a resubmission with its first receipt.
func TestDuplicateFilterUnloaded(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, testLimits())
	alpha := e.project("alpha")
	s := newSigner(t)
	e.addKey(alpha["admin"], s)
	env := envelope(inTotoPayloadType, statement("build", "out"), s)
	resp, err := e.atts().Submit(as(alpha["attestor"]), &attestdv1.SubmitRequest{Envelope: env})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv := server.New(server.Config{Store: e.store, Log: e.log, Now: e.clock.Now, VSASigner: e.vsa, Limits: testLimits(),
		Registry: reg})
	if _, err := srv.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	e.srv, e.conn = srv, serve(t, srv)
	for _, payload := range [][]byte{env, envelope(inTotoPayloadType, statement("build", "other"), s)} {
		if _, err := e.atts().Submit(as(alpha["attestor"]), &attestdv1.SubmitRequest{Envelope: payload}); err != nil {
			t.Fatal(err)
		}
	}
	again, err := e.atts().Submit(as(alpha["attestor"]), &attestdv1.SubmitRequest{Envelope: env})
	if err != nil || again.GetReceipt().GetCreated() || again.GetReceipt().GetLogIndex() != resp.GetReceipt().GetLogIndex() {
		t.Fatalf("resubmission = %v, %v; want the first receipt", again.GetReceipt(), err)
	}
	if got := gather(t, reg); got["attestd_submit_duplicate_checks_total by=database"] != 3 ||
		got["attestd_submit_duplicate_checks_total by=filter"] != 0 {
		t.Errorf("unloaded filter: %v checks by database, %v by filter; want 3 and 0",
			got["attestd_submit_duplicate_checks_total by=database"], got["attestd_submit_duplicate_checks_total by=filter"])
	}
}

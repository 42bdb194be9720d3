package server_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/server"
)

// TestSubmitMetrics: a new submission is counted as created and timed in both shared stages (log, store); the
// same bytes again are counted as existing and wait in neither.
func TestSubmitMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, server.Config{Limits: testLimits(), Registry: reg})
	a := e.project("alpha")
	s := newSigner(t)
	e.addKey(a["admin"], s)
	env := envelope(inTotoPayloadType, statement("build", "out.txt"), s)
	for range 2 {
		if _, err := e.atts().Submit(as(a["attestor"]), &attestdv1.SubmitRequest{Envelope: env}); err != nil {
			t.Fatal(err)
		}
	}
	got := gather(t, reg)
	for key, want := range map[string]float64{
		"attestd_attestations_submitted_total result=created":  1,
		"attestd_attestations_submitted_total result=existing": 1,
		"attestd_submit_stage_duration_seconds stage=log":      1,
		"attestd_submit_stage_duration_seconds stage=store":    1,
		// The first is new, and the filter knows it; the second is in the filter, so the database answers.
		"attestd_submit_duplicate_checks_total by=filter":   1,
		"attestd_submit_duplicate_checks_total by=database": 1,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v", key, got[key], want)
		}
	}
}

// gather returns the counters and the histograms' sample counts of reg by name and labels ("name l=v ...").
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				got[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return got
}

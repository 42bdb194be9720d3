package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/server/servertest"
)

// load runs attestd-load with args (--json and --quiet added) and the hooks of e, and returns its report.
func load(t *testing.T, e *env, args ...string) *report {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if e == nil {
		e = &env{}
	}
	e.stdout, e.stderr = &stdout, &stderr
	if err := execute(t.Context(), e, append(args, "--json", "--quiet")); err != nil {
		t.Fatalf("attestd-load %v: %v\n%s", args, err, stderr.String())
	}
	var r report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
	return &r
}

// attestations returns the attestations of project, through the store (independently of List).
func attestations(t *testing.T, a *servertest.Attestd, project string) []store.Attestation {
	t.Helper()
	p, err := a.Store.ProjectByName(t.Context(), project)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Attestation
	f := store.Filter{Limit: store.MaxPageSize}
	for {
		page, err := a.Store.ListAttestations(t.Context(), p.ID, f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < store.MaxPageSize {
			return out
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
}

// cpuOf returns the report's CPU figure of group name.
func cpuOf(t *testing.T, r *report, name string) cpuFigure {
	t.Helper()
	for _, c := range r.CPU {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no CPU figure for %s in %+v", name, r.CPU)
	return cpuFigure{}
}

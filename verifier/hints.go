package verifier

import (
	"fmt"
	"slices"
)

// This file holds how attestd turns the engine's decision into its answer, shared by the server's Verify and
// the offline verifier of package bundle so that both give exactly the same answer from the same candidates.

// MaxNotCountedReasons bounds the reasons of an answer that name candidates that do not count: the rest are
// summarized in one more, so that a denial stays readable (and small) with thousands of candidates.
const MaxNotCountedReasons = 20

// VerifyWithHints runs Verify on in with the hint candidates (the ids in hints: attestations connected to the
// artifact by nothing but a step name) left out first: a decision that they allow stands. A denial is decided
// again with them, for its reasons, which then say which steps were judged from hints only; if the hints would
// turn the denial into an allowed decision, the first denial stands: hints never make an artifact allowed.
func VerifyWithHints(in Input, hints []string) (Decision, error) {
	if len(hints) == 0 {
		return Verify(in)
	}
	isHint := make(map[string]bool, len(hints))
	for _, id := range hints {
		isHint[id] = true
	}
	all := in.Attestations
	in.Attestations = slices.DeleteFunc(slices.Clone(all), func(a Attestation) bool { return isHint[a.ID] })
	if len(in.Attestations) == len(all) { // no hint survived the caller's inclusion and signature checks
		return Verify(in)
	}
	first, err := Verify(in)
	if err != nil || first.Allowed {
		return first, err
	}
	in.Attestations = all
	second, err := Verify(in)
	if err != nil || second.Allowed {
		return first, nil
	}
	// Say which steps were judged from hints only: their reasons compare attestations that nothing ties to
	// this artifact, which may be another artifact's run of the step.
	related := map[string]bool{}
	for _, a := range all {
		if !isHint[a.ID] {
			related[a.Step] = true
		}
	}
	var notes []string
	for i, st := range second.Steps {
		if related[st.Name] || len(first.Steps) <= i {
			continue
		}
		hinted := false
		for _, a := range all {
			hinted = hinted || (isHint[a.ID] && a.Step == st.Name)
		}
		if !hinted {
			continue
		}
		note := fmt.Sprintf("step %q: none of its attestations is connected to this artifact by digests; its newest ones were compared instead", st.Name)
		second.Steps[i].Reasons = sortedUnique(append(slices.Clone(st.Reasons), note))
		notes = append(notes, note)
	}
	second.Reasons = sortedUnique(append(slices.Clone(second.Reasons), notes...))
	return second, nil
}

// AnswerReasons returns the reasons of the answer to a decision d whose caller found the candidates in
// notCounted ("attestation ID does not count: ...") unusable: d's own reasons, and for a denial the
// notCounted ones too (at most MaxNotCountedReasons, then a summary), sorted and without duplicates. An
// allowed decision has none: candidates that did not count do not matter to it.
func AnswerReasons(d Decision, notCounted []string) []string {
	if d.Allowed || len(notCounted) == 0 {
		return d.Reasons
	}
	out := append(slices.Clone(d.Reasons), capReasons(notCounted)...)
	slices.Sort(out)
	return slices.Compact(out)
}

// capReasons returns reasons if there are at most MaxNotCountedReasons, else the first of them in sorted order
// and a summary of the others.
func capReasons(reasons []string) []string {
	if len(reasons) <= MaxNotCountedReasons {
		return reasons
	}
	sorted := slices.Sorted(slices.Values(reasons))
	return append(sorted[:MaxNotCountedReasons:MaxNotCountedReasons],
		fmt.Sprintf("and %d more attestations do not count for such reasons", len(reasons)-MaxNotCountedReasons))
}

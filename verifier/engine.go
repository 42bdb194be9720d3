package verifier

import (
	"fmt"
	"slices"
	"time"

	"github.com/attestd/attestd/attestation"
)

// Input is everything one decision depends on. Verify reads nothing else: not
// the clock, not the disk, not the network.
type Input struct {
	Layout *Layout
	// Attestations are the candidates gathered for the artifact, in any
	// order; each has had its signatures and log inclusion checked.
	Attestations []Attestation
	// Keys are the project's functionary keys with their validity windows,
	// by key id. A signer with no entry here does not count.
	Keys []Key
	// Now is the time of the decision, for the layout's expiry.
	Now time.Time
	// Artifact is what is being verified; it must be a product of the last
	// step of the layout.
	Artifact Artifact
}

// Attestation is one candidate attestation, as the caller read it.
type Attestation struct {
	ID            string                       // for reporting (Decision.Steps[i].Used)
	Step          string                       // the link name
	Signers       []string                     // ids of the keys whose signatures verified
	PredicateType string                       // attestation.PredicateLinkV03, "" for a classic link, ...
	IntegratedAt  time.Time                    // when the transparency log integrated it; zero: not logged
	Materials     map[string]map[string]string // artifact name -> digest set
	Products      map[string]map[string]string
}

// Key is the validity window of a functionary key. Zero times are unbounded.
type Key struct {
	ID        string
	NotBefore time.Time // not valid before
	Expires   time.Time // not valid from this time on
	RevokedAt time.Time // not valid from this time on
}

// Artifact is the thing being verified: a name for reports and its digests
// (algorithm -> value).
type Artifact struct {
	Name   string
	Digest map[string]string
}

// Decision is the answer of Verify.
type Decision struct {
	Allowed       bool
	LayoutExpires time.Time
	Steps         []StepResult // in layout order
	// Reasons lists every reason for a denial, sorted; empty when Allowed.
	// It includes the reasons of Steps.
	Reasons []string
}

// StepResult says how one step was judged.
type StepResult struct {
	Name    string
	Used    []string // ids of the attestations that met the threshold, sorted
	Reasons []string // why this step failed, sorted; empty if it passed
}

// Verify decides whether in.Artifact went through the pipeline in.Layout
// requires. The error is non-nil only when no decision could be made: a
// missing layout or artifact digest (*attestation.InputError), or input over
// one of the bounds (*attestation.LimitError). A denial is not an error: it is
// a Decision with Allowed false and its reasons.
//
// The result depends only on the content of in, not on the order of
// Attestations, Keys, signers or map iteration.
func Verify(in Input) (Decision, error) {
	if in.Layout == nil {
		return Decision{}, inputErr("layout", "is missing")
	}
	if len(in.Artifact.Digest) == 0 {
		return Decision{}, inputErr("artifact.digest", "is missing")
	}
	if err := checkLimit(LimitSteps, "layout steps", len(in.Layout.Steps), MaxSteps); err != nil {
		return Decision{}, err
	}
	if err := checkLimit(LimitAttestations, "attestations", len(in.Attestations), MaxAttestations); err != nil {
		return Decision{}, err
	}
	for i := range in.Attestations {
		a := &in.Attestations[i]
		if err := checkLimit(LimitArtifacts, fmt.Sprintf("materials of attestation %s", quote(a.ID)), len(a.Materials), MaxArtifacts); err != nil {
			return Decision{}, err
		}
		if err := checkLimit(LimitArtifacts, fmt.Sprintf("products of attestation %s", quote(a.ID)), len(a.Products), MaxArtifacts); err != nil {
			return Decision{}, err
		}
	}
	l := in.Layout
	d := Decision{LayoutExpires: l.Expires, Steps: make([]StepResult, len(l.Steps))}
	var global []string
	if !in.Now.Before(l.Expires) {
		global = append(global, fmt.Sprintf("the layout expired on %s", l.Expires.UTC().Format(time.RFC3339)))
	}

	keys := keyWindows(in.Keys)
	byStep := map[string][]*Attestation{}
	for i := range in.Attestations {
		a := &in.Attestations[i]
		byStep[a.Step] = append(byStep[a.Step], a)
	}
	groups := make([][]*group, len(l.Steps))
	last := len(l.Steps) - 1
	for i := range l.Steps {
		s := &l.Steps[i]
		d.Steps[i].Name = s.Name
		gs, reasons := stepGroups(l, s, byStep[s.Name], keys)
		if i == last && len(gs) > 0 {
			var withArtifact []*group
			for _, g := range gs {
				if g.hasProduct(in.Artifact.Digest) {
					withArtifact = append(withArtifact, g)
				}
			}
			if len(withArtifact) == 0 {
				reasons = append(reasons, artifactNotProduct(in.Artifact, s.Name, gs[0]))
			}
			gs = withArtifact
		}
		groups[i] = gs
		d.Steps[i].Reasons = reasons
	}

	chosen, ruleReasons, err := chooseGroups(l, groups)
	if err != nil {
		return Decision{}, err
	}
	for i := range l.Steps {
		if g := chosen[i]; g != nil {
			d.Steps[i].Used = g.ids()
		}
		d.Steps[i].Reasons = sortedUnique(append(d.Steps[i].Reasons, ruleReasons[i]...))
		global = append(global, d.Steps[i].Reasons...)
	}
	d.Reasons = sortedUnique(global)
	d.Allowed = len(d.Reasons) == 0
	return d, nil
}

// artifactNotProduct explains why the artifact is not a product of the last
// step, naming a product of the same name if there is one.
func artifactNotProduct(a Artifact, step string, g *group) string {
	want := digestString(a.Digest)
	if a.Name != "" {
		if got, ok := g.link.Products[a.Name]; ok {
			return fmt.Sprintf("the artifact %s has %s, but the product %s of the last step %s has %s", quote(a.Name), want, quote(a.Name), quote(step), digestString(got))
		}
	}
	return fmt.Sprintf("the artifact's digest %s is not a product of the last step %s", want, quote(step))
}

// digestString writes a digest set as "alg:value", sorted, comma-separated.
func digestString(d map[string]string) string {
	algs := make([]string, 0, len(d))
	for alg := range d {
		algs = append(algs, alg)
	}
	slices.Sort(algs)
	s := ""
	for i, alg := range algs {
		if i > 0 {
			s += ","
		}
		s += alg + ":" + d[alg]
	}
	return s
}

// digestMatches reports whether a product digest set is the artifact's: they
// share at least one algorithm and agree on every shared one.
func digestMatches(artifact, product map[string]string) bool {
	shared := false
	for alg, v := range artifact {
		if pv, ok := product[alg]; ok {
			if pv != v {
				return false
			}
			shared = true
		}
	}
	return shared
}

func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// checkNames reports the first non-canonical artifact name of a, or "".
func checkNames(a *Attestation) string {
	var bad []string // collected, then sorted: the message must not depend on map order
	for _, m := range []map[string]map[string]string{a.Materials, a.Products} {
		for name := range m {
			if err := attestation.CheckName(name, attestation.Limits{}); err != nil {
				bad = append(bad, err.Error())
			}
		}
	}
	if len(bad) == 0 {
		return ""
	}
	slices.Sort(bad)
	return bad[0]
}

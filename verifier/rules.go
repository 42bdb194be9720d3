package verifier

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// chooseGroups picks one agreeing group per step and applies the artifact
// rules. Usually each step has one group; when a step has several (older
// runs, or disagreeing functionaries each meeting the threshold), the
// combinations are tried in order, best groups first, and the first one
// whose rules all hold wins. At most MaxGroupCombination are tried; if none
// holds, the reasons of the first are reported.
func chooseGroups(l *Layout, groups [][]*group) ([]*group, [][]string, error) {
	n := len(l.Steps)
	idx := make([]int, n)
	work := 0
	var first []*group
	var firstReasons [][]string
	for tried := 0; tried < MaxGroupCombination; tried++ {
		chosen := make([]*group, n)
		for i := range groups {
			if len(groups[i]) > 0 {
				chosen[i] = groups[i][idx[i]]
			}
		}
		reasons, failed, err := applyAll(l, chosen, &work)
		if err != nil {
			return nil, nil, err
		}
		if !failed {
			return chosen, reasons, nil
		}
		if first == nil {
			first, firstReasons = chosen, reasons
		}
		if !advance(idx, groups) {
			return first, firstReasons, nil
		}
	}
	firstReasons[n-1] = append(firstReasons[n-1], fmt.Sprintf("only the first %d combinations of agreeing attestations were tried", MaxGroupCombination))
	return first, firstReasons, nil
}

// advance moves idx to the next combination, last step fastest.
func advance(idx []int, groups [][]*group) bool {
	for i := len(idx) - 1; i >= 0; i-- {
		if idx[i]+1 < len(groups[i]) {
			idx[i]++
			return true
		}
		idx[i] = 0
	}
	return false
}

// applyAll applies the rules of every step that has a chosen group.
func applyAll(l *Layout, chosen []*group, work *int) ([][]string, bool, error) {
	links := map[string]*Attestation{}
	for i, g := range chosen {
		if g != nil {
			links[l.Steps[i].Name] = g.link
		}
	}
	reasons := make([][]string, len(l.Steps))
	failed := false
	for i := range l.Steps {
		s := &l.Steps[i]
		link := links[s.Name]
		if link == nil {
			continue // the step already failed its threshold
		}
		for _, kind := range []string{"materials", "products"} {
			r, err := applyRules(s, kind, link, links, work)
			if err != nil {
				return nil, false, err
			}
			if len(r) > 0 {
				failed = true
				reasons[i] = append(reasons[i], r...)
			}
		}
	}
	return reasons, failed, nil
}

// maxReported bounds the artifacts named in the reasons of one rule.
const maxReported = 10

// applyRules applies one list of rules of step s to its link's materials or
// products, with in-toto's queue: every artifact starts in the queue; MATCH,
// ALLOW, CREATE, DELETE and MODIFY remove what they match; DISALLOW fails if
// it matches anything still queued; REQUIRE fails if its name is not queued.
// The first failing rule ends the list, as in in-toto.
func applyRules(s *Step, kind string, link *Attestation, links map[string]*Attestation, work *int) ([]string, error) {
	rules, arts := s.Materials, link.Materials
	singular := "material"
	if kind == "products" {
		rules, arts, singular = s.Products, link.Products, "product"
	}
	names := slices.Sorted(maps.Keys(arts))
	queued := make([]bool, len(names))
	for i := range queued {
		queued[i] = true
	}
	why := map[string]string{} // name -> why a MATCH rule did not consume it
	for _, r := range rules {
		for i, name := range names {
			if !queued[i] {
				continue
			}
			consumed, note := applyRule(r, s.Name, singular, name, link, links, work)
			if note != "" && why[name] == "" {
				why[name] = note
			}
			switch {
			case r.Type == RuleDisallow && consumed:
				return disallowed(s.Name, singular, r, names, queued, i, why, work), checkWork(*work)
			case consumed:
				queued[i] = false
			}
		}
		if r.Type == RuleRequire {
			at, found := slices.BinarySearch(names, r.Name)
			if !found || !queued[at] {
				return []string{fmt.Sprintf("step %s: the required %s %s is missing (rule %s)", quote(s.Name), singular, quote(r.Name), quote(r.String()))}, nil
			}
		}
		if err := checkWork(*work); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// applyRule reports whether r consumes (for DISALLOW: matches) name, and
// for MATCH why it did not when the pattern matched.
func applyRule(r *Rule, step, singular, name string, link *Attestation, links map[string]*Attestation, work *int) (bool, string) {
	switch r.Type {
	case RuleRequire:
		return false, ""
	case RuleMatch:
		return matchRule(r, step, singular, name, link, links, work)
	}
	if !r.Pattern.Match(name, work) {
		return false, ""
	}
	_, inM := link.Materials[name]
	_, inP := link.Products[name]
	switch r.Type {
	case RuleCreate:
		return inP && !inM, ""
	case RuleDelete:
		return inM && !inP, ""
	case RuleModify:
		return inM && inP && !maps.Equal(link.Materials[name], link.Products[name]), ""
	}
	return true, "" // ALLOW, DISALLOW
}

// matchRule applies MATCH: name (with the source prefix removed) must match
// the pattern, and the destination step's artifact at the destination prefix
// plus that base must exist with an identical digest set.
func matchRule(r *Rule, step, singular, name string, link *Attestation, links map[string]*Attestation, work *int) (bool, string) {
	if r.SrcPrefix != "" && !strings.HasPrefix(name, r.SrcPrefix) {
		return false, ""
	}
	base := strings.TrimPrefix(name, r.SrcPrefix)
	if !r.Pattern.Match(base, work) {
		return false, ""
	}
	dstName := path.Clean(path.Join(r.DstPrefix, base))
	dstSingular := strings.TrimSuffix(r.DstType, "s")
	dst := links[r.DstStep]
	if dst == nil {
		return false, fmt.Sprintf("%s %s of %s cannot be matched: step %s has no accepted attestation", singular, quote(name), quote(step), quote(r.DstStep))
	}
	arts := dst.Materials
	if r.DstType == "products" {
		arts = dst.Products
	}
	d, ok := arts[dstName]
	if !ok {
		return false, fmt.Sprintf("%s %s of %s has no matching %s %s in %s", singular, quote(name), quote(step), dstSingular, quote(dstName), quote(r.DstStep))
	}
	src := link.Materials[name]
	if singular == "product" {
		src = link.Products[name]
	}
	if !maps.Equal(d, src) {
		return false, fmt.Sprintf("%s %s of %s does not match %s %s of %s", dstSingular, quote(dstName), quote(r.DstStep), singular, quote(name), quote(step))
	}
	return true, ""
}

// disallowed builds the reasons of a failing DISALLOW rule: every queued
// artifact it matches, from index first on, with why it was not consumed.
func disallowed(step, singular string, r *Rule, names []string, queued []bool, first int, why map[string]string, work *int) []string {
	var out []string
	extra := 0
	for i := first; i < len(names); i++ {
		if !queued[i] || !r.Pattern.Match(names[i], work) {
			continue
		}
		if len(out) == maxReported {
			extra++
			continue
		}
		msg := fmt.Sprintf("step %s: %s %s is not allowed (rule %s)", quote(step), singular, quote(names[i]), quote(r.String()))
		if w := why[names[i]]; w != "" {
			msg = fmt.Sprintf("step %s: %s (rule %s)", quote(step), w, quote(r.String()))
		}
		out = append(out, msg)
	}
	if extra > 0 {
		out = append(out, fmt.Sprintf("step %s: %d more %ss are not allowed (rule %s)", quote(step), extra, singular, quote(r.String())))
	}
	return out
}

func checkWork(work int) error {
	return checkLimit(LimitMatchWork, "pattern matching steps", work, maxMatchWork)
}

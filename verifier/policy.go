package verifier

import (
	"errors"
	"slices"
	"strings"

	"github.com/attestd/attestd/attestation"
)

// Kinds of artifact a policy covers.
const (
	KindImage   = "image"   // a container image, named by its repository: registry.example.com/team/app
	KindFile    = "file"    // a file, named by its canonical path (attestation.CheckName): etc/app.conf
	KindPackage = "package" // a package, named by its name or its package URL: pkg:deb/acme/app
)

// Kinds lists the kinds of artifact, in the order help texts show them.
var Kinds = []string{KindImage, KindFile, KindPackage}

// Policy says that the artifacts of one Kind whose names Match (a pattern, see CompilePattern) need the layout
// named Layout.
type Policy struct {
	Name   string
	Kind   string
	Match  string
	Layout string
}

// CheckPolicyPattern checks and compiles the pattern of a policy of kind. The syntax is CompilePattern's, with
// what each kind's names allow:
//
//   - every kind: the rules of a canonical name (attestation.CheckName): valid UTF-8 in NFC, no control
//     character, no backslash (so no escapes either), no leading "/", no "." or ".." segment;
//   - image: a repository as go-containerregistry names it, without tag or digest: no '@', no ':' except for
//     a port in the registry (the part before the first '/'), no empty segment and no upper-case letter
//     (repositories are lower case, so such a pattern could never match): registry.example.com/team/*,
//     localhost:5000/app, index.docker.io/library/*;
//   - file: a path glob: etc/*.conf, dist/app-*.tar.gz;
//   - package: a package name or a package URL: libssl*, pkg:deb/acme/*; a purl pattern names its type
//     (something after "pkg:").
//
// An unknown kind or a malformed pattern is an *attestation.InputError (field "kind" or "match"); a pattern
// longer than MaxPatternBytes is CompilePattern's *attestation.LimitError.
func CheckPolicyPattern(kind, pattern string) (*Pattern, error) {
	if !slices.Contains(Kinds, kind) {
		return nil, inputErr("kind", "%s: want %s", quote(kind), strings.Join(Kinds, ", "))
	}
	p, err := CompilePattern(pattern)
	if err != nil {
		if errors.Is(err, ErrBadPattern) {
			return nil, inputErr("match", "%s: %v", quote(pattern), err)
		}
		return nil, err
	}
	if err := attestation.CheckName(pattern, attestation.Limits{}); err != nil {
		var in *attestation.InputError
		if errors.As(err, &in) {
			return nil, inputErr("match", "%s", in.Reason)
		}
		return nil, err
	}
	switch kind {
	case KindImage:
		if reason := imagePatternProblem(pattern); reason != "" {
			return nil, inputErr("match", "%s %s", quote(pattern), reason)
		}
	case KindPackage:
		if pattern == "pkg:" {
			return nil, inputErr("match", "%s names no package type: write pkg:TYPE/..., or pkg:* for every package URL", quote(pattern))
		}
	}
	return p, nil
}

// imagePatternProblem returns why pattern is not an image repository pattern, or "".
func imagePatternProblem(pattern string) string {
	if strings.Contains(pattern, "@") {
		return "has a digest: a policy matches repositories, without tag or digest"
	}
	host, path, found := strings.Cut(pattern, "/")
	if strings.Contains(path, ":") || (!found && strings.Contains(host, ":")) {
		return "has a tag: a policy matches repositories, without tag or digest"
	}
	if strings.Contains(pattern, "//") || strings.HasSuffix(pattern, "/") {
		return "has an empty path segment (a URL is not a repository: write registry.example.com/team/*)"
	}
	if strings.ContainsFunc(pattern, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
		return "has upper-case letters: image repositories are lower case"
	}
	return ""
}

// literalPrefix is the number of tokens before the first wildcard: the bytes every name it matches starts with.
func (p *Pattern) literalPrefix() int {
	for i, t := range p.toks {
		if t.kind != 'c' {
			return i
		}
	}
	return len(p.toks)
}

// SelectPolicy returns the policy that covers the artifact of kind named name (for an image its repository,
// without tag or digest; for a file its canonical path; for a package its name or package URL), and true.
//
// Of the policies of that kind whose pattern matches all of name, the most specific one wins: the one with the
// longest literal prefix (the part of the pattern before its first '*', '?' or '['), so that
// registry.example.com/team/app-* wins over registry.example.com/team/* and an exact pattern over any glob;
// among those of equal prefix length, the first by name in byte order. The answer depends only on the set of
// policies, not on their order in the slice. A policy whose pattern does not compile covers nothing.
//
// When no policy covers the artifact it returns the zero Policy and false: the artifact has no required layout,
// and Verify must deny it (an artifact no policy covers is never allowed).
//
// It compiles every pattern of the kind on each call; a caller that selects again and again from the same
// policies keeps a PolicySet instead.
func SelectPolicy(policies []Policy, kind, name string) (Policy, bool) {
	return NewPolicySet(policies).Select(kind, name)
}

// PolicySet is a set of policies with their patterns compiled and put in the order SelectPolicy tries them,
// for selecting from the same policies many times. It is not changed after NewPolicySet, so any number of
// goroutines may call Select at once.
type PolicySet struct {
	cands []policyCandidate
}

// policyCandidate is a policy whose pattern compiled, with the pattern's literal prefix in bytes (0 when it
// holds an escape: then the prefix test is left to the matcher).
type policyCandidate struct {
	policy Policy
	pat    *Pattern
	prefix int // literal tokens, the order's first key
	lit    string
}

// NewPolicySet compiles the policies' patterns; a policy whose pattern does not compile is left out (it covers
// nothing). The slice is not kept.
func NewPolicySet(policies []Policy) *PolicySet {
	set := &PolicySet{}
	for _, pol := range policies {
		pat, err := CompilePattern(pol.Match)
		if err != nil {
			continue
		}
		n := pat.literalPrefix()
		set.cands = append(set.cands, policyCandidate{policy: pol, pat: pat, prefix: n, lit: pol.Match[:literalBytes(pol.Match, n)]})
	}
	slices.SortFunc(set.cands, func(a, b policyCandidate) int {
		if a.prefix != b.prefix {
			return b.prefix - a.prefix
		}
		if c := strings.Compare(a.policy.Name, b.policy.Name); c != 0 {
			return c
		}
		// Only for a slice with one name twice: still independent of its order.
		if c := strings.Compare(a.policy.Match, b.policy.Match); c != 0 {
			return c
		}
		if c := strings.Compare(a.policy.Layout, b.policy.Layout); c != 0 {
			return c
		}
		return strings.Compare(a.policy.Kind, b.policy.Kind)
	})
	return set
}

// Select returns the policy of the set that covers the artifact of kind named name, and true; see
// SelectPolicy.
func (set *PolicySet) Select(kind, name string) (Policy, bool) {
	for _, c := range set.cands {
		if c.policy.Kind != kind || !strings.HasPrefix(name, c.lit) {
			continue
		}
		if c.pat.Match(name, nil) {
			return c.policy, true
		}
	}
	return Policy{}, false
}

// literalBytes is the length in bytes of the first n literal tokens of pattern, or 0 if they contain an escape
// (then the prefix test is left to the matcher).
func literalBytes(pattern string, n int) int {
	if strings.Contains(pattern[:min(n, len(pattern))], `\`) {
		return 0
	}
	return n
}

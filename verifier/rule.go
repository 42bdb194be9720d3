package verifier

import (
	"fmt"
	"path"
	"strings"

	"github.com/attestd/attestd/attestation"
)

// RuleType is the kind of an artifact rule.
type RuleType string

// The rule types of the in-toto specification.
const (
	RuleMatch    RuleType = "MATCH"
	RuleAllow    RuleType = "ALLOW"
	RuleDisallow RuleType = "DISALLOW"
	RuleRequire  RuleType = "REQUIRE"
	RuleCreate   RuleType = "CREATE"
	RuleDelete   RuleType = "DELETE"
	RuleModify   RuleType = "MODIFY"
)

// Rule is one parsed artifact rule:
//
//	MATCH <pattern> [IN <src-prefix>] WITH (MATERIALS|PRODUCTS) [IN <dst-prefix>] FROM <step>
//	ALLOW | DISALLOW | CREATE | DELETE | MODIFY <pattern>
//	REQUIRE <name>
//
// Keywords are case-insensitive, as in in-toto. The pattern is cleaned with
// path.Clean before it is compiled, as in-toto-golang does ("./*.go" is
// "*.go"); REQUIRE takes a literal, canonical artifact name, not a pattern.
type Rule struct {
	Type    RuleType
	Pattern *Pattern // nil for REQUIRE
	Name    string   // REQUIRE: the artifact that must be present
	// MATCH only.
	SrcPrefix string // "" or a cleaned prefix ending in "/"
	DstPrefix string // "" or a cleaned prefix ending in "/"
	DstType   string // "materials" or "products"
	DstStep   string

	words []string // the rule as written, for reasons
}

// String returns the rule as written, words separated by spaces.
func (r *Rule) String() string { return strings.Join(r.words, " ") }

// ParseRule parses one rule, given as in a layout: a list of words. Errors
// are *attestation.InputError with Field "rule" (or *attestation.LimitError for
// a pattern over MaxPatternBytes).
func ParseRule(words []string) (*Rule, error) {
	if len(words) == 0 {
		return nil, inputErr("rule", "is empty")
	}
	for _, w := range words {
		if err := checkLimit(LimitPatternBytes, "rule word bytes", len(w), MaxPatternBytes); err != nil {
			return nil, err
		}
	}
	r := &Rule{Type: RuleType(strings.ToUpper(words[0])), words: append([]string(nil), words...)}
	switch r.Type {
	case RuleAllow, RuleDisallow, RuleCreate, RuleDelete, RuleModify:
		if len(words) != 2 {
			return nil, ruleErr(words, "%s takes exactly one pattern", r.Type)
		}
		p, err := compileRulePattern(words, words[1])
		if err != nil {
			return nil, err
		}
		r.Pattern = p
	case RuleRequire:
		if len(words) != 2 {
			return nil, ruleErr(words, "REQUIRE takes exactly one artifact name")
		}
		if err := attestation.CheckName(words[1], attestation.Limits{}); err != nil {
			return nil, ruleErr(words, "REQUIRE needs a canonical artifact name: %v", err)
		}
		r.Name = words[1]
	case RuleMatch:
		return parseMatch(r, words)
	default:
		return nil, ruleErr(words, "unknown rule type %s; expected MATCH, ALLOW, DISALLOW, REQUIRE, CREATE, DELETE or MODIFY", quote(words[0]))
	}
	return r, nil
}

// parseMatch reads the four spellings of MATCH, by length and keywords.
func parseMatch(r *Rule, words []string) (*Rule, error) {
	kw := func(i int, want string) bool { return i < len(words) && strings.EqualFold(words[i], want) }
	var dstType, src, dst, step string
	switch {
	case len(words) == 10 && kw(2, "IN") && kw(4, "WITH") && kw(6, "IN") && kw(8, "FROM"):
		src, dstType, dst, step = words[3], words[5], words[7], words[9]
	case len(words) == 8 && kw(2, "IN") && kw(4, "WITH") && kw(6, "FROM"):
		src, dstType, step = words[3], words[5], words[7]
	case len(words) == 8 && kw(2, "WITH") && kw(4, "IN") && kw(6, "FROM"):
		dstType, dst, step = words[3], words[5], words[7]
	case len(words) == 6 && kw(2, "WITH") && kw(4, "FROM"):
		dstType, step = words[3], words[5]
	default:
		return nil, ruleErr(words, "MATCH must be MATCH <pattern> [IN <prefix>] WITH (MATERIALS|PRODUCTS) [IN <prefix>] FROM <step>")
	}
	switch strings.ToLower(dstType) {
	case "materials", "products":
		r.DstType = strings.ToLower(dstType)
	default:
		return nil, ruleErr(words, "MATCH ... WITH takes MATERIALS or PRODUCTS, not %s", quote(dstType))
	}
	if step == "" {
		return nil, ruleErr(words, "MATCH ... FROM needs a step name")
	}
	p, err := compileRulePattern(words, words[1])
	if err != nil {
		return nil, err
	}
	r.Pattern, r.DstStep = p, step
	if r.SrcPrefix, err = prefix(words, src); err != nil {
		return nil, err
	}
	if r.DstPrefix, err = prefix(words, dst); err != nil {
		return nil, err
	}
	return r, nil
}

// prefix cleans an IN prefix and gives it a trailing "/", as in-toto-golang
// does; a prefix that climbs out of the build directory is refused.
func prefix(words []string, p string) (string, error) {
	if p == "" {
		return "", nil
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") || strings.HasPrefix(c, "/") {
		return "", ruleErr(words, "IN prefix %s leaves the build directory", quote(p))
	}
	if c == "." {
		return "", nil
	}
	return c + "/", nil
}

func compileRulePattern(words []string, pattern string) (*Pattern, error) {
	if pattern == "" {
		return nil, ruleErr(words, "the pattern is empty")
	}
	p, err := CompilePattern(path.Clean(pattern))
	if err != nil {
		if _, ok := err.(*patternError); ok {
			return nil, ruleErr(words, "%v", err)
		}
		return nil, err
	}
	p.src = pattern
	return p, nil
}

func ruleErr(words []string, format string, args ...any) error {
	return inputErr("rule", "%s: %s", quote(strings.Join(words, " ")), fmt.Sprintf(format, args...))
}

package verifier

import (
	"fmt"
	"strconv"

	"github.com/attestd/attestd/attestation"
)

// Bounds on what one layout or one decision may contain. Each keeps the work
// of Verify proportional to what a real supply chain needs.
const (
	MaxLayoutBytes      = 4 << 20 // the layout JSON
	MaxSteps            = 1000    // steps in a layout
	MaxKeys             = 1000    // keys in a layout, and pubkeys of one step
	MaxRules            = 256     // rules in one expected_materials or expected_products list
	MaxPatternBytes     = 1024    // one rule pattern, prefix or name
	MaxArtifacts        = 100000  // materials, or products, of one attestation
	MaxAttestations     = 10000   // candidate attestations in one Input
	MaxJSONDepth        = 32      // nesting in the layout JSON
	MaxGroupCombination = 64      // alternative groups of links tried per decision
	// maxMatchWork bounds the pattern matching steps of one decision.
	maxMatchWork = 200_000_000
)

// Names of the bounds, as they appear in attestation.LimitError.Limit.
const (
	LimitLayoutBytes  = "max-layout-bytes"
	LimitSteps        = "max-steps"
	LimitKeys         = "max-layout-keys"
	LimitRules        = "max-rules"
	LimitPatternBytes = "max-pattern-bytes"
	LimitArtifacts    = "max-artifacts"
	LimitAttestations = "max-attestations"
	LimitJSONDepth    = "max-json-depth"
	LimitMatchWork    = "max-match-work"
)

func checkLimit(limit, what string, got, max int) error {
	if got > max {
		return &attestation.LimitError{Limit: limit, Max: max, Got: got, What: what}
	}
	return nil
}

// inputErr is shorthand for a formatted *attestation.InputError.
func inputErr(field, format string, args ...any) error {
	return &attestation.InputError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// quote quotes s for a message, shortened so that a pathological input
// cannot make the message huge.
func quote(s string) string {
	const max = 80
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

// shortID abbreviates a key id for a reason: "ab12cd34ef56...".
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12] + "..."
	}
	return id
}

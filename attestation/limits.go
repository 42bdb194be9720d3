package attestation

import "fmt"

// Limits bounds what one submission may contain. Every parser in this package
// checks them before it does work proportional to the input, so that an
// oversized or pathological submission costs little and is refused with a
// LimitError that names the limit.
//
// A zero or negative field means "use the default": the zero Limits value is
// the same as DefaultLimits().
type Limits struct {
	MaxEnvelopeBytes int // size of the envelope (and of a statement payload); default 4 MiB
	MaxSignatures    int // signatures in one envelope; default 16
	MaxSubjects      int // subjects (products of a link) in one statement; default 10,000
	MaxMaterials     int // materials (resolved dependencies) in one statement; default 10,000
	MaxJSONDepth     int // nesting of objects and arrays, in the envelope and in the payload; default 32
	MaxNameBytes     int // length of an artifact name, a URI or a step name; default 4096
}

// The flag-style names of the limits, as they appear in LimitError.Limit.
const (
	LimitEnvelopeBytes = "max-envelope-bytes"
	LimitSignatures    = "max-signatures"
	LimitSubjects      = "max-subjects"
	LimitMaterials     = "max-materials"
	LimitJSONDepth     = "max-json-depth"
	LimitNameBytes     = "max-name-bytes"
)

// DefaultLimits returns the limits attestd applies unless configured otherwise.
func DefaultLimits() Limits {
	return Limits{
		MaxEnvelopeBytes: 4 << 20,
		MaxSignatures:    16,
		MaxSubjects:      10000,
		MaxMaterials:     10000,
		MaxJSONDepth:     32,
		MaxNameBytes:     4096,
	}
}

// withDefaults replaces every unset (zero or negative) field by its default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxEnvelopeBytes, d.MaxEnvelopeBytes)
	set(&l.MaxSignatures, d.MaxSignatures)
	set(&l.MaxSubjects, d.MaxSubjects)
	set(&l.MaxMaterials, d.MaxMaterials)
	set(&l.MaxJSONDepth, d.MaxJSONDepth)
	set(&l.MaxNameBytes, d.MaxNameBytes)
	return l
}

// LimitError reports input that is over one of the Limits. It is not a
// malformed input: the same submission may be accepted by a server configured
// with higher limits. attestd maps it to RESOURCE_EXHAUSTED.
type LimitError struct {
	Limit string // flag-style name of the limit, one of the Limit* constants
	Max   int    // the limit in force
	Got   int    // what the input had; for max-json-depth, the depth at which parsing stopped (Max+1)
	What  string // what was counted, e.g. "subjects" or "subject[3].name bytes"
}

// Error says what was over which limit, e.g. "subjects: 100000 exceeds the
// limit of 10000 (max-subjects)".
func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: %d exceeds the limit of %d (%s)", e.What, e.Got, e.Max, e.Limit)
}

// checkLimit returns a *LimitError when got > max.
func checkLimit(limit, what string, got, max int) error {
	if got > max {
		return &LimitError{Limit: limit, Max: max, Got: got, What: what}
	}
	return nil
}

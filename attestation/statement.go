package attestation

import (
	"fmt"
)

// Statement and predicate types ParseStatement understands.
const (
	StatementV1  = "https://in-toto.io/Statement/v1"
	StatementV01 = "https://in-toto.io/Statement/v0.1"
	// TypeLink is the "_type" of a classic in-toto link, and Statement.Type for one.
	TypeLink = "link"

	PredicateLinkV03          = "https://in-toto.io/attestation/link/v0.3"
	PredicateSLSAProvenanceV1 = "https://slsa.dev/provenance/v1"
)

// Descriptor is the part of an in-toto ResourceDescriptor that attestd
// indexes: an artifact's name, URI and digests. All three have been checked:
// Name with CheckName (when non-empty), every digest as described at
// ParseDigest.
type Descriptor struct {
	Name   string
	URI    string
	Digest map[string]string // algorithm -> value
}

// Statement is what attestd reads out of a signed payload: what was built
// (Subjects), from what (Materials), by which step, as which kind of claim.
type Statement struct {
	Type          string       // StatementV1, StatementV01 or TypeLink
	PredicateType string       // "" for a classic link
	Subjects      []Descriptor // the products; never empty for a Statement
	Materials     []Descriptor
	Step          string   // the link name (link predicate or classic link); "" otherwise
	Command       []string // the link command, if any
}

// ParseStatement parses the payload of a DSSE envelope or of a metablock
// (Envelope.Payload) into a Statement. It accepts:
//
//   - an in-toto Statement v1 or v0.1: "subject" (a non-empty array of
//     ResourceDescriptors, each with at least one digest), "predicateType"
//     (required; the protobuf-style spelling "predicate_type" is not an
//     alias) and an optional "predicate" object. Other top-level members are
//     ignored, as the in-toto specification asks of consumers. With the link
//     v0.3 predicate, its "name" becomes Step, "command" Command and
//     "materials" Materials; with SLSA provenance v1,
//     buildDefinition.resolvedDependencies becomes Materials; any other
//     predicate is stored as it is, with no Materials;
//   - a classic in-toto link ("_type": "link") as in-toto-golang writes it:
//     Step is its name, Subjects its products, Materials its materials, each
//     sorted by name.
//
// Subjects and materials are counted against lim.MaxSubjects and
// lim.MaxMaterials before any is read (*LimitError); malformed content is an
// *InputError naming the field, such as "subject[2].digest.sha256". Unescaped
// control characters in strings are accepted here (not in envelopes): the
// OLPC canonical JSON that in-toto signs writes them raw.
func ParseStatement(payload []byte, lim Limits) (*Statement, error) {
	lim = lim.withDefaults()
	// A payload comes out of an envelope, so it is never larger than one.
	if err := checkLimit(LimitEnvelopeBytes, "payload bytes", len(payload), lim.MaxEnvelopeBytes); err != nil {
		return nil, err
	}
	root, err := parseJSON(payload, jsonOptions{field: "payload", maxDepth: lim.MaxJSONDepth, rawControl: true})
	if err != nil {
		return nil, err
	}
	if root.kind != kindObject {
		return nil, inputErr("payload", "is %s, not a JSON object", root.typeName())
	}
	typ, err := requiredString(root, "_type", "_type")
	if err != nil {
		return nil, err
	}
	switch typ {
	case StatementV1, StatementV01:
		return parseInTotoStatement(root, typ, lim)
	case TypeLink:
		return parseClassicLink(root, lim)
	}
	return nil, inputErr("_type", "%s is not %s, %s or %q", quote(typ), StatementV1, StatementV01, TypeLink)
}

func parseInTotoStatement(root *value, typ string, lim Limits) (*Statement, error) {
	st := &Statement{Type: typ}
	var err error
	subjects := root.get("subject")
	if subjects == nil {
		return nil, inputErr("subject", "missing; a statement needs at least one subject")
	}
	if subjects.kind != kindArray {
		return nil, inputErr("subject", "is %s, not an array", subjects.typeName())
	}
	if len(subjects.kids) == 0 {
		return nil, inputErr("subject", "is empty; a statement needs at least one subject")
	}
	if err := checkLimit(LimitSubjects, "subjects", len(subjects.kids), lim.MaxSubjects); err != nil {
		return nil, err
	}
	st.Subjects = make([]Descriptor, 0, len(subjects.kids))
	for i := range subjects.kids {
		field := fmt.Sprintf("subject[%d]", i)
		d, err := parseDescriptor(&subjects.kids[i], field, lim)
		if err != nil {
			return nil, err
		}
		if len(d.Digest) == 0 {
			return nil, inputErr(field+".digest", "missing; every subject needs at least one digest")
		}
		st.Subjects = append(st.Subjects, d)
	}

	if root.get("predicateType") == nil && root.get("predicate_type") != nil {
		return nil, inputErr("predicateType", `missing ("predicate_type" is not accepted; the member is named "predicateType")`)
	}
	if st.PredicateType, err = requiredString(root, "predicateType", "predicateType"); err != nil {
		return nil, err
	}
	if err := checkText("predicateType", st.PredicateType, lim); err != nil {
		return nil, err
	}
	pred := root.get("predicate")
	if pred != nil && pred.kind != kindObject {
		return nil, inputErr("predicate", "is %s, not a JSON object", pred.typeName())
	}

	switch st.PredicateType {
	case PredicateLinkV03:
		if pred == nil {
			return nil, inputErr("predicate", "missing; required for predicate type %s", st.PredicateType)
		}
		if err := parseLinkPredicate(pred, st, lim); err != nil {
			return nil, err
		}
	case PredicateSLSAProvenanceV1:
		if pred == nil {
			return nil, inputErr("predicate", "missing; required for predicate type %s", st.PredicateType)
		}
		def := pred.get("buildDefinition")
		if def == nil {
			return nil, inputErr("predicate.buildDefinition", "missing; required by SLSA provenance v1")
		}
		if def.kind != kindObject {
			return nil, inputErr("predicate.buildDefinition", "is %s, not a JSON object", def.typeName())
		}
		if st.Materials, err = parseMaterials(def.get("resolvedDependencies"), "predicate.buildDefinition.resolvedDependencies", lim); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// parseMaterials reads an optional array of ResourceDescriptors naming the
// inputs of a build. Each must identify something: a uri, a digest or
// content, as the ResourceDescriptor specification requires.
func parseMaterials(v *value, field string, lim Limits) ([]Descriptor, error) {
	if v == nil {
		return nil, nil
	}
	if v.kind != kindArray {
		return nil, inputErr(field, "is %s, not an array", v.typeName())
	}
	if err := checkLimit(LimitMaterials, "materials", len(v.kids), lim.MaxMaterials); err != nil {
		return nil, err
	}
	out := make([]Descriptor, 0, len(v.kids))
	for i := range v.kids {
		f := fmt.Sprintf("%s[%d]", field, i)
		d, err := parseDescriptor(&v.kids[i], f, lim)
		if err != nil {
			return nil, err
		}
		if d.URI == "" && len(d.Digest) == 0 && v.kids[i].get("content") == nil {
			return nil, inputErr(f, "has none of uri, digest and content")
		}
		out = append(out, d)
	}
	return out, nil
}

// parseDescriptor reads the name, uri and digest of a ResourceDescriptor; its
// other members (content, downloadLocation, mediaType, annotations) are not
// indexed and are ignored.
func parseDescriptor(v *value, field string, lim Limits) (Descriptor, error) {
	var d Descriptor
	if v.kind != kindObject {
		return d, inputErr(field, "is %s, not a JSON object", v.typeName())
	}
	var err error
	if d.Name, err = optionalString(v, "name", field+".name"); err != nil {
		return d, err
	}
	if d.Name != "" {
		if err := checkName(field+".name", d.Name, lim); err != nil {
			return d, err
		}
	}
	if d.URI, err = optionalString(v, "uri", field+".uri"); err != nil {
		return d, err
	}
	if d.URI != "" {
		if err := checkText(field+".uri", d.URI, lim); err != nil {
			return d, err
		}
	}
	if dv := v.get("digest"); dv != nil {
		if d.Digest, err = parseDigestSet(dv, field+".digest"); err != nil {
			return d, err
		}
	}
	return d, nil
}

// parseDigestSet reads a non-empty {alg: value} object.
func parseDigestSet(v *value, field string) (map[string]string, error) {
	if v.kind != kindObject {
		return nil, inputErr(field, "is %s, not a JSON object", v.typeName())
	}
	if len(v.kids) == 0 {
		return nil, inputErr(field, "is empty; give at least one algorithm and value")
	}
	set := make(map[string]string, len(v.kids))
	for i := range v.kids {
		alg := v.kids[i].key
		if reason := checkAlg(alg); reason != "" {
			return nil, &InputError{Field: field, Reason: reason}
		}
		if v.kids[i].kind != kindString {
			return nil, inputErr(field+"."+alg, "is %s, not a string", v.kids[i].typeName())
		}
		if reason := checkDigestValue(alg, v.kids[i].str); reason != "" {
			return nil, &InputError{Field: field + "." + alg, Reason: reason}
		}
		set[alg] = v.kids[i].str
	}
	return set, nil
}

// optionalString returns the string member key of v, "" if it is absent.
func optionalString(v *value, key, field string) (string, error) {
	m := v.get(key)
	if m == nil {
		return "", nil
	}
	if m.kind != kindString {
		return "", inputErr(field, "is %s, not a string", m.typeName())
	}
	return m.str, nil
}

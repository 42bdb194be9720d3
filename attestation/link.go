package attestation

import (
	"fmt"
	"slices"
	"strings"
)

// This file reads the two spellings of an in-toto link: the link v0.3
// predicate of a Statement, and the classic link that in-toto-golang writes
// (inside a metablock, or as a DSSE payload when useDSSE is set).

// parseLinkPredicate reads a link v0.3 predicate ("name", "command",
// "materials"; "byproducts" and "environment" are not indexed) into st.
func parseLinkPredicate(pred *value, st *Statement, lim Limits) error {
	var err error
	if st.Step, err = requiredString(pred, "name", "predicate.name"); err != nil {
		return err
	}
	if err := checkText("predicate.name", st.Step, lim); err != nil {
		return err
	}
	if st.Command, err = parseCommand(pred.get("command"), "predicate.command"); err != nil {
		return err
	}
	st.Materials, err = parseMaterials(pred.get("materials"), "predicate.materials", lim)
	return err
}

// parseClassicLink reads {"_type": "link", "name", "command", "materials",
// "products", "byproducts", "environment"}. Materials and products are
// objects mapping an artifact name to its digest set; they become Materials
// and Subjects sorted by name. A link may have no products (a test step).
func parseClassicLink(root *value, lim Limits) (*Statement, error) {
	st := &Statement{Type: TypeLink}
	var err error
	if st.Step, err = requiredString(root, "name", "name"); err != nil {
		return nil, err
	}
	if err := checkText("name", st.Step, lim); err != nil {
		return nil, err
	}
	if st.Command, err = parseCommand(root.get("command"), "command"); err != nil {
		return nil, err
	}
	for _, key := range []string{"byproducts", "environment"} {
		if v := root.get(key); v != nil && v.kind != kindObject && v.kind != kindNull {
			return nil, inputErr(key, "is %s, not a JSON object", v.typeName())
		}
	}
	if st.Materials, err = parseArtifacts(root.get("materials"), "materials", LimitMaterials, lim.MaxMaterials, lim); err != nil {
		return nil, err
	}
	if st.Subjects, err = parseArtifacts(root.get("products"), "products", LimitSubjects, lim.MaxSubjects, lim); err != nil {
		return nil, err
	}
	return st, nil
}

// parseArtifacts reads a classic link's {name: {alg: value}} object; absent
// or null is empty, as Go's encoding/json writes a nil map as null.
func parseArtifacts(v *value, field, limit string, max int, lim Limits) ([]Descriptor, error) {
	if v == nil || v.kind == kindNull {
		return nil, nil
	}
	if v.kind != kindObject {
		return nil, inputErr(field, "is %s, not a JSON object", v.typeName())
	}
	if err := checkLimit(limit, field, len(v.kids), max); err != nil {
		return nil, err
	}
	out := make([]Descriptor, 0, len(v.kids))
	for i := range v.kids {
		name := v.kids[i].key
		f := fmt.Sprintf("%s[%s]", field, quote(name))
		if err := checkName(f, name, lim); err != nil {
			return nil, err
		}
		set, err := parseDigestSet(&v.kids[i], f)
		if err != nil {
			return nil, err
		}
		out = append(out, Descriptor{Name: name, Digest: set})
	}
	// Object members have no meaningful order; names are unique (duplicate
	// keys are refused), so this order is total.
	slices.SortFunc(out, func(a, b Descriptor) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// parseCommand reads an optional array of strings; null is no command.
func parseCommand(v *value, field string) ([]string, error) {
	if v == nil || v.kind == kindNull {
		return nil, nil
	}
	if v.kind != kindArray {
		return nil, inputErr(field, "is %s, not an array of strings", v.typeName())
	}
	out := make([]string, 0, len(v.kids))
	for i := range v.kids {
		if v.kids[i].kind != kindString {
			return nil, inputErr(fmt.Sprintf("%s[%d]", field, i), "is %s, not a string", v.kids[i].typeName())
		}
		out = append(out, v.kids[i].str)
	}
	return out, nil
}

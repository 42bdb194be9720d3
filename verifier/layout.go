package verifier

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/attestd/attestd/attestation"
)

// Layout is a parsed, checked in-toto layout.
type Layout struct {
	Expires time.Time
	Readme  string
	// Keys are the functionary keys, by their canonical key id
	// (attestation.PublicKey.ID), whichever of the key's ids the layout names
	// it by (python in-toto names ECDSA keys by an alias; see
	// attestation.PublicKey.IDs). Steps' PubKeys are canonical ids too, so
	// that they compare equal to the ids of signers and of project keys.
	Keys  map[string]*attestation.PublicKey
	Steps []Step
}

// Step is one step of a Layout.
type Step struct {
	Name            string
	Threshold       int
	PubKeys         []string // canonical key ids, each in Layout.Keys, no duplicates
	ExpectedCommand []string // informational: commands are not checked
	Materials       []*Rule  // expected_materials
	Products        []*Rule  // expected_products
	// PredicateTypes are the predicate types an attestation of this step may
	// have. Empty means the in-toto link: a link v0.3 predicate
	// (attestation.PredicateLinkV03) or a classic link (""). It is not part of
	// the layout JSON: the caller sets it from its own policy.
	PredicateTypes []string
}

// ParseLayout parses and checks the "signed" part of an in-toto layout (the
// payload of its DSSE envelope, or the canonical JSON of a metablock's
// "signed"; see VerifyLayoutSignatures). Anything ParseLayout does not
// understand is refused rather than ignored: see the package documentation
// for the list. A key may be listed under any of its ids (python in-toto
// names ECDSA keys by an id of their own; see attestation.PublicKey.IDs), but
// only once, and with keyval.private absent or "" (as securesystemslib
// writes public keys). Errors are *attestation.InputError with a Field such
// as "steps[2].threshold", or *attestation.LimitError.
func ParseLayout(signedJSON []byte) (*Layout, error) {
	root, err := parseStrictJSON(signedJSON)
	if err != nil {
		return nil, err
	}
	if root.kind != 'o' {
		return nil, inputErr("layout", "is %s, not an object", root.typeName())
	}
	if err := onlyMembers(root, "", "_type", "expires", "readme", "keys", "steps", "inspect"); err != nil {
		return nil, err
	}
	if typ, err := str(root, "", "_type", true); err != nil {
		return nil, err
	} else if typ != "layout" {
		return nil, inputErr("_type", "is %s, not \"layout\"", quote(typ))
	}
	l := &Layout{}
	exp, err := str(root, "", "expires", true)
	if err != nil {
		return nil, err
	}
	if l.Expires, err = time.Parse(time.RFC3339, exp); err != nil {
		return nil, inputErr("expires", "%s is not an RFC 3339 time such as 2030-01-31T00:00:00Z", quote(exp))
	}
	if l.Readme, err = str(root, "", "readme", false); err != nil {
		return nil, err
	}
	if insp := root.get("inspect"); insp != nil && insp.kind != 'z' {
		if insp.kind != 'a' {
			return nil, inputErr("inspect", "is %s, not an array", insp.typeName())
		}
		if len(insp.vals) > 0 {
			return nil, inputErr("inspect", "the layout has %d inspection(s); attestd never runs commands, so layouts with inspections are refused", len(insp.vals))
		}
	}
	ids, err := parseKeys(l, root.get("keys"))
	if err != nil {
		return nil, err
	}
	if err := parseSteps(l, ids, root.get("steps")); err != nil {
		return nil, err
	}
	return l, nil
}

// parseSteps reads "steps"; ids maps the key ids of the layout's "keys" to
// the keys' canonical ids.
func parseSteps(l *Layout, ids map[string]string, steps *node) error {
	if steps == nil || steps.kind != 'a' {
		return inputErr("steps", "is missing or not an array")
	}
	if len(steps.vals) == 0 {
		return inputErr("steps", "is empty: a layout needs at least one step")
	}
	if err := checkLimit(LimitSteps, "steps", len(steps.vals), MaxSteps); err != nil {
		return err
	}
	index := map[string]int{}
	for i, n := range steps.vals {
		f := fmt.Sprintf("steps[%d]", i)
		s, err := parseStep(ids, n, f)
		if err != nil {
			return err
		}
		if _, dup := index[s.Name]; dup {
			return inputErr(f+".name", "step %s appears twice", quote(s.Name))
		}
		index[s.Name] = i
		l.Steps = append(l.Steps, s)
	}
	for i, s := range l.Steps {
		for _, r := range append(append([]*Rule(nil), s.Materials...), s.Products...) {
			if r.Type == RuleMatch {
				if _, ok := index[r.DstStep]; !ok {
					return inputErr(fmt.Sprintf("steps[%d]", i), "rule %s names step %s, which is not in the layout", quote(r.String()), quote(r.DstStep))
				}
			}
		}
	}
	return nil
}

func parseStep(ids map[string]string, n *node, f string) (Step, error) {
	var s Step
	if n.kind != 'o' {
		return s, inputErr(f, "is %s, not an object", n.typeName())
	}
	if n.get("cert_constraints") != nil {
		return s, inputErr(f+".cert_constraints", "certificate-based functionaries are not supported; list the functionaries' keys in pubkeys")
	}
	if err := onlyMembers(n, f+".", "_type", "name", "threshold", "pubkeys", "expected_command", "expected_materials", "expected_products"); err != nil {
		return s, err
	}
	if typ, err := str(n, f+".", "_type", true); err != nil {
		return s, err
	} else if typ != "step" {
		return s, inputErr(f+"._type", "is %s, not \"step\"", quote(typ))
	}
	var err error
	if s.Name, err = str(n, f+".", "name", true); err != nil {
		return s, err
	}
	if s.Name == "" || len(s.Name) > MaxPatternBytes || strings.ContainsFunc(s.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s, inputErr(f+".name", "%s is not a step name (1 to %d characters, no control characters)", quote(s.Name), MaxPatternBytes)
	}
	if s.Threshold, err = threshold(n.get("threshold"), f+".threshold"); err != nil {
		return s, err
	}
	pubkeys, err := strList(n.get("pubkeys"), f+".pubkeys", MaxKeys)
	if err != nil {
		return s, err
	}
	// A step names a key by the id under which "keys" lists it, as in-toto
	// requires; the Step keeps the key's canonical id.
	seen := map[string]bool{}
	for j, id := range pubkeys {
		canonical, ok := ids[id]
		if !ok {
			return s, inputErr(fmt.Sprintf("%s.pubkeys[%d]", f, j), "key %s is not in the layout's keys", quote(id))
		}
		if seen[canonical] {
			return s, inputErr(fmt.Sprintf("%s.pubkeys[%d]", f, j), "key %s is listed twice", quote(id))
		}
		seen[canonical] = true
		s.PubKeys = append(s.PubKeys, canonical)
	}
	if s.Threshold > len(s.PubKeys) {
		return s, inputErr(f+".threshold", "threshold %d can never be met by %d key(s)", s.Threshold, len(s.PubKeys))
	}
	if s.ExpectedCommand, err = strList(n.get("expected_command"), f+".expected_command", MaxPatternBytes); err != nil {
		return s, err
	}
	if s.Materials, err = parseRules(n.get("expected_materials"), f+".expected_materials"); err != nil {
		return s, err
	}
	if s.Products, err = parseRules(n.get("expected_products"), f+".expected_products"); err != nil {
		return s, err
	}
	return s, nil
}

func threshold(n *node, f string) (int, error) {
	if n == nil || n.kind != 'n' {
		return 0, inputErr(f, "is missing or not a number")
	}
	t, err := strconv.Atoi(n.num.String())
	if err != nil {
		return 0, inputErr(f, "%s is not an integer", quote(n.num.String()))
	}
	if t < 1 {
		return 0, inputErr(f, "is %d; a threshold must be at least 1", t)
	}
	return t, nil
}

// parseRules reads a list of rules; absent or null is no rules (in-toto
// writes an empty list as null).
func parseRules(n *node, f string) ([]*Rule, error) {
	if n == nil || n.kind == 'z' {
		return nil, nil
	}
	if n.kind != 'a' {
		return nil, inputErr(f, "is %s, not an array of rules", n.typeName())
	}
	if err := checkLimit(LimitRules, f, len(n.vals), MaxRules); err != nil {
		return nil, err
	}
	rules := make([]*Rule, 0, len(n.vals))
	for i, rn := range n.vals {
		rf := fmt.Sprintf("%s[%d]", f, i)
		words, err := strList(rn, rf, 16)
		if err != nil {
			return nil, err
		}
		r, err := ParseRule(words)
		if err != nil {
			if ie, ok := err.(*attestation.InputError); ok {
				ie.Field = rf
			}
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// parseKeys reads "keys" into l.Keys, checking that every key is listed
// under its own keyid, that the keyid is one of the key's ids (see
// attestation.PublicKey.IDs) and that no key is listed twice. It returns the
// map from the layout's key ids to the keys' canonical ids, for the steps.
func parseKeys(l *Layout, n *node) (map[string]string, error) {
	l.Keys = map[string]*attestation.PublicKey{}
	ids := map[string]string{}
	if n == nil || n.kind == 'z' {
		return ids, nil
	}
	if n.kind != 'o' {
		return nil, inputErr("keys", "is %s, not an object", n.typeName())
	}
	if err := checkLimit(LimitKeys, "keys", len(n.keys), MaxKeys); err != nil {
		return nil, err
	}
	listedAs := map[string]string{} // canonical id -> the layout's id for it
	for i, id := range n.keys {
		f := fmt.Sprintf("keys[%s]", quote(id))
		k, keyid, err := parseKey(n.vals[i], f)
		if err != nil {
			return nil, err
		}
		if keyid != id {
			return nil, inputErr(f+".keyid", "is %s, but the key is listed under %s", quote(keyid), quote(id))
		}
		// Two ids of one key would make one key count for two in-toto
		// functionaries; python in-toto and in-toto-golang would not see
		// that they are the same key.
		if prev, dup := listedAs[k.ID]; dup {
			return nil, inputErr(f, "is the same key as keys[%s]; list each key once", quote(prev))
		}
		listedAs[k.ID] = id
		l.Keys[k.ID] = k
		ids[id] = k.ID
	}
	return ids, nil
}

// parseKey reads one key of "keys" and returns it with its keyid as written,
// which it has checked to be one of the key's ids.
func parseKey(n *node, f string) (*attestation.PublicKey, string, error) {
	if n.kind != 'o' {
		return nil, "", inputErr(f, "is %s, not an object", n.typeName())
	}
	if err := onlyMembers(n, f+".", "keyid", "keytype", "scheme", "keyval", "keyid_hash_algorithms"); err != nil {
		return nil, "", err
	}
	id, err := str(n, f+".", "keyid", true)
	if err != nil {
		return nil, "", err
	}
	typ, err := str(n, f+".", "keytype", true)
	if err != nil {
		return nil, "", err
	}
	scheme, err := str(n, f+".", "scheme", true)
	if err != nil {
		return nil, "", err
	}
	if _, err := strList(n.get("keyid_hash_algorithms"), f+".keyid_hash_algorithms", 8); err != nil && n.get("keyid_hash_algorithms") != nil {
		return nil, "", err
	}
	val := n.get("keyval")
	if val == nil || val.kind != 'o' {
		return nil, "", inputErr(f+".keyval", "is missing or not an object")
	}
	// securesystemslib (python in-toto's Layout.add_functionary_key_from_path)
	// writes public keys with "private": ""; in-toto-golang accepts that too.
	if priv := val.get("private"); priv != nil {
		if priv.kind != 's' {
			return nil, "", inputErr(f+".keyval.private", "is %s, not a string", priv.typeName())
		}
		if priv.str != "" {
			return nil, "", inputErr(f+".keyval.private", "a layout must not contain a private key")
		}
	}
	if err := onlyMembers(val, f+".keyval.", "public", "private"); err != nil {
		return nil, "", err
	}
	pub, err := str(val, f+".keyval.", "public", true)
	if err != nil {
		return nil, "", err
	}
	k, err := publicKey(typ, pub)
	if err != nil {
		if ie, ok := err.(*attestation.InputError); ok {
			return nil, "", inputErr(f+".keyval.public", "%s", ie.Reason)
		}
		return nil, "", err
	}
	if !k.HasID(id) {
		return nil, "", inputErr(f+".keyid", "is %s, but the key's id is %s", quote(id), k.ID)
	}
	if k.KeyType != typ {
		return nil, "", inputErr(f+".keytype", "is %s, but the key is %s", quote(typ), k.KeyType)
	}
	okScheme := scheme == k.Scheme || (typ == attestation.KeyTypeECDSA && strings.HasPrefix(scheme, "ecdsa-sha2-nistp"))
	if !okScheme {
		return nil, "", inputErr(f+".scheme", "is %s, but the key uses %s", quote(scheme), k.Scheme)
	}
	return k, id, nil
}

// publicKey reads keyval.public: PEM, or for ed25519 the hex of the 32-byte
// key as in-toto-golang writes it.
func publicKey(typ, pub string) (*attestation.PublicKey, error) {
	if typ == attestation.KeyTypeED25519 && !strings.Contains(pub, "-----BEGIN") {
		raw, err := hex.DecodeString(pub)
		if err != nil || len(raw) != ed25519.PublicKeySize || pub != strings.ToLower(pub) {
			return nil, inputErr("key", "an ed25519 key must be %d bytes in lowercase hex or a PEM block", ed25519.PublicKeySize)
		}
		der, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(raw))
		if err != nil {
			return nil, inputErr("key", "cannot encode the key: %v", err)
		}
		pub = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	return attestation.ParsePublicKey([]byte(pub))
}

// onlyMembers refuses any member of n not in allowed.
func onlyMembers(n *node, prefix string, allowed ...string) error {
	for _, k := range n.keys {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return inputErr(prefix+k, "unknown member; expected one of %s", strings.Join(allowed, ", "))
		}
	}
	return nil
}

func str(n *node, prefix, key string, required bool) (string, error) {
	v := n.get(key)
	if v == nil || (!required && v.kind == 'z') {
		if required {
			return "", inputErr(prefix+key, "is missing")
		}
		return "", nil
	}
	if v.kind != 's' {
		return "", inputErr(prefix+key, "is %s, not a string", v.typeName())
	}
	return v.str, nil
}

// strList reads an array of at most max strings; absent or null is empty.
func strList(n *node, f string, max int) ([]string, error) {
	if n == nil || n.kind == 'z' {
		return nil, nil
	}
	if n.kind != 'a' {
		return nil, inputErr(f, "is %s, not an array of strings", n.typeName())
	}
	if err := checkLimit(LimitKeys, f, len(n.vals), max); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(n.vals))
	for i, v := range n.vals {
		if v.kind != 's' {
			return nil, inputErr(fmt.Sprintf("%s[%d]", f, i), "is %s, not a string", v.typeName())
		}
		out = append(out, v.str)
	}
	return out, nil
}

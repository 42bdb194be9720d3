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
	// Keys are the functionary keys, by in-toto key id (each id checked to be
	// the id of its key).
	Keys  map[string]*attestation.PublicKey
	Steps []Step
}

// Step is one step of a Layout.
type Step struct {
	Name            string
	Threshold       int
	PubKeys         []string // key ids, each in Layout.Keys, no duplicates
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
// for the list. Errors are *attestation.InputError with a Field such as
// "steps[2].threshold", or *attestation.LimitError.
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
	if l.Keys, err = parseKeys(root.get("keys")); err != nil {
		return nil, err
	}
	if err := parseSteps(l, root.get("steps")); err != nil {
		return nil, err
	}
	return l, nil
}

func parseSteps(l *Layout, steps *node) error {
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
		s, err := parseStep(l, n, f)
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

func parseStep(l *Layout, n *node, f string) (Step, error) {
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
	if s.PubKeys, err = strList(n.get("pubkeys"), f+".pubkeys", MaxKeys); err != nil {
		return s, err
	}
	seen := map[string]bool{}
	for j, id := range s.PubKeys {
		if _, ok := l.Keys[id]; !ok {
			return s, inputErr(fmt.Sprintf("%s.pubkeys[%d]", f, j), "key %s is not in the layout's keys", quote(id))
		}
		if seen[id] {
			return s, inputErr(fmt.Sprintf("%s.pubkeys[%d]", f, j), "key %s is listed twice", quote(id))
		}
		seen[id] = true
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

// parseKeys reads "keys" and checks every key id against its key.
func parseKeys(n *node) (map[string]*attestation.PublicKey, error) {
	keys := map[string]*attestation.PublicKey{}
	if n == nil || n.kind == 'z' {
		return keys, nil
	}
	if n.kind != 'o' {
		return nil, inputErr("keys", "is %s, not an object", n.typeName())
	}
	if err := checkLimit(LimitKeys, "keys", len(n.keys), MaxKeys); err != nil {
		return nil, err
	}
	for i, id := range n.keys {
		f := fmt.Sprintf("keys[%s]", quote(id))
		k, err := parseKey(n.vals[i], f)
		if err != nil {
			return nil, err
		}
		if k.ID != id {
			return nil, inputErr(f, "the key's id is %s, not %s", k.ID, quote(id))
		}
		keys[id] = k
	}
	return keys, nil
}

func parseKey(n *node, f string) (*attestation.PublicKey, error) {
	if n.kind != 'o' {
		return nil, inputErr(f, "is %s, not an object", n.typeName())
	}
	if err := onlyMembers(n, f+".", "keyid", "keytype", "scheme", "keyval", "keyid_hash_algorithms"); err != nil {
		return nil, err
	}
	id, err := str(n, f+".", "keyid", true)
	if err != nil {
		return nil, err
	}
	typ, err := str(n, f+".", "keytype", true)
	if err != nil {
		return nil, err
	}
	scheme, err := str(n, f+".", "scheme", true)
	if err != nil {
		return nil, err
	}
	if _, err := strList(n.get("keyid_hash_algorithms"), f+".keyid_hash_algorithms", 8); err != nil && n.get("keyid_hash_algorithms") != nil {
		return nil, err
	}
	val := n.get("keyval")
	if val == nil || val.kind != 'o' {
		return nil, inputErr(f+".keyval", "is missing or not an object")
	}
	if val.get("private") != nil {
		return nil, inputErr(f+".keyval.private", "a layout must not contain a private key")
	}
	if err := onlyMembers(val, f+".keyval.", "public"); err != nil {
		return nil, err
	}
	pub, err := str(val, f+".keyval.", "public", true)
	if err != nil {
		return nil, err
	}
	k, err := publicKey(typ, pub)
	if err != nil {
		if ie, ok := err.(*attestation.InputError); ok {
			return nil, inputErr(f+".keyval.public", "%s", ie.Reason)
		}
		return nil, err
	}
	if k.ID != id {
		return nil, inputErr(f+".keyid", "is %s, but the key's id is %s", quote(id), k.ID)
	}
	if k.KeyType != typ {
		return nil, inputErr(f+".keytype", "is %s, but the key is %s", quote(typ), k.KeyType)
	}
	okScheme := scheme == k.Scheme || (typ == attestation.KeyTypeECDSA && strings.HasPrefix(scheme, "ecdsa-sha2-nistp"))
	if !okScheme {
		return nil, inputErr(f+".scheme", "is %s, but the key uses %s", quote(scheme), k.Scheme)
	}
	return k, nil
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

package verifier

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/in-toto/in-toto-golang/in_toto"

	"github.com/attestd/attestd/attestation"
)

// TestVerifyWithHints: hints explain a denial (and say so), never allow; hints that did not survive the
// caller's checks change nothing.
func TestVerifyWithHints(t *testing.T) {
	k := newKeyring(t)
	in := demoInput(t, k)
	plain, err := Verify(in)
	if err != nil || !plain.Allowed {
		t.Fatalf("demo: %v %v", plain, err)
	}

	// The clone attestation is a hint: it may not make the artifact allowed.
	d, err := VerifyWithHints(in, []string{"att-0"})
	if err != nil || d.Allowed {
		t.Fatalf("allowed by a hint: %v %v", d, err)
	}
	if !slices.ContainsFunc(d.Reasons, func(r string) bool { return strings.Contains(r, `"clone"`) }) {
		t.Fatalf("reasons do not name the step: %q", d.Reasons)
	}

	// A hint of another run of clone explains why update-version's materials do not match, and says it was
	// compared although nothing ties it to the artifact.
	in.Attestations[0].Products = map[string]map[string]string{"demo-project/foo.py": h("another v1")}
	d, err = VerifyWithHints(in, []string{"att-0"})
	if err != nil || d.Allowed {
		t.Fatalf("decision %v %v", d, err)
	}
	note := `step "clone": none of its attestations is connected to this artifact by digests; its newest ones were compared instead`
	if !slices.Contains(d.Reasons, note) || !slices.Contains(d.Steps[0].Reasons, note) || !slices.IsSorted(d.Reasons) {
		t.Fatalf("reasons %q, steps %v", d.Reasons, d.Steps)
	}
	if !slices.ContainsFunc(d.Reasons, func(r string) bool { return strings.Contains(r, "update-version") }) {
		t.Fatalf("reasons do not compare with the hint: %q", d.Reasons)
	}
	// In any order.
	rev := in
	rev.Attestations = slices.Clone(in.Attestations)
	slices.Reverse(rev.Attestations)
	if again, err := VerifyWithHints(rev, []string{"att-0"}); err != nil || !reflect.DeepEqual(again, d) {
		t.Fatalf("order changed the decision:\n%v\n%v", again, d)
	}

	// Hints that are not among the attestations (they did not count): Verify's decision.
	in = demoInput(t, k)
	if d, err := VerifyWithHints(in, []string{"gone"}); err != nil || !reflect.DeepEqual(d, plain) {
		t.Fatalf("decision %v %v, want %v", d, err, plain)
	}
}

func TestAnswerReasons(t *testing.T) {
	if got := AnswerReasons(Decision{Allowed: true}, []string{"attestation x does not count"}); len(got) != 0 {
		t.Fatalf("allowed: %q", got)
	}
	d := Decision{Reasons: []string{"b", "d"}}
	if got := AnswerReasons(d, nil); !reflect.DeepEqual(got, d.Reasons) {
		t.Fatalf("no candidate left out: %q", got)
	}
	if got, want := AnswerReasons(d, []string{"c", "a", "b"}), []string{"a", "b", "c", "d"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	var many []string
	for i := range MaxNotCountedReasons + 5 {
		many = append(many, fmt.Sprintf("attestation %02d does not count", MaxNotCountedReasons+5-i))
	}
	got := AnswerReasons(d, many)
	if len(got) != len(d.Reasons)+MaxNotCountedReasons+1 || !slices.Contains(got, "and 5 more attestations do not count for such reasons") ||
		!slices.Contains(got, "attestation 01 does not count") || slices.Contains(got, "attestation 25 does not count") {
		t.Fatalf("capped reasons: %q", got)
	}
}

func TestReadAttestation(t *testing.T) {
	k := newKeyring(t)
	mb := signedLink(t, link{"package", k.carl, arts("src", "v1"), arts("app.tar", "tar")})
	raw, err := json.Marshal(mb)
	if err != nil {
		t.Fatal(err)
	}
	keys := []*attestation.PublicKey{k.bob.key, k.carl.key}
	a, reason := ReadAttestation("id1", raw, keys, attestation.Limits{})
	if reason != "" || a.ID != "id1" || a.Step != "package" || !reflect.DeepEqual(a.Signers, []string{k.carl.id()}) ||
		!reflect.DeepEqual(a.Products, map[string]map[string]string{"app.tar": h("tar")}) ||
		!reflect.DeepEqual(a.Materials, map[string]map[string]string{"src": h("v1")}) {
		t.Fatalf("read %+v, reason %q", a, reason)
	}
	unsigned := &in_toto.Metablock{Signed: map[string]any{"_type": "link", "name": 1}}
	if err := unsigned.Sign(k.carl.priv); err != nil {
		t.Fatal(err)
	}
	badStatement, err := json.Marshal(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		envelope []byte
		keys     []*attestation.PublicKey
		reason   string
	}{
		{[]byte("{}"), keys, "attestation id1 does not count: its envelope does not parse: "},
		{raw, []*attestation.PublicKey{k.bob.key}, "attestation id1 does not count: no signature verifies with a functionary key of the project"},
		{badStatement, keys, "attestation id1 does not count: its statement does not parse: "},
	} {
		if _, reason := ReadAttestation("id1", tc.envelope, tc.keys, attestation.Limits{}); !strings.HasPrefix(reason, tc.reason) {
			t.Errorf("reason %q, want %q", reason, tc.reason)
		}
	}
}

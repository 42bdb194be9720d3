package verifier

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/attestation"
)

// TestParseLayout: edits of a good layout that ParseLayout refuses, naming
// the field, or (field "") accepts.
func TestParseLayout(t *testing.T) {
	k := newKeyring(t)
	l, _ := demo(k, t0)
	good, _ := json.Marshal(l)
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(good, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	stepAt := func(m map[string]any, i int) map[string]any { return m["steps"].([]any)[i].(map[string]any) }
	cases := []struct {
		name  string
		in    []byte
		field string // "": the layout parses
	}{
		{"unknown member", edit(func(m map[string]any) { m["extra"] = 1 }), "extra"},
		{"inspections", edit(func(m map[string]any) {
			m["inspect"] = []any{map[string]any{"_type": "inspection", "name": "untar", "run": []any{"tar"}}}
		}), "inspect"},
		{"threshold 0", edit(func(m map[string]any) { stepAt(m, 0)["threshold"] = 0 }), "steps[0].threshold"},
		{"duplicate step", edit(func(m map[string]any) { stepAt(m, 1)["name"] = "clone" }), "steps[1].name"},
		{"missing pubkey", edit(func(m map[string]any) { stepAt(m, 0)["pubkeys"] = []any{strings.Repeat("a", 64)} }), "steps[0].pubkeys[0]"},
		{"empty rule", edit(func(m map[string]any) { stepAt(m, 0)["expected_products"] = []any{[]any{}} }), "steps[0].expected_products[0]"},
		{"malformed rule", edit(func(m map[string]any) {
			stepAt(m, 0)["expected_products"] = []any{[]any{"MATCH", "*", "WITH", "BYPRODUCTS", "FROM", "x"}}
		}), "steps[0].expected_products[0]"},
		{"bad pattern", edit(func(m map[string]any) { stepAt(m, 0)["expected_products"] = []any{[]any{"ALLOW", "[a"}} }), "steps[0].expected_products[0]"},
		{"MATCH from unknown step", edit(func(m map[string]any) {
			stepAt(m, 1)["expected_materials"] = []any{[]any{"MATCH", "*", "WITH", "PRODUCTS", "FROM", "nowhere"}}
		}), "steps[1]"},
		{"key id not the key's", edit(func(m map[string]any) {
			keys := m["keys"].(map[string]any)
			keys[k.bob.id()].(map[string]any)["keyval"] = map[string]any{"public": strings.Repeat("ab", 32)}
		}), "keys"},
		{"private key in layout", edit(func(m map[string]any) {
			keys := m["keys"].(map[string]any)
			keys[k.bob.id()].(map[string]any)["keyval"].(map[string]any)["private"] = "00"
		}), "keyval.private"},
		{"private key of one space", edit(func(m map[string]any) {
			keys := m["keys"].(map[string]any)
			keys[k.bob.id()].(map[string]any)["keyval"].(map[string]any)["private"] = " "
		}), "keyval.private"},
		{"private null", edit(func(m map[string]any) {
			keys := m["keys"].(map[string]any)
			keys[k.bob.id()].(map[string]any)["keyval"].(map[string]any)["private"] = nil
		}), "keyval.private"},
		// securesystemslib writes public keys so (python's Layout.add_functionary_key_from_path).
		{"empty private", edit(func(m map[string]any) {
			keys := m["keys"].(map[string]any)
			keys[k.bob.id()].(map[string]any)["keyval"].(map[string]any)["private"] = ""
		}), ""},
		{"unknown keyval member", edit(func(m map[string]any) {
			keys := m["keys"].(map[string]any)
			keys[k.bob.id()].(map[string]any)["keyval"].(map[string]any)["certificate"] = ""
		}), "keyval.certificate"},
		{"no expires", edit(func(m map[string]any) { delete(m, "expires") }), "expires"},
		{"bad expires", edit(func(m map[string]any) { m["expires"] = "tomorrow" }), "expires"},
		{"cert constraints", edit(func(m map[string]any) { stepAt(m, 0)["cert_constraints"] = []any{} }), "steps[0].cert_constraints"},
		{"duplicate member", []byte(strings.Replace(string(good), `"_type":"layout"`, `"_type":"layout","_type":"layout"`, 1)), "layout"},
		{"trailing data", append(append([]byte(nil), good...), []byte("{}")...), "layout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := ParseLayout(c.in)
			if c.field == "" {
				if err != nil || len(l.Keys) != 3 {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ie *attestation.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v, want an InputError", err)
			}
			if !strings.Contains(ie.Field, c.field) {
				t.Fatalf("field %q (%v), want %q", ie.Field, err, c.field)
			}
		})
	}
	if _, err := ParseLayout(good); err != nil {
		t.Fatalf("good layout refused: %v", err)
	}
}

func TestLayoutSignatures(t *testing.T) {
	k := newKeyring(t)
	l, _ := demo(k, t0)
	raw := signedLayout(t, l, k.owner)
	if _, err := parseSigned(t, raw, k.owner); err != nil {
		t.Fatal(err)
	}
	// Signed by a non-owner.
	if _, _, err := VerifyLayoutSignatures(signedLayout(t, l, k.bob), []*attestation.PublicKey{k.owner.key}); !errors.Is(err, attestation.ErrNoValidSignature) {
		t.Fatalf("non-owner signature: %v", err)
	}
	// Unsigned.
	unsigned, _ := json.Marshal(map[string]any{"signed": l, "signatures": []any{}})
	if _, _, err := VerifyLayoutSignatures(unsigned, []*attestation.PublicKey{k.owner.key}); err == nil {
		t.Fatal("unsigned layout accepted")
	}
	// The readme with a newline survives canonical JSON (raw control characters).
	l.Readme = "line one\nline two\t."
	got, err := parseSigned(t, signedLayout(t, l, k.owner), k.owner)
	if err != nil || got.Readme != l.Readme || !got.Expires.Equal(t0.Truncate(time.Second)) {
		t.Fatalf("readme %q, %v", got.Readme, err)
	}
}

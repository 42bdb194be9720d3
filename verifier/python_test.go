package verifier

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/attestation"
)

// A layout and a link written by python in-toto 1.3.1 (securesystemslib 0.26,
// Debian): the layout's "signed" part as its Layout API writes it, with the
// ECDSA key of `in-toto-keygen -t ecdsa erin` (imported with
// import_ecdsa_publickey_from_file) and an RSA key added with
// add_functionary_key_from_path, which keeps keyval.private ""; the link as
// `in-toto-run -n write-notes -t ecdsa -k erin -p notes.txt -- sh -c "echo
// notes > notes.txt"` signs it. Python names erin's key by the id it computes
// over the PEM with its final newline, pythonErinID, which is not attestd's.
const (
	pythonErinID  = "655a445338a1c76695777411428482972b80b813377f91c9d31aa564118a2566"
	pythonAliceID = "b0ea02ab7a21400fa8d5c20caf8077e332c8e16dd63e4750f11a0cb5831adb9f"
	pythonNotes   = "444e0fffbd825e9610ff5b199485707a0c895339ae80c15cc8a8aee41b106fda"

	pythonLayout = `{"_type":"layout","expires":"2099-01-01T00:00:00Z","inspect":[],"keys":{` +
		`"655a445338a1c76695777411428482972b80b813377f91c9d31aa564118a2566":{"keyid":"655a445338a1c76695777411428482972b80b813377f91c9d31aa564118a2566",` +
		`"keyid_hash_algorithms":["sha256","sha512"],"keytype":"ecdsa","keyval":{"public":"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4pnt+cH2jnjcvxX+uilTL2PZf3Xd\n` +
		`ILAZHdko5+fFzFemrk1MWKRMYBMsKRDZFEC7TMpRFG7ufDXkiIju4YgDmQ==\n-----END PUBLIC KEY-----\n"},"scheme":"ecdsa-sha2-nistp256"},` +
		`"b0ea02ab7a21400fa8d5c20caf8077e332c8e16dd63e4750f11a0cb5831adb9f":{"keyid":"b0ea02ab7a21400fa8d5c20caf8077e332c8e16dd63e4750f11a0cb5831adb9f",` +
		`"keyid_hash_algorithms":["sha256","sha512"],"keytype":"rsa","keyval":{"private":"","public":"-----BEGIN PUBLIC KEY-----\n` +
		`MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAn+/RNlgjzozSEzNFBP0o\nRNDykPjDy2JqA2lmgnJIlLuWOC0Z+WLya6/2Q1fzKDlXD9cQ9Vzl6OCnoYA06LPT\n` +
		`f7zqY3+OCdHcjXAElnbAPS0PojIMrX47oAQvXTa94lOt+uUxcJ9diB8GKn06Wwlj\nxigXVHj7o0oknGBMy/133ysHGAx5zC7l6tE6jgZyX7tXU2m+Ncj2mLP4VJrZoR11\n` +
		`k8LyOFgGK36tGTUEI16lOLjob8BSnB+cbhtVjEy3+EM6Z0n9x9rv3uWwgQ4lA0K4\nb/woIendBbGqxY209eh7bKTljw2DKQe3HvdMhAKxcIwdb1IvtyxLK123/vyD4r8i\n` +
		`mwIDAQAB\n-----END PUBLIC KEY-----"},"scheme":"rsassa-pss-sha256"}},"readme":"python in-toto 1.3.1","steps":[{"_type":"step",` +
		`"expected_command":[],"expected_materials":[],"expected_products":[["CREATE","notes.txt"],["DISALLOW","*"]],"name":"write-notes",` +
		`"pubkeys":["655a445338a1c76695777411428482972b80b813377f91c9d31aa564118a2566","b0ea02ab7a21400fa8d5c20caf8077e332c8e16dd63e4750f11a0cb5831adb9f"],"threshold":1}]}`

	pythonLink = `{"signatures":[{"keyid":"655a445338a1c76695777411428482972b80b813377f91c9d31aa564118a2566",` +
		`"sig":"304502205e95b9d71ec5c1bb39cd8cd8c15e94b5c7629db8d447a09d4cd7f175e27589cd022100a450ee54f537c5c9ad94eaf497701c38b4be3c02b09e460045a0f58eb57175fe"}],` +
		`"signed":{"_type":"link","byproducts":{"return-value":0,"stderr":"","stdout":""},"command":["sh","-c","echo notes > notes.txt"],` +
		`"environment":{},"materials":{},"name":"write-notes","products":{"notes.txt":{"sha256":"444e0fffbd825e9610ff5b199485707a0c895339ae80c15cc8a8aee41b106fda"}}}}`
)

// pythonKeys returns erin's and alice's keys as attestd registers them.
func pythonKeys(t *testing.T) (erin, alice *attestation.PublicKey) {
	t.Helper()
	l, err := ParseLayout([]byte(pythonLayout))
	if err != nil {
		t.Fatalf("python's layout: %v", err)
	}
	for _, k := range l.Keys {
		switch k.KeyType {
		case attestation.KeyTypeECDSA:
			erin = k
		case attestation.KeyTypeRSA:
			alice = k
		}
	}
	if erin == nil || alice == nil || len(l.Keys) != 2 {
		t.Fatalf("keys %v", l.Keys)
	}
	// attest key add registers what ParsePublicKey makes of the PEM.
	registered, err := attestation.ParsePublicKey([]byte(erin.PEM))
	if err != nil || registered.ID != erin.ID {
		t.Fatalf("registered erin as %v (%v), the layout's key is %s", registered, err, erin.ID)
	}
	return erin, alice
}

// TestPythonLayout: python's layout parses as python wrote it, its keys and
// step pubkeys under the keys' canonical ids, whichever of its ids the
// layout names a key by; ids that name no key, or a key by two ids, are
// refused.
func TestPythonLayout(t *testing.T) {
	erin, alice := pythonKeys(t)
	if erin.ID == pythonErinID || !erin.HasID(pythonErinID) || alice.ID != pythonAliceID {
		t.Fatalf("erin %s (ids %v), alice %s", erin.ID, erin.IDs(), alice.ID)
	}
	edit := func(f func(keys map[string]any, step map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(pythonLayout), &m); err != nil {
			t.Fatal(err)
		}
		f(m["keys"].(map[string]any), m["steps"].([]any)[0].(map[string]any))
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// relist lists erin's key under id, with keyid, and names it so in the step.
	relist := func(id, keyid string) string {
		return edit(func(keys, step map[string]any) {
			k := keys[pythonErinID].(map[string]any)
			delete(keys, pythonErinID)
			k["keyid"] = keyid
			keys[id] = k
			step["pubkeys"] = []any{id, pythonAliceID}
		})
	}
	other := strings.Repeat("ab", 32)
	cases := []struct {
		name  string
		in    string
		field string // "": parses to the same layout
	}{
		{"as python wrote it", pythonLayout, ""},
		{"under attestd's id", relist(erin.ID, erin.ID), ""},
		{"under a P-256 key's id that is none of its ids", relist(other, other), `keys["` + other + `"].keyid`},
		{"keyid not the id it is listed under", relist(pythonErinID, erin.ID), `keys["` + pythonErinID + `"].keyid`},
		{"listed under both ids", edit(func(keys, _ map[string]any) {
			k := keys[pythonErinID].(map[string]any)
			again := map[string]any{}
			for name, v := range k {
				again[name] = v
			}
			again["keyid"] = erin.ID
			keys[erin.ID] = again
		}), "keys["},
		{"step names the key by an id that keys does not list", edit(func(_, step map[string]any) {
			step["pubkeys"] = []any{erin.ID}
		}), "steps[0].pubkeys[0]"},
		{"step names one key twice", edit(func(_, step map[string]any) {
			step["pubkeys"] = []any{pythonErinID, pythonErinID}
		}), "steps[0].pubkeys[1]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := ParseLayout([]byte(c.in))
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(l.Keys) != 2 || l.Keys[erin.ID] == nil || l.Keys[alice.ID] == nil {
					t.Errorf("keys %v, want erin's and alice's under %s and %s", slices.Sorted(maps.Keys(l.Keys)), erin.ID, alice.ID)
				}
				if len(l.Steps) != 1 || !slices.Equal(l.Steps[0].PubKeys, []string{erin.ID, alice.ID}) {
					t.Errorf("steps %+v, want pubkeys [%s %s]", l.Steps, erin.ID, alice.ID)
				}
				return
			}
			var ie *attestation.InputError
			if !errors.As(err, &ie) || !strings.Contains(ie.Field, c.field) {
				t.Fatalf("got %v, want an InputError on %s", err, c.field)
			}
		})
	}
}

// TestPythonLinkSatisfiesStep: python's link, signed with erin's ECDSA key
// under python's id, satisfies the python layout's step that names erin by
// that id, read as attestd's write path and Verify read them; the key's
// validity counts whichever of its ids the caller gives it under.
func TestPythonLinkSatisfiesStep(t *testing.T) {
	erin, alice := pythonKeys(t)
	layout, err := ParseLayout([]byte(pythonLayout))
	if err != nil {
		t.Fatal(err)
	}
	env, err := attestation.ParseEnvelope([]byte(pythonLink), attestation.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if env.Signatures[0].KeyID != pythonErinID {
		t.Fatalf("the link's keyid is %s", env.Signatures[0].KeyID)
	}
	signers, err := attestation.VerifySignatures(env, []*attestation.PublicKey{alice, erin})
	if err != nil || !slices.Equal(signers, []string{erin.ID}) {
		t.Fatalf("signers %v (%v), want [%s]", signers, err, erin.ID)
	}
	st, err := attestation.ParseStatement(env.Payload, attestation.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	integrated := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	att := func(signers ...string) Attestation {
		a := Attestation{ID: "py", Step: st.Step, Signers: signers, PredicateType: st.PredicateType, IntegratedAt: integrated,
			Materials: map[string]map[string]string{}, Products: map[string]map[string]string{}}
		for _, d := range st.Subjects {
			a.Products[d.Name] = d.Digest
		}
		return a
	}
	revoked := integrated.Add(-time.Hour)
	cases := []struct {
		name    string
		signers []string
		keys    []Key
		reason  string // "": allowed
	}{
		{"as attestd reads it", signers, []Key{{ID: erin.ID}, {ID: alice.ID}}, ""},
		{"signer given by python's id", []string{pythonErinID}, []Key{{ID: erin.ID}}, ""},
		{"key registered under python's id", signers, []Key{{ID: pythonErinID}}, ""},
		{"key not registered", signers, []Key{{ID: alice.ID}}, "is not a registered key of the project"},
		{"revoked under python's id", signers, []Key{{ID: erin.ID}, {ID: pythonErinID, RevokedAt: revoked}}, "was revoked"},
		{"signed by another key", []string{alice.ID + "0"}, []Key{{ID: erin.ID}}, "not signed by a valid key of the step"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Verify(Input{Layout: layout, Attestations: []Attestation{att(c.signers...)}, Keys: c.keys,
				Now: integrated, Artifact: Artifact{Name: "notes.txt", Digest: map[string]string{"sha256": pythonNotes}}})
			if err != nil {
				t.Fatal(err)
			}
			if c.reason == "" {
				if !d.Allowed || !slices.Equal(d.Steps[0].Used, []string{"py"}) {
					t.Fatalf("denied: %v", d.Reasons)
				}
				return
			}
			if d.Allowed || !strings.Contains(strings.Join(d.Reasons, "\n"), c.reason) {
				t.Fatalf("allowed %v, reasons %v, want %q", d.Allowed, d.Reasons, c.reason)
			}
		})
	}
}

package attestation

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	intoto "github.com/in-toto/in-toto-golang/in_toto"
)

// ECDSA public keys written by python in-toto 1.3.1 and securesystemslib
// 0.26 (Debian), with the key ids python computes for them. The P-256 key is
// keyval.public of a key file written by `in-toto-keygen -t ecdsa`; the P-384
// key is pyca/cryptography's PEM of a generated key, the ids those of
// securesystemslib.keys.import_ecdsakey_from_private_pem and
// import_ecdsakey_from_public_pem with the default scheme and with
// "ecdsa-sha2-nistp384" (the first of which HSMSigner.import_ also computes).
const (
	pythonP256PEM = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4pnt+cH2jnjcvxX+uilTL2PZf3Xd\n" +
		"ILAZHdko5+fFzFemrk1MWKRMYBMsKRDZFEC7TMpRFG7ufDXkiIju4YgDmQ==\n-----END PUBLIC KEY-----\n"
	pythonP384PEM = "-----BEGIN PUBLIC KEY-----\nMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE9IUqxCMVrWOG6F70lqSaLVJLUeRLuV8M\n" +
		"WKDhyLTXcNu/Xim2p/nBdMa0B0OKBJCNOJ15T0dyQTlPeWwHUVe6fA7rJ6pyDHuP\ndKiQn8n38aGqO9fibVxYiYqZs3sfkRE+\n-----END PUBLIC KEY-----\n"
)

// TestPythonECDSAKeyIDs: ID stays in-toto-golang's id of a python-written
// ECDSA key, and IDs lists, after it, every id python computes for that key,
// so that a layout or a signature naming the key as python does names it for
// attestd too.
func TestPythonECDSAKeyIDs(t *testing.T) {
	cases := []struct {
		name string
		pem  string
		id   string            // in-toto-golang's id, which is also python's for a trimmed PEM with the default scheme
		py   map[string]string // how python computes an id -> that id
	}{
		{"P-256 from in-toto-keygen", pythonP256PEM,
			"7baebe90b099f74a86f234d32b31999ebc5984724c145cde96ecd176c203504d",
			map[string]string{
				"in-toto-keygen -t ecdsa (PEM with newline, nistp256)": "655a445338a1c76695777411428482972b80b813377f91c9d31aa564118a2566",
				"import_ecdsakey_from_public_pem (trimmed, nistp256)":  "7baebe90b099f74a86f234d32b31999ebc5984724c145cde96ecd176c203504d",
			}},
		{"P-384 from pyca/cryptography", pythonP384PEM,
			"2e00ff0faef16863d709c58963c2b60a5278e36518d634705df74e44a5779489",
			map[string]string{
				"import_ecdsakey_from_private_pem (PEM with newline, nistp256)":   "668f0aadddf5547151025901948b2ccf6bb6a1b6d80fec4de8566dab5661600f",
				"import_ecdsakey_from_private_pem (PEM with newline, nistp384)":   "17f8cf68eaa90fd8208eee03f948d5fc109e1578af9042be1fec158d0a75cac1",
				"import_ecdsakey_from_public_pem (trimmed, nistp256)":             "2e00ff0faef16863d709c58963c2b60a5278e36518d634705df74e44a5779489",
				"import_ecdsakey_from_public_pem (trimmed, nistp384), or LoadKey": "ee729365a93b3b3add173685eafea3540acf4c709fa7a6a764fa044473a02cc6",
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParsePublicKey([]byte(c.pem))
			if err != nil {
				t.Fatal(err)
			}
			var ik intoto.Key
			if err := ik.LoadKeyReaderDefaults(bytes.NewReader([]byte(c.pem))); err != nil {
				t.Fatal(err)
			}
			if k.ID != c.id || ik.KeyID != c.id {
				t.Fatalf("ID %s, in-toto-golang %s, want %s for both", k.ID, ik.KeyID, c.id)
			}
			ids := k.IDs()
			if len(ids) == 0 || ids[0] != k.ID {
				t.Fatalf("IDs() = %v: ID must come first", ids)
			}
			for how, id := range c.py {
				if !k.HasID(id) || !slices.Contains(ids, id) {
					t.Errorf("python's id %s (%s) is not an id of the key: IDs() = %v", id, how, ids)
				}
			}
			want := []string{c.id}
			for _, id := range c.py {
				want = append(want, id)
			}
			if got, want := slices.Sorted(slices.Values(ids)), slices.Compact(slices.Sorted(slices.Values(want))); !slices.Equal(got, want) {
				t.Errorf("IDs() = %v, want exactly ID and python's ids %v", ids, want)
			}
			ids[0] = "mutated"
			if k.IDs()[0] != c.id {
				t.Error("IDs() returns the key's own slice")
			}
		})
	}
}

// TestKeyIDsOthers: Ed25519 and RSA keys have one id (python trims their
// PEM, or hex-encodes the key, as in-toto-golang does); no key has the id
// of another, nor the empty id; a nil key has none.
func TestKeyIDsOthers(t *testing.T) {
	keys := map[string]*PublicKey{}
	for _, tk := range testKeys(t) {
		keys[tk.name] = tk.public(t)
	}
	for _, name := range []string{"ed25519", "rsa"} {
		if ids := keys[name].IDs(); !slices.Equal(ids, []string{keys[name].ID}) {
			t.Errorf("%s: IDs() = %v, want only ID", name, ids)
		}
	}
	for a, ka := range keys {
		if ka.HasID("") {
			t.Errorf("%s has the empty id", a)
		}
		for b, kb := range keys {
			for _, id := range kb.IDs() {
				if a != b && ka.HasID(id) {
					t.Errorf("%s has the id %s of %s", a, id, b)
				}
			}
		}
	}
	var nilKey *PublicKey
	if nilKey.IDs() != nil || nilKey.HasID(keys["rsa"].ID) {
		t.Error("a nil key has ids")
	}
}

// TestSignatureNamesKeyByAlias: a signature whose keyid is python's id of a
// key names that key, as its canonical id does: a malformed signature for it
// is reported as malformed, not as "no valid signature".
func TestSignatureNamesKeyByAlias(t *testing.T) {
	pub, err := ParsePublicKey([]byte(pythonP256PEM))
	if err != nil {
		t.Fatal(err)
	}
	alias := "655a445338a1c76695777411428482972b80b813377f91c9d31aa564118a2566"
	if !pub.HasID(alias) || pub.ID == alias {
		t.Fatalf("fixture: %s should be an alias of %s", alias, pub.ID)
	}
	payload := statementJSON("https://example.com/p", "", subject("a", sha256A))
	for _, id := range []string{pub.ID, alias} {
		env, err := ParseEnvelope(rawEnvelope(PayloadType, payload, Signature{KeyID: id, Sig: []byte{1, 2, 3}}), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = VerifySignatures(env, []*PublicKey{pub})
		var inErr *InputError
		if !errors.As(err, &inErr) || !errors.Is(err, ErrMalformedSignature) {
			t.Errorf("keyid %s: err = %v, want an *InputError wrapping ErrMalformedSignature", id, err)
		}
	}
}

package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestd/attestd/attestation"
)

// Public key files as python in-toto 1.3.1's in-toto-keygen (securesystemslib
// 0.26) wrote them, with the key ids it put in the matching private key files
// and in the signatures it made.
const (
	pyEd25519Pub = `{"keytype": "ed25519", "scheme": "ed25519", "keyid_hash_algorithms": ["sha256", "sha512"], "keyval": {"public": "87129ea5648f551bd32143174798397accd55c7ac26a29375aad7c8ff7b2e8ee"}}`
	pyEd25519ID  = "94c83641648c9ff4834aedce4a073ebf388510b6235bd904e9cd5da5bda5987c"
	pyECDSAPub   = `{"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", "keyid_hash_algorithms": ["sha256", "sha512"], "keyval": {"public": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsQtP6Wnj7G9uW1ffbv5EHgGLA8ee\nbYkF2SaffX6BYWGeT7SjehzTXQamsNzGY8m13Nq5B5JeNCzF8bq3k7bihQ==\n-----END PUBLIC KEY-----\n"}}`
	pyECDSAID    = "c66dc6b6e100d7baf43f90b38086505f37a75be797e32635069ab85b53340e3c"
)

// sslibJSON writes a securesystemslib JSON key file.
func sslibJSON(t *testing.T, keyType, scheme string, keyval map[string]string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keytype": keyType, "scheme": scheme,
		"keyid_hash_algorithms": []string{"sha256", "sha512"}, "keyval": keyval})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPublicKeyPEMFromPythonInToto(t *testing.T) {
	for _, c := range []struct {
		name, file, id, keyType string
	}{
		{"ed25519", pyEd25519Pub, pyEd25519ID, attestation.KeyTypeED25519},
		{"ecdsa", pyECDSAPub, pyECDSAID, attestation.KeyTypeECDSA},
	} {
		pemBytes, id, err := publicKeyPEM([]byte(c.file + "\n"))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if id != c.id {
			t.Errorf("%s: securesystemslib key id %s, python in-toto computed %s", c.name, id, c.id)
		}
		pk, err := attestation.ParsePublicKey(pemBytes)
		if err != nil || pk.KeyType != c.keyType {
			t.Fatalf("%s: converted PEM does not parse as a %s key (%v):\n%s", c.name, c.keyType, err, pemBytes)
		}
	}
	// The ed25519 key is the one in the file.
	pemBytes, _, _ := publicKeyPEM([]byte(pyEd25519Pub))
	block, _ := pem.Decode(pemBytes)
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil || hex.EncodeToString(pub.(ed25519.PublicKey)) != "87129ea5648f551bd32143174798397accd55c7ac26a29375aad7c8ff7b2e8ee" {
		t.Fatalf("converted ed25519 key: %v %x", err, pub)
	}
}

func TestPublicKeyPEM(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edHex := hex.EncodeToString(edPub)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pemOf := func(pub any) string {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	ecPEM, rsaPEM := pemOf(&ec384.PublicKey), pemOf(&rsaKey.PublicKey)

	good := []struct {
		name string
		file []byte
		want string // attestation.PublicKey.Fingerprint of the key
	}{
		{"ed25519", sslibJSON(t, "ed25519", "ed25519", map[string]string{"public": edHex}), pemOf(edPub)},
		{"ed25519 with an empty private", sslibJSON(t, "ed25519", "ed25519", map[string]string{"public": edHex, "private": ""}), pemOf(edPub)},
		{"ecdsa P-384", sslibJSON(t, "ecdsa", "ecdsa-sha2-nistp384", map[string]string{"public": ecPEM}), ecPEM},
		{"old ecdsa keytype", sslibJSON(t, "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256", map[string]string{"public": ecPEM}), ecPEM},
		{"rsa", sslibJSON(t, "rsa", "rsassa-pss-sha256", map[string]string{"public": rsaPEM}), rsaPEM},
	}
	for _, c := range good {
		got, id, err := publicKeyPEM(c.file)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		gk, err1 := attestation.ParsePublicKey(got)
		wk, err2 := attestation.ParsePublicKey([]byte(c.want))
		if err1 != nil || err2 != nil || gk.Fingerprint() != wk.Fingerprint() {
			t.Errorf("%s: converted to another key (%v, %v)", c.name, err1, err2)
		}
		if len(id) != 64 {
			t.Errorf("%s: key id %q", c.name, id)
		}
	}
	// PEM passes through untouched, with no securesystemslib id.
	if got, id, err := publicKeyPEM([]byte(rsaPEM)); err != nil || string(got) != rsaPEM || id != "" {
		t.Errorf("PEM input: %q %q %v", got, id, err)
	}

	bad := []struct {
		name string
		file []byte
		want string
	}{
		{"private key file", sslibJSON(t, "ed25519", "ed25519", map[string]string{"public": edHex, "private": edHex}), "private key given"},
		{"no public", sslibJSON(t, "ed25519", "ed25519", map[string]string{}), "without keyval.public"},
		{"short hex", sslibJSON(t, "ed25519", "ed25519", map[string]string{"public": edHex[:62]}), "32 bytes in hex"},
		{"ed25519 scheme", sslibJSON(t, "ed25519", "ed25519ph", map[string]string{"public": edHex}), `scheme "ed25519ph"`},
		{"rsa pkcs1v15", sslibJSON(t, "rsa", "rsa-pkcs1v15-sha256", map[string]string{"public": rsaPEM}), "rsassa-pss-sha256"},
		{"ecdsa scheme", sslibJSON(t, "ecdsa", "ed25519", map[string]string{"public": ecPEM}), "ecdsa-sha2-nistp256"},
		{"type mismatch", sslibJSON(t, "ecdsa", "ecdsa-sha2-nistp256", map[string]string{"public": rsaPEM}), "holds an rsa key"},
		{"bad PEM", sslibJSON(t, "rsa", "rsassa-pss-sha256", map[string]string{"public": "nope"}), "keyval.public"},
		{"unknown type", sslibJSON(t, "sphincs", "sphincs-shake-128s", map[string]string{"public": edHex}), `key type "sphincs"`},
		{"not JSON", []byte(`{"keytype": `), "not a securesystemslib JSON key"},
		{"trailing data", append(sslibJSON(t, "ed25519", "ed25519", map[string]string{"public": edHex}), []byte(` {}`)...), "trailing data"},
	}
	for _, c := range bad {
		if _, _, err := publicKeyPEM(c.file); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestKeyAddSecuresystemslibJSON: key add and key show take python in-toto's
// JSON key files; key add warns when attestd's key id is not the one python
// in-toto computes for the file.
func TestKeyAddSecuresystemslibJSON(t *testing.T) {
	server := startFake(t)
	dir := t.TempDir()
	for _, c := range []struct{ name, file, pyID string }{
		{"ed25519", pyEd25519Pub, pyEd25519ID},
		{"ecdsa", pyECDSAPub, pyECDSAID},
	} {
		path := filepath.Join(dir, c.name+".pub")
		writeTestFile(t, path, []byte(c.file))
		out, errOut, code := attest(t, append([]string{"key", "add", "--pub", path}, server...)...)
		if code != exitOK {
			t.Fatalf("%s: key add: exit %d: %s", c.name, code, errOut)
		}
		pemBytes, _, _ := publicKeyPEM([]byte(c.file))
		pk, err := attestation.ParsePublicKey(pemBytes)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != pk.ID {
			t.Errorf("%s: key add printed %q, want the server's id %s", c.name, out, pk.ID)
		}
		noted := strings.Contains(errOut, "python in-toto's id for it, "+c.pyID+", is accepted as another name")
		if noted != (pk.ID != c.pyID) {
			t.Errorf("%s: attestd id %s, python id %s; note printed: %v\n%s", c.name, pk.ID, c.pyID, noted, errOut)
		}
		if pk.ID != c.pyID && !pk.HasID(c.pyID) {
			t.Errorf("%s: python's id %s is not an alias of %s", c.name, c.pyID, pk.ID)
		}
		shown, errOut, code := attest(t, "key", "show", "--pub", path)
		if code != exitOK || !strings.Contains(shown, `"keyid": "`+pk.ID+`"`) {
			t.Errorf("%s: key show: exit %d\n%s%s", c.name, code, shown, errOut)
		}
	}
	private := filepath.Join(dir, "ed25519")
	writeTestFile(t, private, []byte(strings.Replace(pyEd25519Pub, `"keyval": {`, `"keyval": {"private": "`+strings.Repeat("ab", 32)+`", `, 1)))
	if _, errOut, code := attest(t, append([]string{"key", "add", "--pub", private}, server...)...); code != exitFailed ||
		!strings.Contains(errOut, "private key given where a public key is expected") {
		t.Errorf("private JSON key: exit %d: %s", code, errOut)
	}
}

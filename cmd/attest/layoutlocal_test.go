package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/in-toto/in-toto-golang/in_toto"

	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/verifier"
)

// keyFiles makes a key pair of each kind in dir, as users do: attest keygen,
// and, written by the test, RSA (which keygen does not make) in PKCS#8 and
// PKCS#1 and ECDSA in SEC 1 ("EC PRIVATE KEY").
// It returns the private key files by kind; the public keys are FILE.pub.
func keyFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, kind := range []string{"ed25519", "ecdsa-p256", "ecdsa-p384"} {
		f := filepath.Join(dir, kind+".pem")
		if _, errOut, code := attest(t, "keygen", "--out", f, "--type", kind); code != exitOK {
			t.Fatalf("keygen %s: exit %d: %s", kind, code, errOut)
		}
		files[kind] = f
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	for _, k := range []struct {
		kind, pemType string
		der           []byte
		pub           any
	}{
		{"rsa", "PRIVATE KEY", pkcs8, &rsaKey.PublicKey},
		{"rsa-pkcs1", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), &rsaKey.PublicKey},
		{"ecdsa-sec1", "EC PRIVATE KEY", sec1, &ecKey.PublicKey},
	} {
		pubDER, _ := x509.MarshalPKIXPublicKey(k.pub)
		f := filepath.Join(dir, k.kind+".pem")
		writeTestFile(t, f, pem.EncodeToMemory(&pem.Block{Type: k.pemType, Bytes: k.der}))
		writeTestFile(t, f+".pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
		files[k.kind] = f
	}
	return files
}

func writeTestFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// intotoLoad loads a key file as in-toto-golang does.
func intotoLoad(t *testing.T, path string) in_toto.Key {
	t.Helper()
	var k in_toto.Key
	if err := k.LoadKeyDefaults(path); err != nil {
		t.Fatalf("in-toto-golang cannot load %s: %v", path, err)
	}
	return k
}

func TestKeyShowMatchesInToto(t *testing.T) {
	dir := t.TempDir()
	for kind, priv := range keyFiles(t, dir) {
		pubFile := priv + ".pub"
		out, errOut, code := attest(t, "key", "show", "--pub", pubFile, "--format", "intoto")
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", kind, code, errOut)
		}
		want, err := json.MarshalIndent(intotoLoad(t, pubFile), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if out != string(want)+"\n" {
			t.Errorf("%s: attest key show printed\n%s\nin-toto-golang writes\n%s", kind, out, want)
		}
		pemBytes, _ := os.ReadFile(pubFile)
		pk, err := attestation.ParsePublicKey(pemBytes)
		if err != nil {
			t.Fatal(err)
		}
		var shown struct {
			KeyID string `json:"keyid"`
		}
		if err := json.Unmarshal([]byte(out), &shown); err != nil || shown.KeyID != pk.ID {
			t.Errorf("%s: key id %q (%v), attestation.ParsePublicKey says %s", kind, shown.KeyID, err, pk.ID)
		}
		// The default format is intoto; --format pem prints the PKIX PEM.
		if def, _, _ := attest(t, "key", "show", "--pub", pubFile); def != out {
			t.Errorf("%s: the default format is not intoto:\n%s", kind, def)
		}
		if p, _, code := attest(t, "key", "show", "--pub", pubFile, "--format", "pem"); code != exitOK || p != pk.PEM {
			t.Errorf("%s: --format pem: exit %d\n%s", kind, code, p)
		}
	}
}

// TestLayoutNewSignVerify runs layout new and layout sign as a user types
// them, in both formats and with every kind of owner key, and checks the
// result with attestd's own checks (what push runs) and with in-toto-golang.
func TestLayoutNewSignVerify(t *testing.T) {
	dir := t.TempDir()
	keys := keyFiles(t, dir)
	layoutFile := filepath.Join(dir, "layout.json")
	expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	out, errOut, code := attest(t, "layout", "new",
		"--step", "build:"+keys["ed25519"]+".pub",
		"--step", "test:"+keys["ecdsa-p256"]+".pub,"+keys["ecdsa-p384"]+".pub:2",
		"--step", "package:"+keys["rsa"]+".pub,"+keys["ed25519"]+".pub",
		"--expires", expires.Format(time.RFC3339), "--out", layoutFile)
	if code != exitOK || !strings.Contains(out, "3 step(s), 4 key(s)") || !strings.Contains(out, "attest layout sign") {
		t.Fatalf("layout new: exit %d\n%s%s", code, out, errOut)
	}
	layoutJSON, err := os.ReadFile(layoutFile)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(layoutFile); info.Mode().Perm() != 0o644 {
		t.Errorf("layout file mode %v, want 0644", info.Mode().Perm())
	}

	// attestd's parser accepts it.
	l, err := verifier.ParseLayout(layoutJSON)
	if err != nil {
		t.Fatalf("verifier.ParseLayout: %v\n%s", err, layoutJSON)
	}
	if !l.Expires.Equal(expires) || len(l.Steps) != 3 || len(l.Keys) != 4 {
		t.Fatalf("parsed layout %+v", l)
	}
	// in-toto-golang reads the same layout, with its own keys.
	var il in_toto.Layout
	if err := json.Unmarshal(layoutJSON, &il); err != nil {
		t.Fatalf("in_toto.Layout: %v", err)
	}
	wantSteps := []struct {
		name      string
		threshold int
		keys      []string
	}{
		{"build", 1, []string{"ed25519"}},
		{"test", 2, []string{"ecdsa-p256", "ecdsa-p384"}},
		{"package", 1, []string{"rsa", "ed25519"}},
	}
	if il.Type != "layout" || il.Expires != expires.Format(in_toto.ISO8601DateSchema) || len(il.Steps) != len(wantSteps) ||
		len(il.Inspect) != 0 || len(il.Keys) != 4 {
		t.Fatalf("in-toto layout %+v", il)
	}
	for i, want := range wantSteps {
		s := il.Steps[i]
		if s.Type != "step" || s.Name != want.name || s.Threshold != want.threshold || len(s.PubKeys) != len(want.keys) {
			t.Fatalf("step %d: %+v", i, s)
		}
		for j, kind := range want.keys {
			ik := intotoLoad(t, keys[kind]+".pub")
			if s.PubKeys[j] != ik.KeyID {
				t.Errorf("step %s key %d: %s, in-toto computes %s", s.Name, j, s.PubKeys[j], ik.KeyID)
			}
			got, _ := json.Marshal(il.Keys[ik.KeyID])
			wantKey, _ := json.Marshal(ik)
			if !bytes.Equal(got, wantKey) {
				t.Errorf("key %s in the layout:\n%s\nin-toto-golang loads\n%s", ik.KeyID, got, wantKey)
			}
		}
	}

	for _, format := range []string{"dsse", "metablock"} {
		for kind, owner := range keys {
			signedFile := filepath.Join(dir, "layout."+kind+"."+format)
			out, errOut, code := attest(t, "layout", "sign", "--key", owner, "--in", layoutFile, "--out", signedFile, "--format", format)
			if code != exitOK || !strings.Contains(out, "wrote "+signedFile) {
				t.Fatalf("layout sign %s %s: exit %d\n%s%s", format, kind, code, out, errOut)
			}
			signed, _ := os.ReadFile(signedFile)
			if info, _ := os.Stat(signedFile); info.Mode().Perm() != 0o644 {
				t.Errorf("%s %s: signed layout mode %v, want 0644", format, kind, info.Mode().Perm())
			}

			// What attestd checks at push.
			pubPEM, _ := os.ReadFile(owner + ".pub")
			ownerKey, err := attestation.ParsePublicKey(pubPEM)
			if err != nil {
				t.Fatal(err)
			}
			payload, signers, err := verifier.VerifyLayoutSignatures(signed, []*attestation.PublicKey{ownerKey})
			if err != nil || len(signers) != 1 || signers[0] != ownerKey.ID {
				t.Fatalf("%s %s: VerifyLayoutSignatures: %v, %v", format, kind, signers, err)
			}
			if _, err := verifier.ParseLayout(payload); err != nil {
				t.Fatalf("%s %s: ParseLayout of the signed payload: %v", format, kind, err)
			}
			if format == "dsse" && !bytes.Equal(payload, layoutJSON) {
				t.Errorf("%s: the DSSE payload is not the layout file's bytes", kind)
			}
			// Another key does not verify it.
			other := keys["ed25519"]
			if kind == "ed25519" {
				other = keys["rsa"]
			}
			otherPEM, _ := os.ReadFile(other + ".pub")
			otherKey, _ := attestation.ParsePublicKey(otherPEM)
			if _, _, err := verifier.VerifyLayoutSignatures(signed, []*attestation.PublicKey{otherKey}); err == nil {
				t.Errorf("%s %s: the layout verifies with another key", format, kind)
			}

			// What in-toto-golang checks, with its own key loading.
			md, err := in_toto.LoadMetadata(signedFile)
			if err != nil {
				t.Fatalf("%s %s: in_toto.LoadMetadata: %v", format, kind, err)
			}
			if err := md.VerifySignature(intotoLoad(t, owner+".pub")); err != nil {
				t.Errorf("%s %s: in-toto-golang does not verify the signature: %v", format, kind, err)
			}
			if _, ok := md.GetPayload().(in_toto.Layout); !ok {
				t.Errorf("%s %s: in-toto-golang reads a %T, not a layout", format, kind, md.GetPayload())
			}
		}
	}
}

func TestLayoutNewStdout(t *testing.T) {
	dir := t.TempDir()
	keys := keyFiles(t, dir)
	out, errOut, code := attest(t, "layout", "new", "--step", "build:"+keys["ed25519"]+".pub:1",
		"--expires", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := verifier.ParseLayout([]byte(out)); err != nil {
		t.Fatalf("ParseLayout: %v\n%s", err, out)
	}
}

func TestLayoutLocalErrors(t *testing.T) {
	dir := t.TempDir()
	keys := keyFiles(t, dir)
	ed, p256 := keys["ed25519"]+".pub", keys["ecdsa-p256"]+".pub"
	future := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	good := filepath.Join(dir, "good.json")
	if _, errOut, code := attest(t, "layout", "new", "--step", "build:"+ed, "--expires", future, "--out", good); code != exitOK {
		t.Fatalf("layout new: %s", errOut)
	}
	goodJSON, _ := os.ReadFile(good)
	edit := func(name string, f func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(goodJSON, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		p := filepath.Join(dir, name)
		writeTestFile(t, p, b)
		return p
	}
	expired := edit("expired.json", func(m map[string]any) { m["expires"] = "2020-01-01T00:00:00Z" })
	inspect := edit("inspect.json", func(m map[string]any) {
		m["inspect"] = []any{map[string]any{"_type": "inspection", "name": "x", "run": []any{"true"}}}
	})
	unknown := edit("unknown.json", func(m map[string]any) { m["extra"] = true })
	signedDSSE := filepath.Join(dir, "good.signed")
	if _, errOut, code := attest(t, "layout", "sign", "--key", keys["ed25519"], "--in", good, "--out", signedDSSE); code != exitOK {
		t.Fatalf("layout sign: %s", errOut)
	}
	out := filepath.Join(dir, "out")

	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"new without steps", []string{"layout", "new", "--expires", future}, exitUsage, "at least one --step"},
		{"new without expires", []string{"layout", "new", "--step", "b:" + ed}, exitUsage, "--expires is required"},
		{"new bad expires", []string{"layout", "new", "--step", "b:" + ed, "--expires", "tomorrow"}, exitUsage, "not an RFC 3339 time"},
		{"new expires in the past", []string{"layout", "new", "--step", "b:" + ed, "--expires", "2020-01-01T00:00:00Z"}, exitUsage, "is in the past"},
		{"new step without keys", []string{"layout", "new", "--step", "build", "--expires", future}, exitUsage, "want NAME:PUBFILE"},
		{"new step with empty key list", []string{"layout", "new", "--step", "build:,:1", "--expires", future}, exitUsage, "has no key files"},
		{"new threshold zero", []string{"layout", "new", "--step", "b:" + ed + ":0", "--expires", future}, exitUsage, "at least 1"},
		{"new threshold above keys", []string{"layout", "new", "--step", "b:" + ed + "," + p256 + ":3", "--expires", future}, exitUsage, "can never be met by the step's 2 key(s)"},
		{"new threshold not a number", []string{"layout", "new", "--step", "b:" + ed + ":two", "--expires", future}, exitUsage, "is not a number"},
		{"new duplicate steps", []string{"layout", "new", "--step", "b:" + ed, "--step", "b:" + p256, "--expires", future}, exitUsage, `step "b" is given twice`},
		{"new key twice in a step", []string{"layout", "new", "--step", "b:" + ed + "," + ed, "--expires", future}, exitUsage, "twice"},
		{"new missing key file", []string{"layout", "new", "--step", "b:" + filepath.Join(dir, "nope.pub"), "--expires", future}, exitFailed, "no such file"},
		{"new private key as pubfile", []string{"layout", "new", "--step", "b:" + keys["ed25519"], "--expires", future}, exitFailed, "private key"},
		{"new existing out", []string{"layout", "new", "--step", "b:" + ed, "--expires", future, "--out", good}, exitFailed, "exists; use --force"},

		{"sign without key", []string{"layout", "sign", "--in", good, "--out", out}, exitUsage, "--key is required"},
		{"sign without in", []string{"layout", "sign", "--key", keys["ed25519"], "--out", out}, exitUsage, "--in is required"},
		{"sign without out", []string{"layout", "sign", "--key", keys["ed25519"], "--in", good}, exitUsage, "--out is required"},
		{"sign unknown format", []string{"layout", "sign", "--key", keys["ed25519"], "--in", good, "--out", out, "--format", "pgp"}, exitUsage, "unknown --format"},
		{"sign with a public key", []string{"layout", "sign", "--key", ed, "--in", good, "--out", out}, exitFailed, "public key"},
		{"sign existing out", []string{"layout", "sign", "--key", keys["ed25519"], "--in", good, "--out", signedDSSE}, exitFailed, "exists; use --force"},
		{"sign expired layout", []string{"layout", "sign", "--key", keys["ed25519"], "--in", expired, "--out", out}, exitFailed, "expired"},
		{"sign layout with inspections", []string{"layout", "sign", "--key", keys["ed25519"], "--in", inspect, "--out", out}, exitFailed, "inspect"},
		{"sign layout with unknown field", []string{"layout", "sign", "--key", keys["ed25519"], "--in", unknown, "--out", out}, exitFailed, "extra"},
		{"sign a signed layout", []string{"layout", "sign", "--key", keys["ed25519"], "--in", signedDSSE, "--out", out}, exitFailed, "already signed"},

		{"show without pub", []string{"key", "show"}, exitUsage, "--pub is required"},
		{"show unknown format", []string{"key", "show", "--pub", ed, "--format", "jwk"}, exitUsage, "unknown --format"},
		{"show private key", []string{"key", "show", "--pub", keys["ed25519"]}, exitFailed, "private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := attest(t, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("attest %s: exit %d, want %d; stderr:\n%s(want %q)", strings.Join(tt.args, " "), code, tt.code, errOut, tt.wantErr)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused command wrote its output file")
	}

	// --force overwrites.
	before, _ := os.ReadFile(signedDSSE)
	if _, errOut, code := attest(t, "layout", "sign", "--key", keys["ecdsa-p256"], "--in", good, "--out", signedDSSE, "--force"); code != exitOK {
		t.Fatalf("sign --force: %s", errOut)
	}
	if after, _ := os.ReadFile(signedDSSE); bytes.Equal(before, after) {
		t.Error("sign --force did not overwrite")
	}
}

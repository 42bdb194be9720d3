package attestation

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	intoto "github.com/in-toto/in-toto-golang/in_toto"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// TestDSSEFromSecuresystemslib: envelopes signed by securesystemslib's DSSE
// signer with every key type parse, verify and yield the statement.
func TestDSSEFromSecuresystemslib(t *testing.T) {
	payload := statementJSON(PredicateSLSAProvenanceV1,
		`{"buildDefinition":{"buildType":"x","resolvedDependencies":[{"uri":"git+https://example.com/r","digest":{"gitCommit":"`+sha256A[:40]+`"}}]}}`,
		subject("out/app", sha256A))
	for _, k := range testKeys(t) {
		t.Run(k.name, func(t *testing.T) {
			b := signDSSE(t, PayloadType, payload, k)
			env, err := ParseEnvelope(b, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if env.Format != FormatDSSE || env.PayloadType != PayloadType || !bytes.Equal(env.Payload, payload) {
				t.Fatalf("envelope = %+v", env)
			}
			if !bytes.Equal(env.SignedBytes, dsse.PAE(PayloadType, payload)) {
				t.Fatal("SignedBytes is not the PAE")
			}
			pub := k.public(t)
			if env.Signatures[0].KeyID != pub.ID {
				t.Errorf("securesystemslib keyid %s, ParsePublicKey ID %s", env.Signatures[0].KeyID, pub.ID)
			}
			ids, err := VerifySignatures(env, []*PublicKey{pub})
			if err != nil || !slices.Equal(ids, []string{pub.ID}) {
				t.Fatalf("VerifySignatures = %v, %v", ids, err)
			}
			st, err := ParseStatement(env.Payload, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if st.Subjects[0].Name != "out/app" || len(st.Materials) != 1 || st.Materials[0].URI != "git+https://example.com/r" {
				t.Errorf("statement = %+v", st)
			}
		})
	}
}

// inTotoKey loads a private key the way in-toto-golang's tools do.
func inTotoKey(t testing.TB, k *testKey) intoto.Key {
	t.Helper()
	var key intoto.Key
	if err := key.LoadKeyReaderDefaults(bytes.NewReader(k.privatePEM)); err != nil {
		t.Fatal(err)
	}
	return key
}

// runInToto records a link with in-toto-golang's InTotoRun, running a real
// command whose output lands in byproducts, and returns the file it dumps.
func runInToto(t testing.TB, k *testKey, useDSSE bool) []byte {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll("src", 0o755))
	must(os.WriteFile("src/main.c", []byte("int main(){}\n"), 0o644))
	must(os.WriteFile("src/ünï.h", []byte("x"), 0o644))
	md, err := intoto.InTotoRun("build", "", []string{"src"}, []string{"out"},
		[]string{"sh", "-c", "mkdir -p out && cp src/main.c out/app && printf 'built\\n\\ttab <&>\\n'"},
		inTotoKey(t, k), []string{"sha256", "sha512"}, nil, nil, false, false, useDSSE)
	must(err)
	path := filepath.Join(dir, "build.link")
	must(md.Dump(path))
	b, err := os.ReadFile(path)
	must(err)
	return b
}

// TestInTotoGolangLinks: classic links as in-toto-golang writes them, in a
// metablock and wrapped in DSSE, parse and verify with every key type.
func TestInTotoGolangLinks(t *testing.T) {
	for _, k := range testKeys(t) {
		for _, useDSSE := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/dsse=%v", k.name, useDSSE), func(t *testing.T) {
				b := runInToto(t, k, useDSSE)
				env, err := ParseEnvelope(b, Limits{})
				if err != nil {
					t.Fatalf("ParseEnvelope: %v\n%s", err, b)
				}
				wantFormat := FormatMetablock
				if useDSSE {
					wantFormat = FormatDSSE
				}
				if env.Format != wantFormat {
					t.Errorf("format %v, want %v", env.Format, wantFormat)
				}
				pub := k.public(t)
				if ids, err := VerifySignatures(env, []*PublicKey{pub}); err != nil || !slices.Equal(ids, []string{pub.ID}) {
					t.Fatalf("VerifySignatures = %v, %v", ids, err)
				}
				st, err := ParseStatement(env.Payload, Limits{})
				if err != nil {
					t.Fatalf("ParseStatement: %v\n%s", err, env.Payload)
				}
				if st.Type != TypeLink || st.Step != "build" || st.PredicateType != "" {
					t.Errorf("statement = %+v", st)
				}
				if len(st.Subjects) != 1 || st.Subjects[0].Name != "out/app" || len(st.Subjects[0].Digest) != 2 {
					t.Errorf("subjects = %+v", st.Subjects)
				}
				if len(st.Materials) != 2 || st.Materials[0].Name != "src/main.c" || st.Materials[1].Name != "src/ünï.h" {
					t.Errorf("materials = %+v", st.Materials)
				}
				// in-toto-golang's DSSE payload is OLPC canonical JSON, which
				// writes the newline of the command's stdout unescaped (its own
				// LoadMetadata then fails to read the file back).
				if useDSSE && !bytes.Contains(env.Payload, []byte("built\n")) {
					t.Errorf("expected a raw newline in the canonical payload:\n%s", env.Payload)
				}
				if len(st.Command) != 3 || st.Command[0] != "sh" {
					t.Errorf("command = %q", st.Command)
				}
			})
		}
	}
}

// TestMetablockSignedBytes: SignedBytes of a metablock is what in-toto-golang
// signs, and tampering with "signed" breaks the signature.
func TestMetablockSignedBytes(t *testing.T) {
	k := keyByName(t, "ed25519")
	mb := intoto.Metablock{Signed: intoto.Link{Type: "link", Name: "test", Command: []string{"go", "test"},
		Materials: map[string]intoto.HashObj{"go.mod": {"sha256": sha256A}}, Products: map[string]intoto.HashObj{},
		ByProducts: map[string]any{"return-value": 0, "stdout": "ok\n"}, Environment: map[string]any{}}}
	if err := mb.Sign(inTotoKey(t, k)); err != nil {
		t.Fatal(err)
	}
	want, err := mb.GetSignableRepresentation()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(mb, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	env, err := ParseEnvelope(b, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(env.SignedBytes, want) || !bytes.Equal(env.Payload, want) {
		t.Fatalf("SignedBytes\n%s\nwant\n%s", env.SignedBytes, want)
	}
	st, err := ParseStatement(env.Payload, Limits{})
	if err != nil || st.Step != "test" || len(st.Subjects) != 0 || len(st.Materials) != 1 {
		t.Fatalf("ParseStatement = %+v, %v", st, err)
	}
	tampered := bytes.Replace(b, []byte(`"test"`), []byte(`"tesT"`), 1)
	env, err = ParseEnvelope(tampered, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = VerifySignatures(env, []*PublicKey{k.public(t)})
	wantErr(t, err, "nosig", "checked 1 signature(s) against 1 key(s)")
}

func TestParseEnvelopeErrors(t *testing.T) {
	k := keyByName(t, "ed25519")
	payload := statementJSON("https://example.com/p", "", subject("a", sha256A))
	good := signDSSE(t, PayloadType, payload, k)
	b64 := base64.StdEncoding.EncodeToString(payload)
	sig := base64.StdEncoding.EncodeToString(make([]byte, 64))
	dsseJSON := func(typ, payload, sigs string) []byte {
		return fmt.Appendf(nil, `{"payloadType":%q,"payload":%q,"signatures":%s}`, typ, payload, sigs)
	}
	manySigs := "[" + strings.Repeat(`{"keyid":"k","sig":"`+sig+`"},`, 999) + `{"sig":"` + sig + `"}]`
	tests := []struct {
		name  string
		in    []byte
		lim   Limits
		want  string
		frags []string
	}{
		{"good", good, Limits{}, "", nil},
		{"not JSON", []byte("payloadType: x"), Limits{}, "input", []string{"envelope", "invalid JSON"}},
		{"JSON array", []byte(`[]`), Limits{}, "input", []string{"not a JSON object"}},
		{"neither shape", []byte(`{"signatures":[]}`), Limits{}, "input", []string{"neither a DSSE envelope"}},
		{"duplicate top-level key", bytes.Replace(good, []byte(`{"payloadType"`), []byte(`{"payload":"","payloadType"`), 1), Limits{}, "input", []string{`duplicate key "payload"`}},
		{"duplicate key in signature", dsseJSON(PayloadType, b64, `[{"sig":"`+sig+`","sig":"`+sig+`"}]`), Limits{}, "input", []string{`duplicate key "sig"`}},
		{"invalid UTF-8", append(bytes.TrimSuffix(slices.Clone(good), []byte("}")), []byte(",\"x\":\"\xc0\xaf\"}")...), Limits{}, "input", []string{"invalid UTF-8"}},
		{"trailing bytes", append(slices.Clone(good), []byte("\n{}")...), Limits{}, "input", []string{"trailing data"}},
		{"trailing whitespace is fine", append(slices.Clone(good), []byte(" \n")...), Limits{}, "", nil},
		{"wrong payloadType", dsseJSON("application/json", b64, `[{"sig":"`+sig+`"}]`), Limits{}, "input", []string{"payloadType", `"application/json" is not application/vnd.in-toto+json`}},
		{"payloadType case", dsseJSON("Application/vnd.in-toto+json", b64, `[{"sig":"`+sig+`"}]`), Limits{}, "input", []string{"payloadType"}},
		{"missing payloadType", []byte(`{"payload":"` + b64 + `","signatures":[{"sig":"` + sig + `"}]}`), Limits{}, "input", []string{"payloadType: missing"}},
		{"payloadType not a string", []byte(`{"payloadType":1,"payload":"` + b64 + `","signatures":[{"sig":"` + sig + `"}]}`), Limits{}, "input", []string{"payloadType: is a number"}},
		{"payload not base64", dsseJSON(PayloadType, "!!!", `[{"sig":"`+sig+`"}]`), Limits{}, "input", []string{"payload: is not base64"}},
		{"payload with line break", dsseJSON(PayloadType, b64[:8]+"\n"+b64[8:], `[{"sig":"`+sig+`"}]`), Limits{}, "input", []string{"payload", "line break"}},
		{"payload mixed alphabets", dsseJSON(PayloadType, "ab+_", `[{"sig":"`+sig+`"}]`), Limits{}, "input", []string{"payload", "mixes"}},
		{"payload empty", dsseJSON(PayloadType, "", `[{"sig":"`+sig+`"}]`), Limits{}, "input", []string{"payload: is empty"}},
		{"payload url-safe unpadded", dsseJSON(PayloadType, base64.RawURLEncoding.EncodeToString(payload), `[{"sig":"`+sig+`"}]`), Limits{}, "", nil},
		{"no signatures member", []byte(`{"payloadType":"` + PayloadType + `","payload":"` + b64 + `"}`), Limits{}, "input", []string{"signatures: missing"}},
		{"no signatures", dsseJSON(PayloadType, b64, `[]`), Limits{}, "input", []string{"signatures: is empty"}},
		{"signatures null", dsseJSON(PayloadType, b64, `null`), Limits{}, "input", []string{"signatures: is null"}},
		{"signature not an object", dsseJSON(PayloadType, b64, `["x"]`), Limits{}, "input", []string{"signatures[0]: is a string"}},
		{"empty sig", dsseJSON(PayloadType, b64, `[{"keyid":"k","sig":""}]`), Limits{}, "input", []string{"signatures[0].sig: is empty"}},
		{"missing sig", dsseJSON(PayloadType, b64, `[{"keyid":"k"}]`), Limits{}, "input", []string{"signatures[0].sig: missing"}},
		{"sig not base64", dsseJSON(PayloadType, b64, `[{"sig":"`+sig+`"},{"sig":"@@"}]`), Limits{}, "input", []string{"signatures[1].sig: is not base64"}},
		{"keyid not a string", dsseJSON(PayloadType, b64, `[{"keyid":7,"sig":"`+sig+`"}]`), Limits{}, "input", []string{"signatures[0].keyid"}},
		{"1000 signatures", dsseJSON(PayloadType, b64, manySigs), Limits{}, "limit", []string{"signatures: 1000 exceeds the limit of 16 (max-signatures)"}},
		{"over-size envelope", good, Limits{MaxEnvelopeBytes: len(good) - 1}, "limit", []string{"envelope bytes", "(max-envelope-bytes)"}},
		{"nested deeper than the limit", dsseJSON(PayloadType, b64, `[{"sig":"`+sig+`","x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}]`), Limits{}, "limit", []string{"max-json-depth"}},
		{"both shapes", []byte(`{"payloadType":"` + PayloadType + `","payload":"` + b64 + `","signed":{},"signatures":[{"sig":"` + sig + `"}]}`), Limits{}, "input", []string{"both"}},
		{"unknown DSSE member ignored", dsseJSON(PayloadType, b64, `[{"sig":"`+sig+`","extra":1}]`), Limits{}, "", nil},
		{"metablock", []byte(`{"signed":{"_type":"link","name":"x"},"signatures":[{"keyid":"k","sig":"0a0b"}]}`), Limits{}, "", nil},
		{"metablock signed not an object", []byte(`{"signed":"x","signatures":[{"sig":"0a"}]}`), Limits{}, "input", []string{"signed: is a string"}},
		{"metablock uppercase hex sig", []byte(`{"signed":{},"signatures":[{"keyid":"k","sig":"0A0B"}]}`), Limits{}, "input", []string{"signatures[0].sig: is not lowercase hex"}},
		{"metablock odd hex sig", []byte(`{"signed":{},"signatures":[{"keyid":"k","sig":"0a0"}]}`), Limits{}, "input", []string{"signatures[0].sig"}},
		{"metablock float", []byte(`{"signed":{"n":1.5},"signatures":[{"sig":"0a"}]}`), Limits{}, "input", []string{"signed", "1.5", "integer"}},
		{"metablock unknown member", []byte(`{"signed":{},"signatures":[{"sig":"0a"}],"x":1}`), Limits{}, "input", []string{`unknown member "x"`}},
		{"metablock no signatures", []byte(`{"signed":{},"signatures":[]}`), Limits{}, "input", []string{"signatures: is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseEnvelope(tt.in, tt.lim)
			wantErr(t, err, tt.want, tt.frags...)
		})
	}
}

func TestDecodeBase64(t *testing.T) {
	raw := []byte{0xfb, 0xff, 0xbf, 0x01}
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
	} {
		got, err := decodeBase64(s)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("decodeBase64(%q) = %x, %v", s, got, err)
		}
	}
	for _, s := range []string{"AQ=", "AR==", "A", " AQ==", "AQ==\n", "+_AA"} {
		if _, err := decodeBase64(s); err == nil {
			t.Errorf("decodeBase64(%q) succeeded", s)
		}
	}
}

func TestDecodeLowerHex(t *testing.T) {
	if b, err := decodeLowerHex("00ff"); err != nil || hex.EncodeToString(b) != "00ff" {
		t.Errorf("decodeLowerHex = %x, %v", b, err)
	}
}

package attestation

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// Every parser of this package is fuzzed: no input may make it panic, and
// what it accepts must satisfy the package's promises. Run one with, e.g.,
//
//	go test ./attestation -run '^$' -fuzz FuzzParseEnvelope -fuzztime 20s

// checkKind fails unless err is nil or one of the package's error kinds.
func checkKind(t *testing.T, err error) {
	t.Helper()
	var ie *InputError
	var le *LimitError
	if err != nil && !errors.As(err, &ie) && !errors.As(err, &le) {
		t.Fatalf("error of unexpected type %T: %v", err, err)
	}
}

func FuzzParseEnvelope(f *testing.F) {
	payload := statementJSON(PredicateLinkV03, `{"name":"b","materials":[`+subject("m", sha256B)+`]}`, subject("a", sha256A))
	for _, k := range testKeys(f) {
		f.Add(signDSSE(f, PayloadType, payload, k))
	}
	f.Add(runInToto(f, keyByName(f, "ed25519"), false))
	f.Add(runInToto(f, keyByName(f, "ecdsa-p256"), true))
	f.Add([]byte(`{"signed":{"_type":"link","name":"x","n":-0,"s":"\u0000\"\\"},"signatures":[{"keyid":"k","sig":"0a0b"}]}`))
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30","signatures":[{"sig":"AA=="}]}`))
	keys := []*PublicKey{keyByName(f, "ed25519").public(f), keyByName(f, "ecdsa-p384").public(f)}
	lim := Limits{MaxSignatures: 4, MaxJSONDepth: 8}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := ParseEnvelope(b, lim)
		checkKind(t, err)
		if err != nil {
			return
		}
		if len(env.Signatures) == 0 || len(env.Signatures) > 4 {
			t.Fatalf("%d signatures accepted", len(env.Signatures))
		}
		for _, s := range env.Signatures {
			if len(s.Sig) == 0 {
				t.Fatal("empty signature accepted")
			}
		}
		switch env.Format {
		case FormatDSSE:
			if env.PayloadType != PayloadType || !bytes.Equal(env.SignedBytes, dsse.PAE(PayloadType, env.Payload)) {
				t.Fatal("DSSE SignedBytes is not the PAE of the payload")
			}
		case FormatMetablock:
			// The canonical form is a fixed point.
			v, err := parseJSON(env.Payload, jsonOptions{field: "p", maxDepth: 8, rawControl: true})
			if err != nil {
				t.Fatalf("canonical payload does not parse: %v\n%q", err, env.Payload)
			}
			again, err := canonicalJSON(v)
			if err != nil || !bytes.Equal(again, env.Payload) {
				t.Fatalf("canonical form not stable: %q vs %q (%v)", again, env.Payload, err)
			}
		default:
			t.Fatalf("format %v", env.Format)
		}
		if _, err := VerifySignatures(env, keys); err != nil {
			var ie *InputError
			if !errors.Is(err, ErrNoValidSignature) && !errors.As(err, &ie) {
				t.Fatalf("VerifySignatures: unexpected error %v", err)
			}
		}
	})
}

func FuzzParseStatement(f *testing.F) {
	f.Add(statementJSON(PredicateLinkV03, `{"name":"b","command":["x"],"materials":[`+subject("m", sha256B)+`]}`, subject("a", sha256A)))
	f.Add(statementJSON(PredicateSLSAProvenanceV1, `{"buildDefinition":{"resolvedDependencies":[{"uri":"git+https://x","digest":{"gitCommit":"`+sha256A[:40]+`"}}]}}`, subject("a/b", sha256A)))
	f.Add(statementJSON("https://example.com/p", "", subject("pkg:deb/x@1", sha256A), `{"digest":{"blake3":"x"}}`))
	f.Add([]byte(`{"_type":"link","name":"b","command":["cc"],"materials":{"a.c":{"sha256":"` + sha256A + `"}},"products":{"a.o":{"sha512":"` + strings.Repeat("ab", 64) + `"}},"byproducts":{"stdout":"x
"},"environment":{}}`))
	lim := Limits{MaxSubjects: 50, MaxMaterials: 50, MaxJSONDepth: 10, MaxNameBytes: 64}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStatement(b, lim)
		checkKind(t, err)
		if err != nil {
			return
		}
		if st.Type != TypeLink && len(st.Subjects) == 0 {
			t.Fatal("statement without subjects accepted")
		}
		if len(st.Subjects) > 50 || len(st.Materials) > 50 {
			t.Fatal("over the limits")
		}
		for _, d := range append(append([]Descriptor{}, st.Subjects...), st.Materials...) {
			if d.Name != "" {
				if err := CheckName(d.Name, lim); err != nil {
					t.Fatalf("accepted name fails CheckName: %v", err)
				}
			}
			for alg, v := range d.Digest {
				if _, _, err := ParseDigest(alg + ":" + v); err != nil {
					t.Fatalf("accepted digest fails ParseDigest: %v", err)
				}
			}
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	for _, k := range testKeys(f) {
		f.Add(k.publicPEM)
		f.Add(k.privatePEM)
	}
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParsePublicKey(b)
		checkKind(t, err)
		if err != nil {
			return
		}
		again, err := ParsePublicKey([]byte(k.PEM))
		if err != nil || again.ID != k.ID || again.Fingerprint() != k.Fingerprint() || again.PEM != k.PEM {
			t.Fatalf("normalized PEM does not round-trip: %v", err)
		}
		for _, sig := range [][]byte{nil, make([]byte, 64), make([]byte, 256), {0x30, 6, 2, 1, 0, 2, 1, 0}} {
			if err := k.Verify([]byte("m"), sig); err == nil {
				t.Fatal("a made-up signature verified")
			}
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	f.Add("sha256:" + sha256A)
	f.Add("gitCommit:" + sha256A[:40])
	f.Add("blake3:abc:def")
	f.Add("SHA256:" + sha256A)
	f.Fuzz(func(t *testing.T, s string) {
		alg, value, err := ParseDigest(s)
		checkKind(t, err)
		if err != nil {
			return
		}
		if alg+":"+value != s || strings.ContainsAny(value, " \t\r\n") || value == "" {
			t.Fatalf("ParseDigest(%q) = %q, %q", s, alg, value)
		}
		if _, ok := hexLengths[alg]; ok && strings.ToLower(value) != value {
			t.Fatalf("uppercase value accepted: %q", s)
		}
	})
}

// FuzzJSONDifferential: whatever the strict reader accepts, encoding/json
// accepts too and reads as the same value.
func FuzzJSONDifferential(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,"x\u00e9\ud83d\ude00",true,null]}`, `[]`, `"\/"`, `{"a":{"b":{}}}`, `-0.0e-0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseJSON(b, jsonOptions{field: "f", maxDepth: 16})
		checkKind(t, err)
		if err != nil {
			// A syntax error must be one for encoding/json too, except for
			// the lone surrogates it replaces with U+FFFD.
			msg := err.Error()
			if json.Valid(b) && utf8.Valid(b) && strings.Contains(msg, "invalid JSON") && !strings.Contains(msg, "surrogate") {
				t.Fatalf("we refuse valid JSON: %v\n%q", err, b)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("encoding/json finds invalid what we accept: %q", b)
		}
		var want any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("encoding/json refuses what we accept: %v", err)
		}
		if got := toAny(v); !reflect.DeepEqual(got, want) {
			t.Fatalf("read differently:\n ours %#v\n json %#v", got, want)
		}
	})
}

// toAny converts a value tree to what encoding/json decodes with UseNumber.
func toAny(v *value) any {
	switch v.kind {
	case kindNull:
		return nil
	case kindBool:
		return v.str == "true"
	case kindNumber:
		return json.Number(v.str)
	case kindString:
		return v.str
	case kindArray:
		out := make([]any, len(v.kids))
		for i := range v.kids {
			out[i] = toAny(&v.kids[i])
		}
		return out
	default:
		out := make(map[string]any, len(v.kids))
		for i := range v.kids {
			out[v.kids[i].key] = toAny(&v.kids[i])
		}
		return out
	}
}

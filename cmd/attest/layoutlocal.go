package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/in-toto/in-toto-golang/in_toto"

	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
	"github.com/attestd/attestd/verifier"
)

// This file holds the layout commands that need no server: key show, layout
// new and layout sign. What they write is checked with the verifier package,
// the code attestd runs at push, so that a layout they make is one push accepts.

// intotoKey is a public key as in-toto-golang's in_toto.Key serializes it:
// the same members in the same order, without the private part.
type intotoKey struct {
	KeyID               string       `json:"keyid"`
	KeyIDHashAlgorithms []string     `json:"keyid_hash_algorithms"`
	KeyType             string       `json:"keytype"`
	KeyVal              intotoKeyVal `json:"keyval"`
	Scheme              string       `json:"scheme"`
}

type intotoKeyVal struct {
	Public string `json:"public"`
}

// toIntotoKey returns k as in-toto-golang's LoadKeyDefaults loads its PEM:
// Ed25519 keys in hex, others as trimmed PKIX PEM, and the scheme
// ecdsa-sha2-nistp256 for every ECDSA key, P-384 included (in-toto-golang's
// default, over which the key id is computed; see attestation.PublicKey.ID).
func toIntotoKey(k *attestation.PublicKey) (intotoKey, error) {
	out := intotoKey{KeyID: k.ID, KeyIDHashAlgorithms: []string{"sha256", "sha512"}, KeyType: k.KeyType, Scheme: k.Scheme}
	switch k.KeyType {
	case attestation.KeyTypeED25519:
		block, _ := pem.Decode([]byte(k.PEM))
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return out, err
		}
		raw, ok := pub.(ed25519.PublicKey)
		if !ok {
			return out, fmt.Errorf("key %s is not an ed25519 key", k.ID)
		}
		out.KeyVal.Public = hex.EncodeToString(raw)
	case attestation.KeyTypeECDSA:
		out.Scheme = attestation.SchemeECDSAP256
		out.KeyVal.Public = strings.TrimSpace(k.PEM)
	default:
		out.KeyVal.Public = strings.TrimSpace(k.PEM)
	}
	return out, nil
}

// loadPublicKey reads a public key file (PKIX PEM, a certificate, or a
// securesystemslib JSON public key).
func loadPublicKey(path string) (*attestation.PublicKey, error) {
	raw, err := readFile(path, maxKeyFile)
	if err != nil {
		return nil, err
	}
	b, _, err := publicKeyPEM(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	k, err := attestation.ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func keyShowCommand() *command {
	return &command{
		name: "key show", args: "--pub FILE [--format intoto|pem]",
		summary: "print a public key as in-toto writes it in a layout",
		help: `Prints the public key in FILE (PKIX PEM, a certificate whose key is taken, or
a securesystemslib JSON public key as python in-toto writes them) without
contacting attestd. With --format intoto (the default), prints the JSON
object in-toto puts in a layout's "keys": keyid, keyid_hash_algorithms,
keytype, keyval.public and scheme, exactly as in-toto-golang writes them (an
ECDSA key has the scheme ecdsa-sha2-nistp256 whatever its curve, as in-toto's
key ids assume). With --format pem, prints the key re-encoded as PKIX PEM.`,
		example: "attest key show --pub build.key.pub --format intoto",
		run:     cmdKeyShow,
	}
}

func cmdKeyShow(e *env, args []string) error {
	fs := e.newFlagSet()
	pubFile := fs.String("pub", "", "the public key `FILE` (PEM, or securesystemslib JSON)")
	format := fs.String("format", "intoto", "output `FORMAT`: intoto or pem")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	if *pubFile == "" {
		return usageError(e.cmdName(), "--pub is required")
	}
	if *format != "intoto" && *format != "pem" {
		return usageError(e.cmdName(), "unknown --format %q (want intoto or pem)", *format)
	}
	k, err := loadPublicKey(*pubFile)
	if err != nil {
		return failed("key show: %v", err)
	}
	if *format == "pem" {
		return e.printf("%s", k.PEM)
	}
	ik, err := toIntotoKey(k)
	if err != nil {
		return failed("key show: %s: %v", *pubFile, err)
	}
	return e.printJSON(ik)
}

// startLayout is the "signed" part of a new layout, members in the order
// in-toto's documentation shows them.
type startLayout struct {
	Type    string               `json:"_type"`
	Expires string               `json:"expires"`
	Readme  string               `json:"readme"`
	Keys    map[string]intotoKey `json:"keys"`
	Steps   []startStep          `json:"steps"`
	Inspect []any                `json:"inspect"`
}

type startStep struct {
	Type              string     `json:"_type"`
	Name              string     `json:"name"`
	Threshold         int        `json:"threshold"`
	PubKeys           []string   `json:"pubkeys"`
	ExpectedCommand   []string   `json:"expected_command"`
	ExpectedMaterials [][]string `json:"expected_materials"`
	ExpectedProducts  [][]string `json:"expected_products"`
}

func layoutNewCommand() *command {
	return &command{
		name: "layout new", args: "--step NAME:PUBFILE[,PUBFILE...][:THRESHOLD]... --expires RFC3339 [--out FILE] [--force]",
		summary: "write a starting in-toto layout for the given steps and keys",
		help: `Writes the unsigned part of an in-toto layout, without contacting attestd: one
step per --step, in the order given, each with the functionary keys read from
its PUBFILEs (public keys in PEM) embedded in "keys" as in-toto writes them,
and the threshold of distinct keys that must sign the step (default 1, at most
the number of its keys). A step name cannot contain ':'.

The steps have no rules yet: every step accepts any materials and products.
Add expected_command, expected_materials and expected_products (in-toto
artifact rules such as ["MATCH", "*", "WITH", "PRODUCTS", "FROM", "build"]),
then sign the layout with 'attest layout sign' and push it with 'attest layout
push'. The layout is written to FILE (mode 0644; an existing one only with
--force), or to standard output without --out.`,
		example: `attest layout new --step build:build.key.pub --step test:ci1.pub,ci2.pub:2 \
    --expires 2027-06-30T00:00:00Z --out release.layout.json`,
		run: cmdLayoutNew,
	}
}

// stepSpec is one --step of layout new.
type stepSpec struct {
	name      string
	pubFiles  []string
	threshold int
}

// parseStepSpec reads NAME:PUBFILE[,PUBFILE...][:THRESHOLD].
func parseStepSpec(s string) (stepSpec, error) {
	name, rest, ok := strings.Cut(s, ":")
	if !ok || name == "" || rest == "" {
		return stepSpec{}, fmt.Errorf("--step %q: want NAME:PUBFILE[,PUBFILE...][:THRESHOLD]", s)
	}
	spec := stepSpec{name: name, threshold: 1}
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		t, err := strconv.Atoi(rest[i+1:])
		if err != nil {
			return stepSpec{}, fmt.Errorf("--step %q: threshold %q is not a number", s, rest[i+1:])
		}
		spec.threshold, rest = t, rest[:i]
	}
	spec.pubFiles = splitList(rest)
	if len(spec.pubFiles) == 0 {
		return stepSpec{}, fmt.Errorf("--step %q: step %q has no key files", s, name)
	}
	if spec.threshold < 1 {
		return stepSpec{}, fmt.Errorf("--step %q: threshold %d: a threshold must be at least 1", s, spec.threshold)
	}
	if spec.threshold > len(spec.pubFiles) {
		return stepSpec{}, fmt.Errorf("--step %q: threshold %d can never be met by the step's %d key(s)", s, spec.threshold, len(spec.pubFiles))
	}
	return spec, nil
}

func cmdLayoutNew(e *env, args []string) error {
	fs := e.newFlagSet()
	var steps listFlag
	fs.Var(&steps, "step", "a step `NAME:PUBFILE[,PUBFILE...][:THRESHOLD]`; repeat for each step, in order")
	expires := fs.String("expires", "", "the layout expires at `TIME` (RFC 3339, in the future)")
	out := fs.String("out", "", "write the layout to `FILE` (default: standard output)")
	force := fs.Bool("force", false, "overwrite FILE if it exists")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	if len(steps) == 0 {
		return usageError(e.cmdName(), "at least one --step is required")
	}
	if *expires == "" {
		return usageError(e.cmdName(), "--expires is required")
	}
	exp, err := time.Parse(time.RFC3339, *expires)
	if err != nil {
		return usageError(e.cmdName(), "--expires %q is not an RFC 3339 time such as 2027-06-30T00:00:00Z", *expires)
	}
	if !exp.After(time.Now()) {
		return usageError(e.cmdName(), "--expires %s is in the past; attestd refuses expired layouts", *expires)
	}
	var specs []stepSpec
	seen := map[string]bool{}
	for _, s := range steps {
		spec, err := parseStepSpec(s)
		if err != nil {
			return usageError(e.cmdName(), "%v", err)
		}
		if seen[spec.name] {
			return usageError(e.cmdName(), "step %q is given twice", spec.name)
		}
		seen[spec.name] = true
		specs = append(specs, spec)
	}
	if *out != "" && !*force {
		if _, err := os.Lstat(*out); err == nil {
			return failed("layout new: %s exists; use --force to overwrite it", *out)
		}
	}

	// The rule lists start empty, which in-toto and verifier.ParseLayout read
	// as "no constraint": the author adds the rules (see the help text).
	l := startLayout{Type: "layout", Expires: exp.UTC().Format(in_toto.ISO8601DateSchema), Keys: map[string]intotoKey{}, Inspect: []any{}}
	for _, spec := range specs {
		st := startStep{Type: "step", Name: spec.name, Threshold: spec.threshold, PubKeys: []string{},
			ExpectedCommand: []string{}, ExpectedMaterials: [][]string{}, ExpectedProducts: [][]string{}}
		for _, f := range spec.pubFiles {
			k, err := loadPublicKey(f)
			if err != nil {
				return failed("layout new: step %q: %v", spec.name, err)
			}
			ik, err := toIntotoKey(k)
			if err != nil {
				return failed("layout new: step %q: %s: %v", spec.name, f, err)
			}
			for _, id := range st.PubKeys {
				if id == k.ID {
					return usageError(e.cmdName(), "step %q lists key %s (%s) twice", spec.name, k.ID, f)
				}
			}
			l.Keys[k.ID] = ik
			st.PubKeys = append(st.PubKeys, k.ID)
		}
		l.Steps = append(l.Steps, st)
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return failed("layout new: %v", err)
	}
	b = append(b, '\n')
	if _, err := verifier.ParseLayout(b); err != nil {
		return failed("layout new: the layout would not be accepted: %v", err)
	}
	if *out == "" {
		_, _ = e.stdout.Write(b)
		return nil
	}
	if err := writeNewFile(*out, b, 0o644, *force); err != nil {
		return failed("layout new: %v", err)
	}
	if e.g.json {
		return e.printJSON(map[string]any{"layoutFile": *out, "steps": len(l.Steps), "keys": len(l.Keys), "expires": l.Expires})
	}
	return e.printf("wrote %s: %d step(s), %d key(s), expires %s\n"+
		"Add expected_command, expected_materials and expected_products to its steps, then sign it:\n"+
		"  attest layout sign --key OWNER.pem --in %s --out %s.signed\n", *out, len(l.Steps), len(l.Keys), l.Expires, *out, strings.TrimSuffix(*out, ".json"))
}

func layoutSignCommand() *command {
	return &command{
		name: "layout sign", args: "--key OWNER.pem --in FILE --out FILE [--format dsse|metablock] [--force]",
		summary: "sign an in-toto layout with a layout-owner key",
		help: `Signs the layout in --in (its unsigned part, as 'attest layout new' writes it)
with the private key OWNER.pem, without contacting attestd, and writes the
signed layout to --out (mode 0644; an existing file only with --force).

--format dsse (the default) writes a DSSE envelope whose payload is the
layout's bytes exactly as read, of type application/vnd.in-toto+json;
--format metablock writes a classic in-toto metablock {"signed", "signatures"}
signed over the canonical JSON of the layout, as in-toto-golang does.

The layout is checked first as attestd checks it at push (unknown fields,
inspections, thresholds, rules, keys, expiry), and the signed result is
verified with the key before it is written. attestd accepts it if the key is
registered as a layout-owner key of the project (attest key add --owner).`,
		example: "attest layout sign --key owner.pem --in release.layout.json --out release.layout",
		run:     cmdLayoutSign,
	}
}

func cmdLayoutSign(e *env, args []string) error {
	fs := e.newFlagSet()
	keyFile := fs.String("key", "", "the layout owner's private key `FILE` (PEM)")
	in := fs.String("in", "", "the unsigned layout `FILE`")
	out := fs.String("out", "", "write the signed layout to `FILE`")
	format := fs.String("format", "dsse", "signature `FORMAT`: dsse or metablock")
	force := fs.Bool("force", false, "overwrite --out if it exists")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	for _, f := range []struct{ name, val string }{{"--key", *keyFile}, {"--in", *in}, {"--out", *out}} {
		if f.val == "" {
			return usageError(e.cmdName(), "%s is required", f.name)
		}
	}
	if *format != "dsse" && *format != "metablock" {
		return usageError(e.cmdName(), "unknown --format %q (want dsse or metablock)", *format)
	}
	if !*force {
		if _, err := os.Lstat(*out); err == nil {
			return failed("layout sign: %s exists; use --force to overwrite it", *out)
		}
	}
	keyPEM, err := readFile(*keyFile, maxKeyFile)
	if err != nil {
		return failed("layout sign: %v", err)
	}
	signer, err := attestor.LoadSigner(keyPEM)
	if err != nil {
		return failed("layout sign: %s: %v", *keyFile, err)
	}
	layoutJSON, err := readFile(*in, maxLayoutFile)
	if err != nil {
		return failed("layout sign: %v", err)
	}
	layout, err := verifier.ParseLayout(layoutJSON)
	if err != nil {
		if _, envErr := attestation.ParseEnvelope(layoutJSON, attestation.Limits{}); envErr == nil {
			return failed("layout sign: %s is already signed; sign the unsigned layout", *in)
		}
		return failed("layout sign: %s: %v", *in, err)
	}
	if !layout.Expires.After(time.Now()) {
		return failed("layout sign: %s expired at %s; set a later expires", *in, layout.Expires.UTC().Format(time.RFC3339))
	}

	var signed []byte
	if *format == "dsse" {
		signed, err = signer.Sign(e.ctx, attestation.PayloadType, layoutJSON)
	} else {
		signed, err = signMetablock(signer, layoutJSON, keyPEM)
	}
	if err != nil {
		return failed("layout sign: %v", err)
	}
	if err := checkSignedLayout(signed, signer); err != nil {
		return failed("layout sign: the signed layout does not verify: %v", err)
	}
	if err := writeNewFile(*out, signed, 0o644, *force); err != nil {
		return failed("layout sign: %v", err)
	}
	if e.g.json {
		return e.printJSON(map[string]any{"layoutFile": *out, "format": *format, "keyId": signer.KeyID()})
	}
	return e.printf("signed %s with key %s (%s); wrote %s\n", *in, signer.KeyID(), *format, *out)
}

// signMetablock signs layoutJSON as a classic metablock with in-toto-golang,
// whose signatures in-toto verifiers expect, guarding against its panics
// (securesystemslib asserts key types). signer has checked the key already.
func signMetablock(signer *attestor.Signer, layoutJSON, privatePEM []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sign metablock: in-toto-golang failed: %v", r)
		}
	}()
	var key in_toto.Key
	if err := key.LoadKeyReaderDefaults(bytes.NewReader(privatePEM)); err != nil {
		return nil, fmt.Errorf("sign metablock: load key: %w", err)
	}
	if key.KeyID != signer.KeyID() {
		return nil, fmt.Errorf("sign metablock: in-toto-golang computes key id %s, attestd %s", key.KeyID, signer.KeyID())
	}
	mb := in_toto.Metablock{Signed: json.RawMessage(layoutJSON), Signatures: []in_toto.Signature{}}
	if err := mb.Sign(key); err != nil {
		return nil, fmt.Errorf("sign metablock: %w", err)
	}
	out, err = json.Marshal(mb)
	if err != nil {
		return nil, fmt.Errorf("encode metablock: %w", err)
	}
	return out, nil
}

// checkSignedLayout verifies signed as attestd does at push, with signer's
// key as the only owner key.
func checkSignedLayout(signed []byte, signer *attestor.Signer) error {
	pub, err := attestation.ParsePublicKey(signer.PublicPEM())
	if err != nil {
		return err
	}
	payload, ids, err := verifier.VerifyLayoutSignatures(signed, []*attestation.PublicKey{pub})
	if err != nil {
		return err
	}
	if len(ids) != 1 || ids[0] != signer.KeyID() {
		return errors.New("no signature by the key")
	}
	_, err = verifier.ParseLayout(payload)
	return err
}

package bundle

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
)

// PayloadType is the DSSE payload type of a bundle: its payload is an attestd.v1.Bundle in protobuf JSON.
const PayloadType = "application/vnd.attestd.bundle.v1+json"

// Bounds of a bundle. attestd refuses to export one over them (RESOURCE_EXHAUSTED naming the bound), and Open
// refuses to read one, before the work it would cause.
const (
	// MaxEnvelopeBytes bounds the attestations' envelopes of one bundle and their Rekor entries, together.
	MaxEnvelopeBytes = 64 << 20
	// MaxBytes bounds a signed bundle: MaxEnvelopeBytes of envelopes and entries, base64-encoded twice (in the
	// Bundle's JSON, then as the DSSE payload: 114 MiB), with room for the layout, keys and proofs.
	MaxBytes = 192 << 20
	// MaxAttestations bounds the candidate attestations of one bundle: as many as Verify gathers at most.
	MaxAttestations = 10000
	// MaxKeys bounds the project's keys in one bundle.
	MaxKeys = 10000
	// MaxProofHashes bounds one inclusion proof: a tree of 2^64 leaves needs 64 hashes.
	MaxProofHashes = 64
	// maxSignatures bounds the signatures of the bundle's envelope (attestd makes one).
	maxSignatures = 16
)

// Errors of Open and Decide, wrapped with what went wrong; test them with errors.Is. Over a bound, the error
// is an *attestation.LimitError instead.
var (
	// ErrSignature: the bundle is not signed by the verifier key given. Nothing in it may be trusted: get the
	// bundle again, or check that the key is the one `attestd verifier-key` prints.
	ErrSignature = errors.New("bundle signature does not verify")
	// ErrMalformed: the bundle does not parse, or contradicts itself (a layout that does not match its leaf, a
	// policy that does not cover the artifact, ...). No decision can be made from it.
	ErrMalformed = errors.New("malformed bundle")
	// ErrWrongArtifact: the bundle is about another artifact (or project) than the one being verified.
	ErrWrongArtifact = errors.New("bundle is about another artifact")
	// ErrLogKey: the bundle's log key is not the one the caller pinned for attestd's log.
	ErrLogKey = errors.New("bundle names another log key")
	// ErrTooOld: the bundle was exported longer ago than Options.MaxAge (or claims to come from the future).
	ErrTooOld = errors.New("bundle too old")
)

// Open checks that raw is a bundle signed by verifierKey (attestd's verifier key) and returns its Bundle,
// within the bounds above. It checks the signature before it reads the payload, and reads the payload
// strictly: unknown fields and duplicate members are refused. It does not check what the Bundle says:
// Decide does.
func Open(raw []byte, verifierKey *attestation.PublicKey) (*attestdv1.Bundle, error) {
	if verifierKey == nil {
		return nil, errors.New("open bundle: no verifier key")
	}
	if len(raw) > MaxBytes {
		return nil, &attestation.LimitError{Limit: "max-bundle-bytes, fixed", Max: MaxBytes, Got: len(raw), What: "signed bundle bytes"}
	}
	env, err := parseEnvelope(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: not a DSSE envelope: %v", ErrMalformed, err)
	}
	if env.PayloadType != PayloadType {
		return nil, fmt.Errorf("%w: payload type %q, want %q", ErrMalformed, clip(env.PayloadType), PayloadType)
	}
	if _, err := attestation.VerifySignatures(env, []*attestation.PublicKey{verifierKey}); err != nil {
		return nil, fmt.Errorf("%w: not signed by the verifier key %s: %v", ErrSignature, verifierKey.ID, err)
	}
	return unmarshal(env.Payload)
}

// Inspect returns the Bundle of raw, within the bounds above, WITHOUT checking its signature: only to show
// what a bundle holds (attest bundle export summarizes what attestd sent it). Never decide from it: Open and
// Decide check what Inspect does not.
func Inspect(raw []byte) (*attestdv1.Bundle, error) {
	if len(raw) > MaxBytes {
		return nil, &attestation.LimitError{Limit: "max-bundle-bytes, fixed", Max: MaxBytes, Got: len(raw), What: "signed bundle bytes"}
	}
	env, err := parseEnvelope(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: not a DSSE envelope: %v", ErrMalformed, err)
	}
	if env.PayloadType != PayloadType {
		return nil, fmt.Errorf("%w: payload type %q, want %q", ErrMalformed, clip(env.PayloadType), PayloadType)
	}
	return unmarshal(env.Payload)
}

func unmarshal(payload []byte) (*attestdv1.Bundle, error) {
	var b attestdv1.Bundle
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(payload, &b); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if err := checkBounds(&b); err != nil {
		return nil, err
	}
	return &b, nil
}

// Encode returns the payload of a bundle: b in protobuf JSON, which Open reads back. attestd signs it under
// PayloadType with its verifier key.
func Encode(b *attestdv1.Bundle) ([]byte, error) {
	if err := checkBounds(b); err != nil {
		return nil, err
	}
	out, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode bundle: %w", err)
	}
	return out, nil
}

// checkBounds checks the counts and sizes of b against the bounds above.
func checkBounds(b *attestdv1.Bundle) error {
	if n := len(b.GetAttestations()); n > MaxAttestations {
		return &attestation.LimitError{Limit: "max-bundle-attestations, fixed", Max: MaxAttestations, Got: n, What: "attestations in one bundle"}
	}
	if n := len(b.GetKeys()); n > MaxKeys {
		return &attestation.LimitError{Limit: "max-bundle-keys, fixed", Max: MaxKeys, Got: n, What: "keys in one bundle"}
	}
	total := 0
	for _, a := range b.GetAttestations() {
		total += len(a.GetAttestation().GetEnvelope()) + len(a.GetAttestation().GetAnchor().GetEntry().GetEntryJson())
		if n := len(a.GetAttestation().GetReceipt().GetInclusionProof().GetHashes()); n > MaxProofHashes {
			return &attestation.LimitError{Limit: "max-proof-hashes, fixed", Max: MaxProofHashes, Got: n, What: "hashes in one inclusion proof"}
		}
	}
	if total > MaxEnvelopeBytes {
		return &attestation.LimitError{Limit: "max-bundle-envelope-bytes, fixed", Max: MaxEnvelopeBytes, Got: total, What: "envelope and Rekor entry bytes in one bundle"}
	}
	if n := len(b.GetLayoutProof().GetHashes()); n > MaxProofHashes {
		return &attestation.LimitError{Limit: "max-proof-hashes, fixed", Max: MaxProofHashes, Got: n, What: "hashes in one inclusion proof"}
	}
	return nil
}

// parseEnvelope reads a DSSE envelope strictly: exactly the members payloadType, payload and signatures
// (each signature an object of keyid and sig), no duplicate member, nothing after it; base64 in standard
// encoding, as attestd writes it. It returns it in the form attestation.VerifySignatures checks.
func parseEnvelope(raw []byte) (*attestation.Envelope, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var typ, payload string
	var sigs []attestation.Signature
	seen := map[string]bool{}
	err := object(dec, func(key string) error {
		if seen[key] {
			return fmt.Errorf("member %q twice", key)
		}
		seen[key] = true
		switch key {
		case "payloadType":
			return dec.Decode(&typ)
		case "payload":
			return dec.Decode(&payload)
		case "signatures":
			return array(dec, func() error {
				if len(sigs) == maxSignatures {
					return fmt.Errorf("more than %d signatures", maxSignatures)
				}
				s, err := signature(dec)
				sigs = append(sigs, s)
				return err
			})
		}
		return fmt.Errorf("unknown member %q", clip(key))
	})
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the envelope")
	}
	for _, m := range []string{"payloadType", "payload", "signatures"} {
		if !seen[m] {
			return nil, fmt.Errorf("no %s", m)
		}
	}
	body, err := base64.StdEncoding.Strict().DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("payload: %v", err)
	}
	return &attestation.Envelope{Format: attestation.FormatDSSE, PayloadType: typ, Payload: body, Signatures: sigs,
		SignedBytes: dsse.PAE(typ, body)}, nil
}

// signature reads one {"keyid": ..., "sig": BASE64} object.
func signature(dec *json.Decoder) (attestation.Signature, error) {
	var s attestation.Signature
	var sig string
	seen := map[string]bool{}
	err := object(dec, func(key string) error {
		if seen[key] {
			return fmt.Errorf("signature member %q twice", key)
		}
		seen[key] = true
		switch key {
		case "keyid":
			return dec.Decode(&s.KeyID)
		case "sig":
			return dec.Decode(&sig)
		}
		return fmt.Errorf("unknown signature member %q", clip(key))
	})
	if err != nil {
		return s, err
	}
	if s.Sig, err = base64.StdEncoding.Strict().DecodeString(sig); err != nil {
		return s, fmt.Errorf("signature: %v", err)
	}
	return s, nil
}

// object reads a JSON object from dec, calling member for each key with dec positioned at its value, which
// member must consume.
func object(dec *json.Decoder, member func(key string) error) error {
	if err := delim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("object key %v", tok)
		}
		if err := member(key); err != nil {
			return err
		}
	}
	return delim(dec, '}')
}

// array reads a JSON array from dec, calling elem for each element, which elem must consume.
func array(dec *json.Decoder, elem func() error) error {
	if err := delim(dec, '['); err != nil {
		return err
	}
	for dec.More() {
		if err := elem(); err != nil {
			return err
		}
	}
	return delim(dec, ']')
}

func delim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("got %v, want %q", tok, string(want))
	}
	return nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

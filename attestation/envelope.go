package attestation

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// PayloadType is the only DSSE payloadType attestd accepts: an in-toto
// Statement, or an in-toto link wrapped in DSSE.
const PayloadType = "application/vnd.in-toto+json"

// Format is the signature wrapper an envelope uses.
type Format int

const (
	// FormatDSSE is a Dead Simple Signing Envelope: {"payloadType", "payload"
	// (base64), "signatures": [{"keyid", "sig" (base64)}]}, signed over the
	// DSSE pre-authentication encoding (PAE) of type and payload.
	FormatDSSE Format = iota + 1
	// FormatMetablock is a classic in-toto metablock: {"signed": {...},
	// "signatures": [{"keyid", "sig" (hex)}]}, signed over the canonical JSON
	// of "signed".
	FormatMetablock
)

// String returns "dsse", "metablock", or "Format(N)" for anything else.
func (f Format) String() string {
	switch f {
	case FormatDSSE:
		return "dsse"
	case FormatMetablock:
		return "metablock"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Signature is one signature of an envelope.
type Signature struct {
	KeyID string // the signer's key id as the envelope states it: a hint, not a proof
	Sig   []byte // the raw signature bytes (decoded from base64 or hex)
}

// Envelope is a parsed, not yet verified, signed envelope.
type Envelope struct {
	Format      Format
	PayloadType string // DSSE payloadType (always PayloadType); "" for a metablock
	// Payload is what ParseStatement reads: for DSSE the decoded payload, for
	// a metablock the canonical JSON of "signed" (the same bytes as SignedBytes).
	Payload    []byte
	Signatures []Signature
	// SignedBytes are the bytes the signatures are over:
	// dsse.PAE(PayloadType, Payload) for DSSE, the canonical JSON of "signed"
	// for a metablock.
	SignedBytes []byte
}

// ParseEnvelope parses a DSSE envelope or a classic in-toto metablock, in
// this order of checks: size (a *LimitError for max-envelope-bytes before
// anything is read), strict JSON (see the package documentation), shape,
// number of signatures (max-signatures), and the encoding of each field.
// Malformed input is an *InputError naming the field. Signatures are not
// verified here: see VerifySignatures.
//
// Members other than those of the format are ignored in a DSSE envelope (and
// in signature objects), but an object that has both DSSE members and
// "signed" is refused, as is any extra member of a metablock, whose shape
// in-toto fixes.
func ParseEnvelope(b []byte, lim Limits) (*Envelope, error) {
	lim = lim.withDefaults()
	if err := checkLimit(LimitEnvelopeBytes, "envelope bytes", len(b), lim.MaxEnvelopeBytes); err != nil {
		return nil, err
	}
	root, err := parseJSON(b, jsonOptions{field: "envelope", maxDepth: lim.MaxJSONDepth})
	if err != nil {
		return nil, err
	}
	if root.kind != kindObject {
		return nil, inputErr("envelope", "is %s, not a JSON object", root.typeName())
	}
	isDSSE := root.get("payloadType") != nil || root.get("payload") != nil
	isMetablock := root.get("signed") != nil
	switch {
	case isDSSE && isMetablock:
		return nil, inputErr("envelope", "has both DSSE members (payloadType, payload) and a metablock member (signed)")
	case isDSSE:
		return parseDSSE(root, lim)
	case isMetablock:
		return parseMetablock(root, lim)
	}
	return nil, inputErr("envelope", "is neither a DSSE envelope (payloadType, payload, signatures) nor an in-toto metablock (signed, signatures)")
}

func parseDSSE(root *value, lim Limits) (*Envelope, error) {
	typ, err := requiredString(root, "payloadType", "payloadType")
	if err != nil {
		return nil, err
	}
	if typ != PayloadType {
		return nil, inputErr("payloadType", "%s is not %s", quote(typ), PayloadType)
	}
	enc, err := requiredString(root, "payload", "payload")
	if err != nil {
		return nil, err
	}
	payload, err := decodeBase64(enc)
	if err != nil {
		return nil, inputErr("payload", "%v", err)
	}
	if len(payload) == 0 {
		return nil, inputErr("payload", "is empty")
	}
	sigs, err := signatureArray(root, lim)
	if err != nil {
		return nil, err
	}
	env := &Envelope{Format: FormatDSSE, PayloadType: typ, Payload: payload, SignedBytes: dsse.PAE(typ, payload)}
	for i := range sigs.kids {
		s, err := parseSignature(&sigs.kids[i], i, decodeBase64)
		if err != nil {
			return nil, err
		}
		env.Signatures = append(env.Signatures, s)
	}
	return env, nil
}

func parseMetablock(root *value, lim Limits) (*Envelope, error) {
	for i := range root.kids {
		if k := root.kids[i].key; k != "signed" && k != "signatures" {
			return nil, inputErr("envelope", "unknown member %s in an in-toto metablock (only signed and signatures)", quote(k))
		}
	}
	signed := root.get("signed")
	if signed.kind != kindObject {
		return nil, inputErr("signed", "is %s, not a JSON object", signed.typeName())
	}
	sigs, err := signatureArray(root, lim)
	if err != nil {
		return nil, err
	}
	canon, err := canonicalJSON(signed)
	if err != nil {
		return nil, &InputError{Field: "signed", Reason: err.Error()}
	}
	env := &Envelope{Format: FormatMetablock, Payload: canon, SignedBytes: canon}
	for i := range sigs.kids {
		s, err := parseSignature(&sigs.kids[i], i, decodeLowerHex)
		if err != nil {
			return nil, err
		}
		env.Signatures = append(env.Signatures, s)
	}
	return env, nil
}

// signatureArray returns the "signatures" member of root after checking that
// it is a non-empty array within lim.MaxSignatures.
func signatureArray(root *value, lim Limits) (*value, error) {
	sigs := root.get("signatures")
	if sigs == nil {
		return nil, inputErr("signatures", "missing; an envelope needs at least one signature")
	}
	if sigs.kind != kindArray {
		return nil, inputErr("signatures", "is %s, not an array", sigs.typeName())
	}
	if len(sigs.kids) == 0 {
		return nil, inputErr("signatures", "is empty; an envelope needs at least one signature")
	}
	if err := checkLimit(LimitSignatures, "signatures", len(sigs.kids), lim.MaxSignatures); err != nil {
		return nil, err
	}
	return sigs, nil
}

// parseSignature reads {"keyid": "...", "sig": "..."}; other members (such
// as in-toto's "cert") are ignored.
func parseSignature(v *value, i int, decode func(string) ([]byte, error)) (Signature, error) {
	field := fmt.Sprintf("signatures[%d]", i)
	if v.kind != kindObject {
		return Signature{}, inputErr(field, "is %s, not a JSON object", v.typeName())
	}
	var s Signature
	if k := v.get("keyid"); k != nil {
		if k.kind != kindString {
			return Signature{}, inputErr(field+".keyid", "is %s, not a string", k.typeName())
		}
		s.KeyID = k.str
	}
	enc, err := requiredString(v, "sig", field+".sig")
	if err != nil {
		return Signature{}, err
	}
	if s.Sig, err = decode(enc); err != nil {
		return Signature{}, inputErr(field+".sig", "%v", err)
	}
	if len(s.Sig) == 0 {
		return Signature{}, inputErr(field+".sig", "is empty")
	}
	return s, nil
}

// requiredString returns the string member key of v.
func requiredString(v *value, key, field string) (string, error) {
	m := v.get(key)
	if m == nil {
		return "", inputErr(field, "missing")
	}
	if m.kind != kindString {
		return "", inputErr(field, "is %s, not a string", m.typeName())
	}
	return m.str, nil
}

// decodeBase64 decodes standard or URL-safe base64, padded or not, as DSSE
// allows. It is stricter than encoding/base64 alone: line breaks (which the
// standard decoder skips), mixed alphabets and non-zero padding bits are
// refused, so that one signature has one spelling.
func decodeBase64(s string) ([]byte, error) {
	// Each set is searched a byte at a time with IndexByte, which scans many bytes per instruction; ContainsAny
	// with two bytes scans one at a time, and the three scans were a tenth of parsing a 4 KiB envelope.
	if containsEither(s, '\r', '\n') {
		return nil, fmt.Errorf("is not base64: contains a line break")
	}
	std, url := containsEither(s, '+', '/'), containsEither(s, '-', '_')
	if std && url {
		return nil, fmt.Errorf("is not base64: mixes the standard and URL-safe alphabets")
	}
	enc := base64.StdEncoding
	if url {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(s, "=") {
		enc = enc.WithPadding(base64.NoPadding)
	}
	b, err := enc.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("is not base64: %v", err)
	}
	return b, nil
}

// containsEither reports whether s contains a or b.
func containsEither(s string, a, b byte) bool {
	return strings.IndexByte(s, a) >= 0 || strings.IndexByte(s, b) >= 0
}

// decodeLowerHex decodes lowercase hex, the signature encoding of in-toto
// metablocks.
func decodeLowerHex(s string) ([]byte, error) {
	if !isLowerHex(s) {
		return nil, fmt.Errorf("is not lowercase hex")
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("is not lowercase hex: %v", err)
	}
	return b, nil
}

package attestor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	linkv0 "github.com/in-toto/attestation/go/predicates/link/v0"
	intotov1 "github.com/in-toto/attestation/go/v1"
	intoto "github.com/in-toto/in-toto-golang/in_toto"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/attestd/attestd/attestation"
)

// PayloadType is the DSSE payload type of in-toto statements and links.
const PayloadType = attestation.PayloadType

// LinkPredicateType is the predicate type of an in-toto link inside a Statement v1.
const LinkPredicateType = attestation.PredicateLinkV03

// ErrNoProducts is returned by Link.Statement for a step that recorded no
// products: a Statement v1 needs at least one subject. Link.Payload writes such
// a step as a classic in-toto link instead.
var ErrNoProducts = errors.New("the step recorded no products, and a Statement v1 needs at least one subject")

// A Link describes one run of a step: what it read, what it ran, what it wrote
// and how the command ended.
type Link struct {
	Step        string   // the step name, as the layout names it
	Command     []string // the command as it was run, program first
	Materials   []Artifact
	Products    []Artifact
	ReturnValue int // the command's exit code; 128+N for a command killed by signal N
	// Output, if not nil, is recorded in the byproducts as "stdout" and
	// "stderr". Invalid UTF-8 is replaced by U+FFFD, since JSON strings cannot
	// carry it.
	Output *Output
}

// Output is what a command wrote to its standard output and error.
type Output struct {
	Stdout, Stderr string
}

// Payload encodes the link for signing: an in-toto Statement v1 with the link
// predicate when the step has products, or else a classic in-toto link
// ("_type": "link"), which allows an empty product list. attestd accepts both
// under PayloadType.
func (l *Link) Payload() ([]byte, error) {
	if len(l.Products) == 0 {
		return l.MarshalClassic()
	}
	st, err := l.Statement()
	if err != nil {
		return nil, err
	}
	return MarshalStatement(st)
}

// Statement returns the link as an in-toto Statement v1: the products are the
// subjects, the predicate is a link v0.3 (name, command, materials, byproducts
// with "return-value", empty environment). The statement is validated.
func (l *Link) Statement() (*intotov1.Statement, error) {
	if len(l.Products) == 0 {
		return nil, ErrNoProducts
	}
	byproducts, err := structpb.NewStruct(l.byproducts())
	if err != nil {
		return nil, fmt.Errorf("link byproducts: %w", err)
	}
	pred := &linkv0.Link{
		Name:        l.Step,
		Command:     validUTF8(l.Command),
		Materials:   descriptors(l.Materials),
		Byproducts:  byproducts,
		Environment: &structpb.Struct{},
	}
	// The Statement carries its predicate as a generic Struct: go through JSON.
	raw, err := protojson.Marshal(pred)
	if err != nil {
		return nil, fmt.Errorf("encode link predicate: %w", err)
	}
	predicate := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, predicate); err != nil {
		return nil, fmt.Errorf("convert link predicate: %w", err)
	}
	st := &intotov1.Statement{
		Type:          intotov1.StatementTypeUri,
		Subject:       descriptors(l.Products),
		PredicateType: LinkPredicateType,
		Predicate:     predicate,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("link statement: %w", err)
	}
	return st, nil
}

// MarshalClassic encodes the link as a classic in-toto link, the format that
// in-toto-golang and in-toto (Python) write inside DSSE envelopes.
func (l *Link) MarshalClassic() ([]byte, error) {
	command := validUTF8(l.Command)
	if command == nil {
		command = []string{}
	}
	link := intoto.Link{
		Type:        "link",
		Name:        l.Step,
		Materials:   hashObjects(l.Materials),
		Products:    hashObjects(l.Products),
		ByProducts:  l.byproducts(),
		Command:     command,
		Environment: map[string]any{},
	}
	// intoto.Link is a plain Go struct with in-toto's own field names;
	// encoding/json writes them, with map keys sorted. No HTML escaping: a
	// command "a > b" stays readable.
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(link); err != nil {
		return nil, fmt.Errorf("encode link: %w", err)
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

func (l *Link) byproducts() map[string]any {
	bp := map[string]any{"return-value": l.ReturnValue}
	if l.Output != nil {
		bp["stdout"] = strings.ToValidUTF8(l.Output.Stdout, "\uFFFD")
		bp["stderr"] = strings.ToValidUTF8(l.Output.Stderr, "\uFFFD")
	}
	return bp
}

// MarshalStatement validates st and encodes it with protojson (never
// encoding/json, which would write "predicate_type"). Insignificant
// whitespace is removed, so the same statement always gives the same bytes.
func MarshalStatement(st *intotov1.Statement) ([]byte, error) {
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	raw, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	return compact.Bytes(), nil
}

// ParseStatement decodes an in-toto Statement v1 (or v0.1, whose JSON has the
// same shape) with protojson and validates it. Unknown fields and duplicate
// fields are errors. It is a check before signing: sign the bytes that were
// parsed, never a re-encoding of the result.
func ParseStatement(data []byte) (*intotov1.Statement, error) {
	st := &intotov1.Statement{}
	if err := protojson.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("parse in-toto statement: %w", err)
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("invalid in-toto statement: %w", err)
	}
	return st, nil
}

func descriptors(as []Artifact) []*intotov1.ResourceDescriptor {
	out := make([]*intotov1.ResourceDescriptor, 0, len(as))
	for _, a := range as {
		out = append(out, &intotov1.ResourceDescriptor{Name: a.Name, Digest: map[string]string{"sha256": a.SHA256}})
	}
	return out
}

func hashObjects(as []Artifact) map[string]intoto.HashObj {
	out := make(map[string]intoto.HashObj, len(as))
	for _, a := range as {
		out[a.Name] = intoto.HashObj{"sha256": a.SHA256}
	}
	return out
}

func validUTF8(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToValidUTF8(s, "\uFFFD")
	}
	return out
}

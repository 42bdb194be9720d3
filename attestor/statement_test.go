package attestor

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	linkv0 "github.com/in-toto/attestation/go/predicates/link/v0"
	intotov1 "github.com/in-toto/attestation/go/v1"
	intoto "github.com/in-toto/in-toto-golang/in_toto"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/attestd/attestd/attestation"
)

func testLink() *Link {
	return &Link{
		Step:    "build",
		Command: []string{"make", "all"},
		Materials: []Artifact{
			{Name: "go.mod", SHA256: sha256Hex("module x\n")},
			{Name: "src/main.go", SHA256: sha256Hex("package main\n")},
		},
		Products:    []Artifact{{Name: "bin/app", SHA256: sha256Hex("app")}},
		ReturnValue: 2,
		Output:      &Output{Stdout: "out\xff", Stderr: "err"},
	}
}

func TestLinkStatement(t *testing.T) {
	payload, err := testLink().Payload()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(payload, []byte("predicate_type")) || !bytes.Contains(payload, []byte(`"predicateType":`)) {
		t.Errorf("payload does not use the JSON field names of the spec: %s", payload)
	}
	again, err := testLink().Payload()
	if err != nil || !bytes.Equal(again, payload) {
		t.Errorf("the same link encoded twice differs:\n%s\n%s", payload, again)
	}

	var st intotov1.Statement
	if err := protojson.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	if st.GetType() != intotov1.StatementTypeUri || st.GetPredicateType() != LinkPredicateType {
		t.Errorf("type %q, predicate type %q", st.GetType(), st.GetPredicateType())
	}
	if len(st.GetSubject()) != 1 || st.GetSubject()[0].GetName() != "bin/app" || st.GetSubject()[0].GetDigest()["sha256"] != sha256Hex("app") {
		t.Errorf("subjects = %v", st.GetSubject())
	}

	raw, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		t.Fatal(err)
	}
	var link linkv0.Link
	if err := protojson.Unmarshal(raw, &link); err != nil {
		t.Fatalf("the predicate is not a link v0.3: %v", err)
	}
	if link.GetName() != "build" || !slices.Equal(link.GetCommand(), []string{"make", "all"}) {
		t.Errorf("name %q, command %q", link.GetName(), link.GetCommand())
	}
	if len(link.GetMaterials()) != 2 || link.GetMaterials()[1].GetName() != "src/main.go" ||
		link.GetMaterials()[1].GetDigest()["sha256"] != sha256Hex("package main\n") {
		t.Errorf("materials = %v", link.GetMaterials())
	}
	bp := link.GetByproducts().AsMap()
	if bp["return-value"] != float64(2) || bp["stdout"] != "out\uFFFD" || bp["stderr"] != "err" {
		t.Errorf("byproducts = %v", bp)
	}
	if link.GetEnvironment() == nil || len(link.GetEnvironment().GetFields()) != 0 {
		t.Errorf("environment = %v, want {}", link.GetEnvironment())
	}

	// attestd reads the same facts out of it.
	got, err := attestation.ParseStatement(payload, attestation.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != "build" || len(got.Subjects) != 1 || len(got.Materials) != 2 {
		t.Errorf("attestation.ParseStatement = %+v", got)
	}
}

func TestLinkWithoutOutput(t *testing.T) {
	l := testLink()
	l.Output = nil
	l.ReturnValue = 0
	st, err := l.Statement()
	if err != nil {
		t.Fatal(err)
	}
	bp := st.GetPredicate().GetFields()["byproducts"].GetStructValue().AsMap()
	if len(bp) != 1 || bp["return-value"] != float64(0) {
		t.Errorf("byproducts = %v, want only return-value 0", bp)
	}
}

func TestLinkWithoutProducts(t *testing.T) {
	l := testLink()
	l.Products = nil
	if _, err := l.Statement(); !errors.Is(err, ErrNoProducts) {
		t.Fatalf("Statement() = %v, want ErrNoProducts", err)
	}
	payload, err := l.Payload()
	if err != nil {
		t.Fatal(err)
	}
	var classic intoto.Link
	if err := json.Unmarshal(payload, &classic); err != nil {
		t.Fatal(err)
	}
	if classic.Type != "link" || classic.Name != "build" || len(classic.Materials) != 2 ||
		classic.Products == nil || len(classic.Products) != 0 || classic.ByProducts["return-value"] != float64(2) {
		t.Errorf("classic link = %+v", classic)
	}
	got, err := attestation.ParseStatement(payload, attestation.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != attestation.TypeLink || got.Step != "build" || len(got.Subjects) != 0 || len(got.Materials) != 2 {
		t.Errorf("attestation.ParseStatement = %+v", got)
	}
}

func TestParseStatement(t *testing.T) {
	const digest = `{"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}`
	tests := []struct {
		name, json, wantErr string
	}{
		{"v1", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":` + digest + `}],"predicateType":"https://example.com/p","predicate":{"x":1}}`, ""},
		{"v0.1", `{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"a","digest":` + digest + `}],"predicateType":"https://slsa.dev/provenance/v0.2","predicate":{}}`, ""},
		{"no subject", `{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"p","predicate":{}}`, "subject"},
		{"bad digest", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"abc"}}],"predicateType":"p","predicate":{}}`, "digest"},
		{"wrong type", `{"_type":"link","subject":[{"name":"a","digest":` + digest + `}],"predicateType":"p","predicate":{}}`, "statement type"},
		{"unknown field", `{"_type":"https://in-toto.io/Statement/v1","extra":1,"subject":[{"name":"a","digest":` + digest + `}],"predicateType":"p","predicate":{}}`, "extra"},
		{"snake case", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":` + digest + `}],"predicate_type":"p","predicate_type":"q","predicate":{}}`, "predicate"},
		{"not json", `nope`, "parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseStatement([]byte(tt.json))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseStatement = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

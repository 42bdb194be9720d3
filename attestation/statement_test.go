package attestation

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	linkv0 "github.com/in-toto/attestation/go/predicates/link/v0"
	slsav1 "github.com/in-toto/attestation/go/predicates/provenance/v1"
	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// protoStatement encodes a Statement with the in-toto attestation Go
// bindings and protojson, as attestd's own attestor does.
func protoStatement(t *testing.T, typ, predicateType string, predicate proto.Message, subjects ...*ita1.ResourceDescriptor) []byte {
	t.Helper()
	st := &ita1.Statement{Type: typ, Subject: subjects, PredicateType: predicateType}
	if predicate != nil {
		b, err := protojson.Marshal(predicate)
		if err != nil {
			t.Fatal(err)
		}
		st.Predicate = &structpb.Struct{}
		if err := protojson.Unmarshal(b, st.Predicate); err != nil {
			t.Fatal(err)
		}
	}
	b, err := protojson.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseStatementFromBindings(t *testing.T) {
	out := &ita1.ResourceDescriptor{Name: "dist/app.tar.gz", Digest: map[string]string{"sha256": sha256A, "sha512": strings.Repeat("ab", 64)},
		MediaType: "application/gzip", Annotations: &structpb.Struct{}}
	src := &ita1.ResourceDescriptor{Uri: "git+https://example.com/repo@refs/heads/main", Digest: map[string]string{"gitCommit": sha256A[:40]}}
	lib := &ita1.ResourceDescriptor{Name: "pkg:golang/golang.org/x/text@v0.44.0", Digest: map[string]string{"sha256": sha256B}}

	link := &linkv0.Link{Name: "build", Command: []string{"make", "dist"}, Materials: []*ita1.ResourceDescriptor{src, lib}}
	prov := &slsav1.Provenance{
		BuildDefinition: &slsav1.BuildDefinition{BuildType: "https://example.com/build/v1", ResolvedDependencies: []*ita1.ResourceDescriptor{src}},
		RunDetails:      &slsav1.RunDetails{Builder: &slsav1.Builder{Id: "https://example.com/builder"}},
	}
	tests := []struct {
		name          string
		payload       []byte
		wantStep      string
		wantMaterials []string
		wantCommand   []string
	}{
		{"link v0.3", protoStatement(t, ita1.StatementTypeUri, PredicateLinkV03, link, out), "build",
			[]string{"", "pkg:golang/golang.org/x/text@v0.44.0"}, []string{"make", "dist"}},
		{"slsa v1", protoStatement(t, ita1.StatementTypeUri, PredicateSLSAProvenanceV1, prov, out), "", []string{""}, nil},
		{"other predicate", protoStatement(t, ita1.StatementTypeUri, "https://slsa.dev/verification_summary/v1", nil, out), "", nil, nil},
		{"statement v0.1", protoStatement(t, StatementV01, PredicateLinkV03, link, out), "build",
			[]string{"", "pkg:golang/golang.org/x/text@v0.44.0"}, []string{"make", "dist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := ParseStatement(tt.payload, Limits{})
			if err != nil {
				t.Fatalf("%v\n%s", err, tt.payload)
			}
			if len(st.Subjects) != 1 || st.Subjects[0].Name != out.Name || st.Subjects[0].Digest["sha512"] != out.Digest["sha512"] {
				t.Errorf("subjects = %+v", st.Subjects)
			}
			var names []string
			for _, m := range st.Materials {
				names = append(names, m.Name)
			}
			if st.Step != tt.wantStep || !slices.Equal(names, tt.wantMaterials) || !slices.Equal(st.Command, tt.wantCommand) {
				t.Errorf("statement = %+v", st)
			}
		})
	}
}

func TestParseStatementErrors(t *testing.T) {
	const other = "https://example.com/predicate/v1"
	st := func(subjects ...string) []byte { return statementJSON(other, "", subjects...) }
	digest := func(alg, value string) []byte {
		return st(fmt.Sprintf(`{"name":"a","digest":{%q:%q}}`, alg, value))
	}
	name := func(n string) []byte { return st(subject(n, sha256A)) }
	many := func(n int, item string) string {
		return strings.TrimSuffix(strings.Repeat(item+",", n), ",")
	}
	tests := []struct {
		name  string
		in    []byte
		want  string
		frags []string
	}{
		{"minimal", st(subject("a", sha256A)), "", nil},
		{"not JSON", []byte(`{"_type":`), "input", []string{"payload", "unexpected end"}},
		{"not an object", []byte(`[]`), "input", []string{"not a JSON object"}},
		{"duplicate key", []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + sha256A + `"}}],"predicateType":"x","predicateType":"y"}`), "input", []string{`duplicate key "predicateType"`}},
		{"duplicate digest alg", st(`{"digest":{"sha256":"` + sha256A + `","sha256":"` + sha256B + `"}}`), "input", []string{`duplicate key "sha256"`}},
		{"invalid UTF-8", append(st(subject("a", sha256A))[:10:10], 0xff), "input", []string{"invalid UTF-8"}},
		{"trailing bytes", append(st(subject("a", sha256A)), "x"...), "input", []string{"trailing data"}},
		{"no _type", []byte(`{"subject":[]}`), "input", []string{"_type: missing"}},
		{"unknown _type", []byte(`{"_type":"https://in-toto.io/Statement/v2"}`), "input", []string{"_type", "Statement/v2"}},
		{"_type is case-sensitive", []byte(`{"_Type":"link","name":"x"}`), "input", []string{"_type: missing"}},
		{"without subjects", []byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"x"}`), "input", []string{"subject: missing"}},
		{"empty subjects", st(), "input", []string{"subject: is empty"}},
		{"subject without digest", st(`{"name":"a"}`), "input", []string{"subject[0].digest: missing"}},
		{"subject with empty digest", st(`{"name":"a","digest":{}}`), "input", []string{"subject[0].digest: is empty"}},
		{"subject not an object", st(`"a"`), "input", []string{"subject[0]: is a string"}},
		{"predicate_type is not an alias", []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[` + subject("a", sha256A) + `],"predicate_type":"x"}`), "input", []string{"predicateType: missing", "predicate_type"}},
		{"empty predicateType", statementJSON("", "", subject("a", sha256A)), "input", []string{"predicateType: is empty"}},
		{"predicate not an object", statementJSON(other, "[]", subject("a", sha256A)), "input", []string{"predicate: is an array"}},
		{"unknown top-level key ignored", []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[` + subject("a", sha256A) + `],"predicateType":"x","extra":{"y":1.5}}`), "", nil},
		{"uppercase digest", digest("sha256", strings.ToUpper(sha256A)), "input", []string{"subject[0].digest.sha256: not lowercase hex of 64 characters"}},
		{"short digest", digest("sha256", sha256A[:63]), "input", []string{"subject[0].digest.sha256: not lowercase hex of 64 characters"}},
		{"long digest", digest("sha256", sha256A+"0"), "input", []string{"sha256: not lowercase hex"}},
		{"prefixed digest", digest("sha256", "sha256:"+sha256A), "input", []string{"sha256: not lowercase hex"}},
		{"whitespace digest", digest("sha256", " "+sha256A[1:]), "input", []string{"sha256: not lowercase hex"}},
		{"trailing newline digest", digest("sha256", sha256A[:63]+"\n"), "input", []string{"sha256: not lowercase hex"}},
		{"sha1 wrong length", digest("sha1", sha256A), "input", []string{"sha1: not lowercase hex of 40 characters"}},
		{"gitCommit 40", digest("gitCommit", sha256A[:40]), "", nil},
		{"gitCommit 64", digest("gitCommit", sha256A), "", nil},
		{"gitCommit 50", digest("gitCommit", sha256A[:50]), "input", []string{"gitCommit: not lowercase hex of 40 or 64 characters"}},
		{"known alg in other case", digest("SHA256", sha256A), "input", []string{`algorithm name "SHA256" must be written "sha256"`}},
		{"custom alg", digest("blake3.x-1", "anything_printable:/+="), "", nil},
		{"custom alg bad name", digest("-x", "v"), "input", []string{`algorithm name "-x"`}},
		{"custom alg long name", digest(strings.Repeat("a", 33), "v"), "input", []string{"algorithm name"}},
		{"custom alg space in value", digest("blake3", "a b"), "input", []string{"blake3: contains a character"}},
		{"custom alg long value", digest("blake3", strings.Repeat("a", 513)), "input", []string{"blake3: must be 1 to 512"}},
		{"digest value not a string", st(`{"digest":{"sha256":1}}`), "input", []string{"subject[0].digest.sha256: is a number"}},
		{"name a/../b", name("a/../b"), "input", []string{"subject[0].name", `".." path segment`}},
		{"name a/..", name("a/.."), "input", []string{`".." path segment`}},
		{"name /etc/x", name("/etc/x"), "input", []string{"subject[0].name", "absolute path"}},
		{"name ./b", name("./b"), "input", []string{`"." path segment`}},
		{`name a\b`, name(`a\b`), "input", []string{"backslash"}},
		{"name with NUL", name("a\x00b"), "input", []string{"control character U+0000"}},
		{"name with newline", name("a\nb"), "input", []string{"control character U+000A"}},
		{"name not NFC", name("cafe\u0301"), "input", []string{"NFC"}},
		{"name NFC", name("caf\u00e9"), "", nil},
		{"name URL", name("https://example.com/x/y"), "", nil},
		{"name purl", name("pkg:deb/acme/x@1"), "", nil},
		{"name too long", name(strings.Repeat("a", 4097)), "limit", []string{"subject[0].name bytes: 4097 exceeds the limit of 4096 (max-name-bytes)"}},
		{"uri with control character", st(`{"uri":"https://x/\u0007","digest":{"sha256":"` + sha256A + `"}}`), "input", []string{"subject[0].uri", "U+0007"}},
		{"100,000 subjects", st(many(100000, `{"digest":{"x":"1"}}`)), "limit", []string{"subjects: 100000 exceeds the limit of 10000 (max-subjects)"}},
		{"nested deeper than the limit", statementJSON(other, strings.Repeat(`{"a":`, 40)+"1"+strings.Repeat("}", 40), subject("a", sha256A)), "limit", []string{"payload JSON nesting depth", "max-json-depth"}},
		{"link without predicate", []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[` + subject("a", sha256A) + `],"predicateType":"` + PredicateLinkV03 + `"}`), "input", []string{"predicate: missing"}},
		{"link without name", statementJSON(PredicateLinkV03, `{"command":[]}`, subject("a", sha256A)), "input", []string{"predicate.name: missing"}},
		{"link with empty name", statementJSON(PredicateLinkV03, `{"name":""}`, subject("a", sha256A)), "input", []string{"predicate.name: is empty"}},
		{"link command not strings", statementJSON(PredicateLinkV03, `{"name":"b","command":["a",1]}`, subject("a", sha256A)), "input", []string{"predicate.command[1]: is a number"}},
		{"link material bad name", statementJSON(PredicateLinkV03, `{"name":"b","materials":[`+subject("../x", sha256A)+`]}`, subject("a", sha256A)), "input", []string{"predicate.materials[0].name"}},
		{"link material with nothing", statementJSON(PredicateLinkV03, `{"name":"b","materials":[{"name":"x"}]}`, subject("a", sha256A)), "input", []string{"predicate.materials[0]: has none of uri, digest and content"}},
		{"link too many materials", statementJSON(PredicateLinkV03, `{"name":"b","materials":[`+many(10001, `{"uri":"u"}`)+`]}`, subject("a", sha256A)), "limit", []string{"materials: 10001 exceeds the limit of 10000 (max-materials)"}},
		{"slsa without buildDefinition", statementJSON(PredicateSLSAProvenanceV1, `{}`, subject("a", sha256A)), "input", []string{"predicate.buildDefinition: missing"}},
		{"slsa bad dependency digest", statementJSON(PredicateSLSAProvenanceV1, `{"buildDefinition":{"resolvedDependencies":[{"digest":{"sha256":"abc"}}]}}`, subject("a", sha256A)), "input", []string{"predicate.buildDefinition.resolvedDependencies[0].digest.sha256"}},
		{"classic link", []byte(`{"_type":"link","name":"b","command":null,"materials":{"z":{"sha256":"` + sha256A + `"},"a":{"sha256":"` + sha256B + `"}},"products":null,"byproducts":{},"environment":null}`), "", nil},
		{"classic link bad product name", []byte(`{"_type":"link","name":"b","products":{"dir/../foo":{"sha256":"` + sha256A + `"}}}`), "input", []string{`products["dir/../foo"]`, `".." path segment`}},
		{"classic link product without digest", []byte(`{"_type":"link","name":"b","products":{"foo":{}}}`), "input", []string{`products["foo"]: is empty`}},
		{"classic link products array", []byte(`{"_type":"link","name":"b","products":[]}`), "input", []string{"products: is an array"}},
		{"classic link without name", []byte(`{"_type":"link","products":{}}`), "input", []string{"name: missing"}},
		{"classic link name with newline", []byte(`{"_type":"link","name":"a\nb"}`), "input", []string{"name", "U+000A"}},
		{"classic link uppercase digest", []byte(`{"_type":"link","name":"b","materials":{"x":{"sha256":"` + strings.ToUpper(sha256A) + `"}}}`), "input", []string{`materials["x"].sha256: not lowercase hex of 64 characters`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseStatement(tt.in, Limits{})
			wantErr(t, err, tt.want, tt.frags...)
		})
	}
}

func TestClassicLinkSortedAndLimited(t *testing.T) {
	st, err := ParseStatement([]byte(`{"_type":"link","name":"b","command":["x"],"materials":{"z":{"sha256":"`+sha256A+`"},"a/b":{"sha256":"`+sha256B+`"},"m":{"md5":"`+sha256A[:32]+`"}},"products":{}}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range st.Materials {
		names = append(names, m.Name)
	}
	if !slices.Equal(names, []string{"a/b", "m", "z"}) || st.Type != TypeLink || st.Step != "b" || len(st.Subjects) != 0 {
		t.Errorf("statement = %+v", st)
	}

	var b strings.Builder
	b.WriteString(`{"_type":"link","name":"b","products":{`)
	for i := range 101 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"f%d":{"sha256":%q}`, i, sha256A)
	}
	b.WriteString(`}}`)
	_, err = ParseStatement([]byte(b.String()), Limits{MaxSubjects: 100})
	wantErr(t, err, "limit", "products: 101 exceeds the limit of 100 (max-subjects)")
}

// TestManySubjectsThroughEnvelope: 100,000 subjects in a signed envelope are
// refused by the subject limit (not by the size limit: the subjects are
// small), and the refusal stays cheap.
func TestManySubjectsThroughEnvelope(t *testing.T) {
	items := strings.TrimSuffix(strings.Repeat(`{"digest":{"x":"1"}}`+",", 100000), ",")
	payload := statementJSON("https://example.com/p", "", items)
	b := signDSSE(t, PayloadType, payload, keyByName(t, "ed25519"))
	if len(b) > DefaultLimits().MaxEnvelopeBytes {
		t.Fatalf("test envelope of %d bytes is over the size limit", len(b))
	}
	start := time.Now()
	env, err := ParseEnvelope(b, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseStatement(env.Payload, Limits{})
	wantErr(t, err, "limit", "subjects: 100000 exceeds the limit of 10000 (max-subjects)")
	var le *LimitError
	if errors.As(err, &le); le.Limit != LimitSubjects || le.Got != 100000 || le.Max != 10000 {
		t.Errorf("LimitError = %+v", le)
	}
	t.Logf("%d-byte envelope with 100,000 subjects refused in %v", len(b), time.Since(start))
}

func TestParseDigest(t *testing.T) {
	tests := []struct {
		in        string
		alg, val  string
		wantError string
	}{
		{"sha256:" + sha256A, "sha256", sha256A, ""},
		{"gitCommit:" + sha256A[:40], "gitCommit", sha256A[:40], ""},
		{"custom:a:b", "custom", "a:b", ""},
		{sha256A, "", "", "not of the form ALGORITHM:VALUE"},
		{"sha256:" + strings.ToUpper(sha256A), "", "", "sha256 value not lowercase hex of 64 characters"},
		{"sha256:" + sha256A[:10], "", "", "not lowercase hex"},
		{"sha256: " + sha256A, "", "", "not lowercase hex"},
		{"sha256:sha256:" + sha256A, "", "", "not lowercase hex"},
		{"Sha256:" + sha256A, "", "", `must be written "sha256"`},
		{":x", "", "", "algorithm name"},
		{"x:", "", "", "must be 1 to 512"},
		{"", "", "", "not of the form"},
	}
	for _, tt := range tests {
		alg, val, err := ParseDigest(tt.in)
		if tt.wantError == "" {
			if err != nil || alg != tt.alg || val != tt.val {
				t.Errorf("ParseDigest(%q) = %q, %q, %v", tt.in, alg, val, err)
			}
			continue
		}
		wantErr(t, err, "input", "digest: ", tt.wantError)
	}
}

func TestCheckName(t *testing.T) {
	good := []string{"a", "a/b", "a/b/", "a//b", "https://x/y", "pkg:deb/acme/x@1", "..a", "a..", ".hidden", "a/.b", "caf\u00e9", "日本/語"}
	for _, n := range good {
		if err := CheckName(n, Limits{}); err != nil {
			t.Errorf("CheckName(%q) = %v", n, err)
		}
	}
	bad := map[string]string{
		"":            "is empty",
		"a/../b":      `".." path segment`,
		"..":          `".." path segment`,
		".":           `"." path segment`,
		"./b":         `"." path segment`,
		"a/./b":       `"." path segment`,
		"/etc/x":      "absolute path",
		`a\b`:         "backslash",
		"a\x00":       "U+0000",
		"a\x7f":       "U+007F",
		"a\u0085":     "U+0085",
		"e\u0301":     "NFC",
		"\xff":        "UTF-8",
		"a/..\\b/../": "", // any reason will do
	}
	for n, frag := range bad {
		err := CheckName(n, Limits{})
		wantErr(t, err, "input", "name: ", frag)
	}
	wantErr(t, CheckName("abcdef", Limits{MaxNameBytes: 5}), "limit", "max-name-bytes")
}

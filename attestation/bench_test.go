package attestation

import (
	"strings"
	"testing"
)

// BenchmarkParseStatement: a statement at the default subject limit
// (10,000 subjects, 1.3 MB), the largest realistic submission.
func BenchmarkParseStatement(b *testing.B) {
	items := strings.TrimSuffix(strings.Repeat(`{"name":"dist/some/artifact-name.tar.gz","digest":{"sha256":"`+sha256A+`"}},`, 10000), ",")
	payload := statementJSON("https://example.com/p", "", items)
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := ParseStatement(payload, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseJSONWorstCase: 3 MB of one-digit numbers, the most values
// per input byte; the tree is about 32 times the input, allocated once.
// (encoding/json decoding into any takes about as long and 40% more memory.)
func BenchmarkParseJSONWorstCase(b *testing.B) {
	in := []byte(`{"a":[` + strings.TrimSuffix(strings.Repeat("0,", 1500000), ",") + "]}")
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := parseJSON(in, jsonOptions{field: "x", maxDepth: 32}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseEnvelope4KiB: a DSSE envelope of a 4 KiB statement with one signature, what attestd-load
// submits and most CI runners send; the payload's base64 is most of its bytes.
func BenchmarkParseEnvelope4KiB(b *testing.B) {
	stmt := statementJSON("https://example.com/p", `{"pad":"`+strings.Repeat("x", 3800)+`"}`, subject("app.tar.gz", sha256A))
	env := signDSSE(b, "application/vnd.in-toto+json", stmt, keyByName(b, "ed25519"))
	b.SetBytes(int64(len(env)))
	for b.Loop() {
		if _, err := ParseEnvelope(env, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

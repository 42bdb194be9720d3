package attestation

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
)

func TestParseJSON(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		raw   bool   // rawControl
		want  string // "" for success, else "input" or "limit"
		frags []string
	}{
		{"object", `{"a":[1,-2.5e+3,"x",true,false,null,{}]}`, false, "", nil},
		{"whitespace around", " \t\r\n{} \n", false, "", nil},
		{"escapes", `["\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"]`, false, "", nil},
		{"empty", ``, false, "input", []string{"unexpected end of input"}},
		{"not JSON", `hello`, false, "input", []string{"invalid JSON at byte 0"}},
		{"duplicate top", `{"a":1,"a":2}`, false, "input", []string{`duplicate key "a"`}},
		{"duplicate nested", `{"a":{"b":1,"c":2,"b":3}}`, false, "input", []string{`duplicate key "b"`}},
		{"duplicate after unescape", `{"a":1,"\u0061":2}`, false, "input", []string{`duplicate key "a"`}},
		{"case differs is not duplicate", `{"a":1,"A":2}`, false, "", nil},
		{"duplicate in large object", `{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k3":0}`, false, "input", []string{`duplicate key "k3"`}},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", false, "input", []string{"invalid UTF-8 at byte 6"}},
		{"invalid UTF-8 outside strings", "{}\xc3", false, "input", []string{"invalid UTF-8"}},
		{"trailing value", `{} {}`, false, "input", []string{"trailing data", "byte 3"}},
		{"trailing garbage", `{"a":1}x`, false, "input", []string{"trailing data"}},
		{"trailing NUL", "{}\x00", false, "input", []string{"trailing data"}},
		{"NUL", "\x00", false, "input", []string{"unexpected"}},
		{"trailing comma", `[1,]`, false, "input", []string{"invalid JSON"}},
		{"leading zero", `[01]`, false, "input", []string{"invalid JSON"}},
		{"bare minus", `[-]`, false, "input", []string{"invalid number"}},
		{"fraction without digits", `[1.]`, false, "input", []string{"invalid number"}},
		{"exponent without digits", `[1e]`, false, "input", []string{"invalid number"}},
		{"single quotes", `{'a':1}`, false, "input", nil},
		{"unterminated", `{"a":"b`, false, "input", []string{"unterminated string"}},
		{"raw newline in string", "[\"a\nb\"]", false, "input", []string{"U+000A", "escaped"}},
		{"raw newline allowed", "[\"a\nb\"]", true, "", nil},
		{"bad escape", `["\x"]`, false, "input", []string{`invalid escape \x`}},
		{"lone high surrogate", `["\ud800"]`, false, "input", []string{"lone UTF-16 surrogate"}},
		{"lone low surrogate", `["\udc00x"]`, false, "input", []string{"lone UTF-16 surrogate"}},
		{"short unicode escape", `["\u12"]`, false, "input", []string{`invalid \u escape`}},
		{"BOM", "\ufeff{}", false, "input", nil},
		{"NaN", `[NaN]`, false, "input", nil},
		{"depth 32", strings.Repeat("[", 32) + strings.Repeat("]", 32), false, "", nil},
		{"depth 33", strings.Repeat("[", 33) + strings.Repeat("]", 33), false, "limit", []string{"max-json-depth", "33 exceeds the limit of 32"}},
		{"deep unterminated", strings.Repeat(`{"a":`, 100000), false, "limit", []string{"max-json-depth"}},
		{"truncated literal", `[tru]`, false, "input", nil},
		{"missing colon", `{"a" 1}`, false, "input", nil},
		{"non-string key", `{1:2}`, false, "input", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseJSON([]byte(tt.in), jsonOptions{field: "test", maxDepth: 32, rawControl: tt.raw})
			wantErr(t, err, tt.want, tt.frags...)
		})
	}
}

func TestParseJSONValues(t *testing.T) {
	v, err := parseJSON([]byte(`{"s":"a\u00e9\ud83d\ude00\n","n":-12.50e3,"t":true,"z":null,"a":[{}]}`), jsonOptions{field: "x", maxDepth: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.get("s").str; got != "aé😀\n" {
		t.Errorf("string = %q", got)
	}
	if got := v.get("n"); got.kind != kindNumber || got.str != "-12.50e3" {
		t.Errorf("number = %+v, want literal text kept", got)
	}
	if v.get("t").str != "true" || v.get("z").kind != kindNull || len(v.get("a").kids) != 1 {
		t.Errorf("unexpected tree %+v", v)
	}
	if v.get("S") != nil {
		t.Error("keys must be case-sensitive")
	}
}

// TestCanonicalJSONMatchesSecuresystemslib checks the canonical encoder
// against cjson.EncodeCanonical, which in-toto signs metablocks with.
func TestCanonicalJSONMatchesSecuresystemslib(t *testing.T) {
	inputs := []string{
		`{}`, `[]`, `null`, `true`, `"x"`, `0`, `-0`, `9223372036854775807`, `-9223372036854775808`,
		`{"b":1,"a":2,"A":3,"_":4,"aa":5,"a b":6}`,
		`{"z":{"y":[1,2,{"x":null,"w":false}],"é":"ü","\u00e9t\u00e9":"x"},"ä":[]}`,
		`{"s":"quote \" backslash \\ slash \/ nl \n tab \t cr \r bell \u0007 del \u007f nul \u0000"}`,
		`{"emoji":"\ud83d\ude00","cjk":"漢字","html":"<&>\u003c","ls":"\u2028"}`,
		`{"_type":"link","name":"build","command":["sh","-c","echo 'a' > b"],"materials":{"src/a.c":{"sha256":"` + sha256A + `"}},"products":{},"byproducts":{"return-value":0,"stdout":"ok\n"},"environment":{}}`,
		`[[[[["deep"]]]],{"k":[{"k":[{"k":{}}]}]}]`,
		`{"b":{"d":1,"c":2},"a":[3,"3",{"3":3}]}`,
	}
	for _, in := range inputs {
		v, err := parseJSON([]byte(in), jsonOptions{field: "t", maxDepth: 32})
		if err != nil {
			t.Fatalf("parse %s: %v", in, err)
		}
		got, err := canonicalJSON(v)
		if err != nil {
			t.Fatalf("canonicalJSON(%s): %v", in, err)
		}
		var obj any
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			t.Fatal(err)
		}
		want, err := cjson.EncodeCanonical(obj)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("canonical(%s)\n got %q\nwant %q", in, got, want)
		}
	}
}

func TestCanonicalJSONRejectsFloats(t *testing.T) {
	for _, in := range []string{`1.5`, `{"a":[1e3]}`, `1.0`, `9223372036854775808`, `-1E2`} {
		v, err := parseJSON([]byte(in), jsonOptions{field: "t", maxDepth: 32})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := canonicalJSON(v); err == nil || !strings.Contains(err.Error(), "integer") {
			t.Errorf("canonicalJSON(%s) = %v, want an error about integers", in, err)
		}
		// securesystemslib refuses these too.
		var obj any
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		_ = dec.Decode(&obj)
		if _, err := cjson.EncodeCanonical(obj); err == nil {
			t.Errorf("cjson accepted %s; the encoders disagree", in)
		}
	}
}

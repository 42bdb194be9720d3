package rekor

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenEntry is a fixed Entry: its JSON form is testdata/entry.json.
func goldenEntry() Entry {
	h := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	return Entry{
		UUID:                 "24296fb24b8ad77a" + strings.Repeat("0123456789abcdef", 4),
		LogIndex:             1234,
		IntegratedTime:       time.Unix(1790000000, 0).UTC(),
		LogID:                strings.Repeat("c0ffee", 10) + "c0ff",
		Body:                 []byte(`{"apiVersion":"0.0.1","kind":"dsse","spec":{}}`),
		SignedEntryTimestamp: []byte("a signature"),
		InclusionProof: &InclusionProof{
			LogIndex:   1000,
			RootHash:   h(0xaa),
			TreeSize:   2000,
			Hashes:     [][]byte{h(0x01), h(0x02)},
			Checkpoint: "rekor - 2605736670972794746\n2000\nqqqq\n\n— rekor sig\n",
		},
	}
}

// TestEntryJSONIsStable pins the stored form: a change here breaks rows that
// are already in databases.
func TestEntryJSONIsStable(t *testing.T) {
	got, err := goldenEntry().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "entry.json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.TrimSuffix(want, []byte("\n"))) {
		t.Fatalf("Marshal =\n%s\nwant (testdata/entry.json)\n%s", got, want)
	}
	back, err := ParseEntry(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, goldenEntry()) {
		t.Fatalf("ParseEntry(Marshal(e)) = %+v, want %+v", back, goldenEntry())
	}
}

func TestEntryInsideJSON(t *testing.T) {
	type row struct {
		Rekor *Entry `json:"rekor"`
	}
	e := goldenEntry()
	b, err := json.Marshal(row{&e})
	if err != nil {
		t.Fatal(err)
	}
	var r row
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*r.Rekor, e) {
		t.Fatalf("round trip inside JSON = %+v", r.Rekor)
	}
	if err := json.Unmarshal([]byte(`{"rekor":{"uuid":"x"}}`), &r); !errors.Is(err, ErrMalformedEntry) {
		t.Fatalf("Unmarshal of a bad entry = %v, want ErrMalformedEntry", err)
	}
}

func TestEntryWithoutProof(t *testing.T) {
	e := goldenEntry()
	e.InclusionProof = nil
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("inclusionProof")) {
		t.Fatalf("Marshal = %s, want no inclusionProof", b)
	}
	back, err := ParseEntry(b)
	if err != nil || back.InclusionProof != nil {
		t.Fatalf("ParseEntry = %+v, %v", back, err)
	}
}

// TestParseEntryRefuses changes one thing in the golden JSON at a time.
func TestParseEntryRefuses(t *testing.T) {
	golden, err := goldenEntry().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) []byte {
		if !bytes.Contains(golden, []byte(old)) {
			t.Fatalf("%q is not in the golden JSON", old)
		}
		return bytes.Replace(golden, []byte(old), []byte(new), 1)
	}
	hashes := `"` + strings.Repeat("01", 32) + `"`
	tooMany := strings.Repeat(hashes+",", maxProofLen) + hashes
	cases := map[string][]byte{
		"empty":                     nil,
		"null":                      []byte("null"),
		"array":                     []byte("[]"),
		"trailing data":             append(append([]byte(nil), golden...), []byte(" {}")...),
		"unknown field":             edit(`{"uuid"`, `{"extra":1,"uuid"`),
		"unknown proof field":       edit(`"treeSize"`, `"size":1,"treeSize"`),
		"over MaxEntrySize":         append(append([]byte(nil), golden...), bytes.Repeat([]byte(" "), MaxEntrySize)...),
		"short UUID":                edit(`"uuid":"24296fb24b8ad77a0123`, `"uuid":"`),
		"uppercase UUID":            edit(`"uuid":"24296fb24b8ad77a`, `"uuid":"24296FB24B8AD77A`),
		"negative log index":        edit(`"logIndex":1234`, `"logIndex":-1`),
		"fractional log index":      edit(`"logIndex":1234`, `"logIndex":1.5`),
		"huge log index":            edit(`"logIndex":1234`, `"logIndex":99999999999999999999`),
		"negative integrated time":  edit(`"integratedTime":1790000000`, `"integratedTime":-1`),
		"integrated time past 9999": edit(`"integratedTime":1790000000`, `"integratedTime":253402300800`),
		"short log ID":              edit(`"logID":"c0ffee`, `"logID":"`),
		"no body":                   edit(`"body":"`, `"nobody":"`),
		"empty body":                []byte(strings.Replace(string(golden), string(mustField(t, golden, "body")), `""`, 1)),
		"body not base64":           edit(`"body":"`, `"body":"!`),
		"empty SET":                 edit(`"signedEntryTimestamp":"YSBzaWduYXR1cmU="`, `"signedEntryTimestamp":""`),
		"SET too long":              edit(`"signedEntryTimestamp":"YSBzaWduYXR1cmU="`, `"signedEntryTimestamp":"`+strings.Repeat("AAAA", maxSET/3+1)+`"`),
		"tree size 0":               edit(`"treeSize":2000`, `"treeSize":0`),
		"leaf index = tree size":    edit(`"logIndex":1000`, `"logIndex":2000`),
		"negative leaf index":       edit(`"logIndex":1000`, `"logIndex":-1`),
		"short root hash":           edit(`"rootHash":"aa`, `"rootHash":"`),
		"uppercase root hash":       edit(`"rootHash":"aa`, `"rootHash":"AA`),
		"short proof hash":          edit(`"hashes":["01`, `"hashes":["`),
		"proof hash not a string":   edit(`"hashes":[`, `"hashes":[1,`),
		"too many proof hashes":     edit(`"hashes":[`, `"hashes":[`+tooMany+`,`),
		"empty checkpoint":          []byte(strings.Replace(string(golden), string(mustField(t, golden, "checkpoint")), `""`, 1)),
		"checkpoint too long":       []byte(strings.Replace(string(golden), string(mustField(t, golden, "checkpoint")), `"`+strings.Repeat("x", maxCheckpoint+1)+`"`, 1)),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			e, err := ParseEntry(b)
			if !errors.Is(err, ErrMalformedEntry) {
				t.Fatalf("ParseEntry = %+v, %v; want ErrMalformedEntry", e, err)
			}
		})
	}
}

// mustField returns the raw JSON value of a field of the top level or of the inclusion proof.
func mustField(t *testing.T, doc []byte, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	if v, ok := m[name]; ok {
		return v
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(m["inclusionProof"], &p); err != nil {
		t.Fatal(err)
	}
	v, ok := p[name]
	if !ok {
		t.Fatalf("no field %q", name)
	}
	return v
}

func TestMarshalRefuses(t *testing.T) {
	cases := map[string]func(e *Entry){
		"zero Entry":            func(e *Entry) { *e = Entry{} },
		"before 1970":           func(e *Entry) { e.IntegratedTime = time.Unix(-1, 0) },
		"no body":               func(e *Entry) { e.Body = nil },
		"body too long":         func(e *Entry) { e.Body = make([]byte, maxBody+1) },
		"short proof hash":      func(e *Entry) { e.InclusionProof.Hashes[1] = []byte{1} },
		"leaf index past tree":  func(e *Entry) { e.InclusionProof.LogIndex = e.InclusionProof.TreeSize },
		"root hash of 31 bytes": func(e *Entry) { e.InclusionProof.RootHash = e.InclusionProof.RootHash[1:] },
	}
	for name, change := range cases {
		e := goldenEntry()
		change(&e)
		if b, err := e.Marshal(); !errors.Is(err, ErrMalformedEntry) {
			t.Errorf("%s: Marshal = %s, %v; want ErrMalformedEntry", name, b, err)
		}
	}
}

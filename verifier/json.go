package verifier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// node is one value of a JSON document read strictly: objects keep their
// members in order, and duplicate member names are refused.
type node struct {
	kind  byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	str   string
	num   json.Number
	keys  []string
	vals  []*node // object member values, or array elements
	boolV bool
}

func (n *node) get(key string) *node {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

func (n *node) typeName() string {
	switch n.kind {
	case 'o':
		return "an object"
	case 'a':
		return "an array"
	case 's':
		return "a string"
	case 'n':
		return "a number"
	case 'b':
		return "a boolean"
	}
	return "null"
}

// parseStrictJSON reads one JSON document: valid UTF-8, no duplicate member
// names, at most MaxJSONDepth deep, nothing after it. Control characters
// written raw inside strings are accepted, as OLPC canonical JSON (what a
// metablock's signatures cover) writes them that way.
func parseStrictJSON(b []byte) (*node, error) {
	if err := checkLimit(LimitLayoutBytes, "layout bytes", len(b), MaxLayoutBytes); err != nil {
		return nil, err
	}
	if !utf8.Valid(b) {
		return nil, inputErr("layout", "is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(escapeRawControls(b)))
	dec.UseNumber()
	root, err := readNode(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, inputErr("layout", "trailing data after the JSON document")
	}
	return root, nil
}

func readNode(dec *json.Decoder, depth int) (*node, error) {
	if depth > MaxJSONDepth {
		return nil, checkLimit(LimitJSONDepth, "layout nesting", depth, MaxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, inputErr("layout", "invalid JSON: %v", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &node{kind: 'o'}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, inputErr("layout", "invalid JSON: %v", err)
				}
				key, _ := kt.(string)
				if seen[key] {
					return nil, inputErr("layout", "duplicate member %s", quote(key))
				}
				seen[key] = true
				v, err := readNode(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.keys, n.vals = append(n.keys, key), append(n.vals, v)
			}
			_, err := dec.Token() // '}'
			if err != nil {
				return nil, inputErr("layout", "invalid JSON: %v", err)
			}
			return n, nil
		case '[':
			n := &node{kind: 'a'}
			for dec.More() {
				v, err := readNode(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, inputErr("layout", "invalid JSON: %v", err)
			}
			return n, nil
		}
	case string:
		return &node{kind: 's', str: t}, nil
	case json.Number:
		return &node{kind: 'n', num: t}, nil
	case bool:
		return &node{kind: 'b', boolV: t}, nil
	case nil:
		return &node{kind: 'z'}, nil
	}
	return nil, inputErr("layout", "invalid JSON token %v", tok)
}

// escapeRawControls rewrites control characters that appear raw inside JSON
// strings as \u00XX escapes, which encoding/json accepts. Outside strings
// they are left for the decoder to refuse.
func escapeRawControls(b []byte) []byte {
	if bytes.IndexFunc(b, func(r rune) bool { return r < 0x20 && r != ' ' && r != '\t' && r != '\n' && r != '\r' }) < 0 &&
		!bytes.ContainsAny(b, "\t\n\r") {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString && c < 0x20:
			out = append(out, fmt.Sprintf(`\u%04x`, c)...)
			continue
		}
		out = append(out, c)
	}
	return out
}

package attestation

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// This file holds the strict JSON reader. encoding/json is not used for input:
// it matches struct fields case-insensitively, keeps the last of duplicate
// keys and silently replaces invalid UTF-8, each of which lets two parsers
// read one envelope differently. The reader below is iterative (no recursion,
// so nesting costs heap, bounded by the depth limit) and keeps numbers as
// their literal text.
//
// It reads the input twice. The first pass checks the syntax and the depth
// and counts the members of every object and array; the second builds the
// tree in one allocation of exactly the right size and checks for duplicate
// keys. Growing slices by append instead cost five times the size of the
// tree in garbage on a large array of small values, and the size of the tree
// itself is at most 32 times the input (64 bytes per value of 2 bytes, "0,").

// kind is the JSON type of a value.
type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// value is a node of the tree the reader produces.
type value struct {
	kind kind
	key  string  // member name, when this value is a member of an object
	str  string  // string contents (unescaped), number literal, or "true"/"false"
	kids []value // array elements or object members, in input order
}

// get returns the member of object v named key (compared byte for byte), or
// nil if v is not an object or has no such member.
func (v *value) get(key string) *value {
	if v == nil || v.kind != kindObject {
		return nil
	}
	for i := range v.kids {
		if v.kids[i].key == key {
			return &v.kids[i]
		}
	}
	return nil
}

// typeName names v's type for error messages.
func (v *value) typeName() string {
	switch v.kind {
	case kindNull:
		return "null"
	case kindBool:
		return "a boolean"
	case kindNumber:
		return "a number"
	case kindString:
		return "a string"
	case kindArray:
		return "an array"
	default:
		return "an object"
	}
}

// jsonOptions configures parseJSON.
type jsonOptions struct {
	field    string // InputError.Field for syntax errors ("envelope", "payload")
	maxDepth int    // deepest nesting of objects and arrays allowed
	// rawControl accepts unescaped control characters (U+0000 to U+001F)
	// inside strings. OLPC canonical JSON, which in-toto tooling uses for
	// link payloads, writes them that way; strict JSON does not allow them.
	rawControl bool
}

// frame is an object or array being read.
type frame struct {
	v    value
	idx  int                 // index of the container in parser.counts
	key  string              // name of the member whose value is being read
	seen map[string]struct{} // member names, once the object is too large to scan
}

// parser reads one JSON text.
type parser struct {
	jsonOptions
	s   string
	pos int

	building bool    // false in the first pass, true in the second
	counts   []int32 // members of each container, in the order they open (first pass)
	total    int     // sum of counts
	opened   int     // containers opened so far in this pass
	arena    []value // storage for the members of the containers not yet opened (second pass)
}

// parseJSON reads b as exactly one JSON value, optionally surrounded by
// whitespace. It refuses invalid UTF-8, duplicate object keys, lone UTF-16
// surrogates in escapes and trailing data with an *InputError, and nesting
// deeper than opt.maxDepth with a *LimitError.
func parseJSON(b []byte, opt jsonOptions) (*value, error) {
	if !utf8.Valid(b) {
		i := 0
		for i < len(b) {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return nil, inputErr(opt.field, "invalid UTF-8 at byte %d", i)
	}
	p := &parser{jsonOptions: opt, s: string(b)}
	if _, err := p.document(); err != nil {
		return nil, err
	}
	p.building, p.pos, p.opened = true, 0, 0
	p.arena = make([]value, p.total)
	v, err := p.document()
	if err != nil {
		return nil, err
	}
	return &v, nil
}

func (p *parser) syntaxErr(format string, args ...any) error {
	return inputErr(p.field, "invalid JSON at byte %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) skipSpace() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// next returns the next byte after whitespace without consuming it; 0 at the end.
func (p *parser) next() byte {
	p.skipSpace()
	if p.pos >= len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

func (p *parser) unexpected() error {
	if p.pos >= len(p.s) {
		return p.syntaxErr("unexpected end of input")
	}
	r, _ := utf8.DecodeRuneInString(p.s[p.pos:])
	return p.syntaxErr("unexpected %q", r)
}

// document reads the top-level value and checks that only whitespace follows.
func (p *parser) document() (value, error) {
	var stack []frame
	for {
		// A value is expected here.
		var v value
		switch c := p.next(); {
		case c == '{' || c == '[':
			if len(stack)+1 > p.maxDepth {
				return value{}, &LimitError{Limit: LimitJSONDepth, Max: p.maxDepth, Got: len(stack) + 1,
					What: p.field + " JSON nesting depth"}
			}
			p.pos++
			f := frame{idx: p.opened, v: value{kind: kindArray}}
			if c == '{' {
				f.v.kind = kindObject
			}
			p.opened++
			if p.building {
				n := int(p.counts[f.idx])
				f.v.kids, p.arena = p.arena[:0:n], p.arena[n:]
			} else {
				p.counts = append(p.counts, 0)
			}
			stack = append(stack, f)
			if c == '{' {
				if p.next() != '}' {
					if err := p.memberName(&stack[len(stack)-1]); err != nil {
						return value{}, err
					}
					continue
				}
			} else {
				if p.next() != ']' {
					continue
				}
			}
			p.pos++ // an empty object or array
			v = stack[len(stack)-1].v
			stack = stack[:len(stack)-1]
		case c == '"':
			s, err := p.str()
			if err != nil {
				return value{}, err
			}
			v = value{kind: kindString, str: s}
		case c == '-' || (c >= '0' && c <= '9'):
			lit, err := p.number()
			if err != nil {
				return value{}, err
			}
			v = value{kind: kindNumber, str: lit}
		case strings.HasPrefix(p.s[p.pos:], "true"):
			p.pos += 4
			v = value{kind: kindBool, str: "true"}
		case strings.HasPrefix(p.s[p.pos:], "false"):
			p.pos += 5
			v = value{kind: kindBool, str: "false"}
		case strings.HasPrefix(p.s[p.pos:], "null"):
			p.pos += 4
			v = value{kind: kindNull}
		default:
			return value{}, p.unexpected()
		}

		// A complete value: attach it to its container, closing containers
		// as long as their closing bracket follows.
		for {
			if len(stack) == 0 {
				if p.skipSpace(); p.pos < len(p.s) {
					return value{}, inputErr(p.field, "trailing data after the JSON value at byte %d", p.pos)
				}
				return v, nil
			}
			top := &stack[len(stack)-1]
			if p.building {
				if top.v.kind == kindObject {
					v.key = top.key
				}
				top.v.kids = append(top.v.kids, v) // within the capacity counted
			} else {
				p.counts[top.idx]++
				p.total++
			}
			c := p.next()
			if c == ',' {
				p.pos++
				if top.v.kind == kindObject {
					if err := p.memberName(top); err != nil {
						return value{}, err
					}
				}
				break
			}
			if (top.v.kind == kindObject && c == '}') || (top.v.kind == kindArray && c == ']') {
				p.pos++
				v = top.v
				stack = stack[:len(stack)-1]
				continue
			}
			return value{}, p.unexpected()
		}
	}
}

// memberName reads `"name":` into f.key, refusing a name already used in f.
func (p *parser) memberName(f *frame) error {
	if p.next() != '"' {
		return p.unexpected()
	}
	at := p.pos
	name, err := p.str()
	if err != nil {
		return err
	}
	if p.building && f.has(name) { // members are not kept in the first pass
		return inputErr(p.field, "duplicate key %s at byte %d", quote(name), at)
	}
	if p.next() != ':' {
		return p.unexpected()
	}
	p.pos++
	f.key = name
	return nil
}

// has reports whether the object being read already has a member called
// name, and records name for the next call.
func (f *frame) has(name string) bool {
	const scanMax = 16 // below this many members a linear scan is cheaper than a map
	if f.seen == nil && len(f.v.kids) < scanMax {
		for i := range f.v.kids {
			if f.v.kids[i].key == name {
				return true
			}
		}
		return false
	}
	if f.seen == nil {
		f.seen = make(map[string]struct{}, 2*len(f.v.kids))
		for i := range f.v.kids {
			f.seen[f.v.kids[i].key] = struct{}{}
		}
	}
	if _, dup := f.seen[name]; dup {
		return true
	}
	f.seen[name] = struct{}{}
	return false
}

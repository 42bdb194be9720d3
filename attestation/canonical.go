package attestation

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// canonicalJSON encodes v in the OLPC canonical JSON form that
// securesystemslib (cjson.EncodeCanonical) and in-toto sign classic metablocks
// and compute key ids over: object members sorted by name (byte order), no
// insignificant whitespace, strings written raw except that backslash and
// double quote are escaped, and integers only (a float, an exponent or an
// integer outside the int64 range is an error, as in securesystemslib).
//
// The recursion is bounded by the depth of v, which parseJSON bounds.
func canonicalJSON(v *value) ([]byte, error) {
	var b bytes.Buffer
	if err := writeCanonical(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeCanonical(b *bytes.Buffer, v *value) error {
	switch v.kind {
	case kindNull:
		b.WriteString("null")
	case kindBool:
		b.WriteString(v.str)
	case kindNumber:
		if !isCanonicalInt(v.str) {
			return fmt.Errorf("the number %s is not an integer in the int64 range; canonical JSON allows only those", quote(v.str))
		}
		b.WriteString(v.str)
	case kindString:
		writeCanonicalString(b, v.str)
	case kindArray:
		b.WriteByte('[')
		for i := range v.kids {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeCanonical(b, &v.kids[i]); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case kindObject:
		order := make([]int, len(v.kids))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(i, j int) int { return strings.Compare(v.kids[i].key, v.kids[j].key) })
		b.WriteByte('{')
		for n, i := range order {
			if n > 0 {
				b.WriteByte(',')
			}
			writeCanonicalString(b, v.kids[i].key)
			b.WriteByte(':')
			if err := writeCanonical(b, &v.kids[i]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	}
	return nil
}

func writeCanonicalString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '"' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

// isCanonicalInt reports whether lit is a JSON integer literal (no fraction,
// no exponent) that fits in an int64, which is what securesystemslib accepts.
func isCanonicalInt(lit string) bool {
	if strings.ContainsAny(lit, ".eE") {
		return false
	}
	_, err := strconv.ParseInt(lit, 10, 64)
	return err == nil
}

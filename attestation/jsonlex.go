package attestation

import (
	"strings"
	"unicode/utf16"
)

// This file holds the lexical part of the strict JSON reader: string and
// number literals. The input has been checked to be valid UTF-8 as a whole,
// so raw bytes are copied as they are.

// str reads a string literal starting at its opening quote.
func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: no escapes, the string is a substring of the input. Runs of plain bytes are skipped eight at a
	// time; the loop below looks at the byte that ended the run.
	p.pos += plainRun(p.s[p.pos:], p.rawControl)
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == '"' {
			p.pos++
			return p.s[start : p.pos-1], nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 && !p.rawControl {
			return "", p.syntaxErr("control character U+%04X in a string must be escaped", c)
		}
		p.pos++
	}
	var b strings.Builder
	b.WriteString(p.s[start:p.pos])
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c < 0x20 && !p.rawControl:
			return "", p.syntaxErr("control character U+%04X in a string must be escaped", c)
		case c != '\\':
			b.WriteByte(c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.s) {
			break
		}
		esc := p.s[p.pos+1]
		p.pos += 2
		switch esc {
		case '"', '\\', '/':
			b.WriteByte(esc)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, err := p.unicodeEscape()
			if err != nil {
				return "", err
			}
			b.WriteRune(r)
		default:
			p.pos -= 2
			return "", p.syntaxErr("invalid escape \\%c", esc)
		}
	}
	return "", p.syntaxErr("unterminated string")
}

// Masks for plainRun: a byte of each value, and the high bit of each byte.
const (
	swarOnes  = 0x0101010101010101
	swarHighs = 0x8080808080808080
)

// plainRun returns how many bytes at the start of s a string literal copies as they are: none is a quote, a
// backslash or, unless rawControl, a control character (below U+0020). It reads s eight bytes at a time and
// stops before the first word that holds any of them, leaving that word to the byte loop of str; a shorter
// run is only a slower scan, never a different result.
func plainRun(s string, rawControl bool) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// x ^ (each byte c) has a zero byte where x holds c; (x - ones) &^ x & highs is non-zero exactly when x
		// has a zero byte, and (w - 0x20 in each byte) &^ w & highs exactly when w has a byte below 0x20.
		special := hasZeroByte(w^(swarOnes*'"')) | hasZeroByte(w^(swarOnes*'\\'))
		if !rawControl {
			special |= (w - swarOnes*0x20) &^ w & swarHighs // some byte is below 0x20
		}
		if special != 0 {
			break
		}
	}
	return i
}

// hasZeroByte is non-zero if some byte of w is zero.
func hasZeroByte(w uint64) uint64 {
	return (w - swarOnes) &^ w & swarHighs
}

// unicodeEscape reads the XXXX of \uXXXX (p.pos is just past the u), and the
// low half that must follow a high surrogate.
func (p *parser) unicodeEscape() (rune, error) {
	r, ok := p.hex4()
	if !ok {
		return 0, p.syntaxErr("invalid \\u escape")
	}
	if !utf16.IsSurrogate(r) {
		return r, nil
	}
	if r < 0xDC00 && strings.HasPrefix(p.s[p.pos:], `\u`) {
		p.pos += 2
		if lo, ok := p.hex4(); ok && lo >= 0xDC00 && lo <= 0xDFFF {
			return utf16.DecodeRune(r, lo), nil
		}
	}
	return 0, p.syntaxErr("lone UTF-16 surrogate in a \\u escape")
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(p.s[p.pos : p.pos+4]) {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

// number reads a number literal: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *parser) number() (string, error) {
	start := p.pos
	digits := func() int {
		n := 0
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.s[p.pos] == '-' {
		p.pos++
	}
	if p.pos < len(p.s) && p.s[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return "", p.syntaxErr("invalid number")
	}
	if p.pos < len(p.s) && p.s[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return "", p.syntaxErr("invalid number")
		}
	}
	if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.s) && (p.s[p.pos] == '+' || p.s[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return "", p.syntaxErr("invalid number")
		}
	}
	return p.s[start:p.pos], nil
}

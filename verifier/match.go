package verifier

import (
	"errors"
	"unicode/utf8"
)

// ErrBadPattern is wrapped by the errors of CompilePattern for a pattern that
// is not well formed.
var ErrBadPattern = errors.New("malformed pattern")

// Pattern is a compiled in-toto artifact pattern. The syntax is in-toto's
// (in-toto-golang's match, a variant of path.Match without separators):
//
//	'*'          any sequence of bytes, '/' included
//	'?'          any one character, '/' included
//	'[' ['!'] { c | lo '-' hi } ']'
//	             one character in (or, with '!', not in) the class; '^' is not negation
//	'\\' c       the byte c
//	c            the byte c
//
// A pattern matches the whole name, not a part of it.
type Pattern struct {
	src  string
	toks []token
}

type token struct {
	kind   byte // 'c' literal byte, '?' any character, '[' class, '*' star
	c      byte
	neg    bool
	ranges []runeRange
}

type runeRange struct{ lo, hi rune }

// String returns the pattern as written.
func (p *Pattern) String() string { return p.src }

// CompilePattern checks and compiles pattern. It fails for a pattern longer
// than MaxPatternBytes (*attestation.LimitError) and for a malformed one: an
// unterminated or empty class, a trailing backslash, a range bound that is
// missing or not valid UTF-8 (an error wrapping ErrBadPattern).
func CompilePattern(pattern string) (*Pattern, error) {
	if err := checkLimit(LimitPatternBytes, "pattern bytes", len(pattern), MaxPatternBytes); err != nil {
		return nil, err
	}
	p := &Pattern{src: pattern}
	for i := 0; i < len(pattern); {
		switch c := pattern[i]; c {
		case '*':
			if n := len(p.toks); n == 0 || p.toks[n-1].kind != '*' {
				p.toks = append(p.toks, token{kind: '*'})
			}
			i++
		case '?':
			p.toks = append(p.toks, token{kind: '?'})
			i++
		case '\\':
			if i+1 >= len(pattern) {
				return nil, badPattern("trailing backslash")
			}
			p.toks = append(p.toks, token{kind: 'c', c: pattern[i+1]})
			i += 2
		case '[':
			t, n, err := compileClass(pattern[i+1:])
			if err != nil {
				return nil, err
			}
			p.toks = append(p.toks, t)
			i += 1 + n
		default:
			p.toks = append(p.toks, token{kind: 'c', c: c})
			i++
		}
	}
	return p, nil
}

func badPattern(reason string) error { return &patternError{reason} }

type patternError struct{ reason string }

func (e *patternError) Error() string { return ErrBadPattern.Error() + ": " + e.reason }
func (e *patternError) Unwrap() error { return ErrBadPattern }

// compileClass reads a class after its '[' and returns how many bytes it used.
func compileClass(s string) (token, int, error) {
	t := token{kind: '['}
	i := 0
	if i < len(s) && s[i] == '!' {
		t.neg = true
		i++
	}
	for {
		if i < len(s) && s[i] == ']' && len(t.ranges) > 0 {
			return t, i + 1, nil
		}
		lo, n, err := classChar(s[i:])
		if err != nil {
			return t, 0, err
		}
		i += n
		hi := lo
		if s[i] == '-' { // classChar guarantees s[i] exists
			if hi, n, err = classChar(s[i+1:]); err != nil {
				return t, 0, err
			}
			i += 1 + n
		}
		t.ranges = append(t.ranges, runeRange{lo, hi})
	}
}

// classChar reads one possibly escaped character of a class; like
// in-toto-golang's getEsc it requires something after it.
func classChar(s string) (rune, int, error) {
	if len(s) == 0 || s[0] == '-' || s[0] == ']' {
		return 0, 0, badPattern("unterminated or empty character class, or a range without a bound")
	}
	i := 0
	if s[0] == '\\' {
		i++
		if i >= len(s) {
			return 0, 0, badPattern("trailing backslash in a character class")
		}
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n == 1 {
		return 0, 0, badPattern("invalid UTF-8 in a character class")
	}
	if i+n >= len(s) {
		return 0, 0, badPattern("unterminated character class")
	}
	return r, i + n, nil
}

// Match reports whether p matches all of name. work, if not nil, is
// increased by the number of steps taken, at most
// (len(name)+1) x (number of tokens + 1).
//
// The algorithm is the classic one for wildcards with backtracking to the
// last star only: since '*' matches anything, an earlier star never needs to
// give back what a later one could take, so there is no exponential case.
func (p *Pattern) Match(name string, work *int) bool {
	toks := p.toks
	i, j := 0, 0
	starJ, starI := -1, 0
	steps := 0
	defer func() {
		if work != nil {
			*work += steps
		}
	}()
	for {
		steps++
		if j < len(toks) {
			t := &toks[j]
			if t.kind == '*' {
				starJ, starI = j, i
				j++
				continue
			}
			if i < len(name) {
				if n := t.width(name[i:]); n > 0 {
					i += n
					j++
					continue
				}
			}
		} else if i == len(name) {
			return true
		}
		// Mismatch: let the last star take one more byte, as
		// in-toto-golang does (bytes, not characters).
		if starJ < 0 || starI >= len(name) {
			return false
		}
		starI++
		i, j = starI, starJ+1
	}
}

// width returns how many bytes of s (non-empty) t matches, or 0.
func (t *token) width(s string) int {
	switch t.kind {
	case 'c':
		if s[0] == t.c {
			return 1
		}
		return 0
	case '?':
		_, n := utf8.DecodeRuneInString(s)
		return n
	}
	r, n := utf8.DecodeRuneInString(s)
	in := false
	for _, rg := range t.ranges {
		if rg.lo <= r && r <= rg.hi {
			in = true
			break
		}
	}
	if in == t.neg {
		return 0
	}
	return n
}

// Match reports whether name matches pattern; a malformed pattern matches
// nothing. It is a convenience for tests and tools; the engine compiles each
// pattern once.
func Match(pattern, name string) bool {
	p, err := CompilePattern(pattern)
	if err != nil {
		return false
	}
	return p.Match(name, nil)
}

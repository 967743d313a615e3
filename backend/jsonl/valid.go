package jsonl

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// embeddable reports whether payload can be written verbatim as JSON: valid
// JSON (exactly as json.Valid decides) and UTF-8 (so jq shows the exact
// bytes) with no newline (so the record stays one line). Anything else is
// written as base64.
//
// It is one pass with no allocation, two to four times faster than
// json.Valid plus utf8.Valid (BenchmarkEmbeddable), which were the largest
// cost of a SyncNone Append after the write itself. FuzzEmbeddable holds it to that
// definition. Outside strings every valid byte is ASCII, so UTF-8 is checked
// only inside strings; a raw newline is invalid inside a string, so outside
// one it is simply not taken as whitespace.
func embeddable(payload []byte) bool {
	v := validator{b: payload}
	v.space()
	if !v.value() {
		return false
	}
	v.space()
	return v.i == len(v.b)
}

// maxDepth is encoding/json's nesting limit: json.Valid refuses a value
// nested deeper than this many arrays and objects.
const maxDepth = 10000

// validator is the state of one embeddable check: an explicit stack of the
// open containers, one bit each (set for an object), so deep nesting costs
// no recursion, and nesting up to 64 deep allocates nothing.
type validator struct {
	b     []byte
	i     int
	depth int
	small uint64   // the containers at depths 0 to 63
	deep  []uint64 // those at depth 64 and beyond
}

// setObject records whether the container at depth d is an object.
func (v *validator) setObject(d int, obj bool) {
	word := &v.small
	if d >= 64 {
		if (d-64)/64 == len(v.deep) {
			v.deep = append(v.deep, 0)
		}
		word = &v.deep[(d-64)/64]
	}
	if obj {
		*word |= 1 << (d % 64)
	} else {
		*word &^= 1 << (d % 64)
	}
}

// object reports whether the innermost open container is an object.
func (v *validator) object() bool {
	d, word := v.depth-1, v.small
	if d >= 64 {
		word = v.deep[(d-64)/64]
	}
	return word&(1<<(d%64)) != 0
}

// space skips JSON whitespace other than the newline.
func (v *validator) space() {
	for v.i < len(v.b) {
		switch v.b[v.i] {
		case ' ', '\t', '\r':
			v.i++
		default:
			return
		}
	}
}

// value checks one JSON value at v.i and the whole of any container it
// opens, leaving v.i after it.
func (v *validator) value() bool {
	for {
		// A value, at v.i, after any whitespace.
		if v.i >= len(v.b) {
			return false
		}
		switch c := v.b[v.i]; c {
		case '{', '[':
			if v.depth == maxDepth {
				return false
			}
			obj := c == '{'
			v.setObject(v.depth, obj)
			v.depth++
			v.i++
			v.space()
			if v.i < len(v.b) && v.b[v.i] == c+2 { // '}' is '{'+2, ']' is '['+2
				v.i++
				v.depth--
				break
			}
			if obj && !v.key() {
				return false
			}
			continue
		case '"':
			if !v.str() {
				return false
			}
		case 't':
			if !v.lit("true") {
				return false
			}
		case 'f':
			if !v.lit("false") {
				return false
			}
		case 'n':
			if !v.lit("null") {
				return false
			}
		default:
			if !v.number() {
				return false
			}
		}
		// After a value: close containers, or go on to the next element.
		for {
			if v.depth == 0 {
				return true
			}
			v.space()
			if v.i >= len(v.b) {
				return false
			}
			obj := v.object()
			c := v.b[v.i]
			v.i++
			if c == ',' {
				v.space()
				if obj && !v.key() {
					return false
				}
				break
			}
			if obj && c != '}' || !obj && c != ']' {
				return false
			}
			v.depth--
		}
	}
}

// key checks an object's key and its colon, leaving v.i at the value.
func (v *validator) key() bool {
	if v.i >= len(v.b) || v.b[v.i] != '"' || !v.str() {
		return false
	}
	v.space()
	if v.i >= len(v.b) || v.b[v.i] != ':' {
		return false
	}
	v.i++
	v.space()
	return true
}

func (v *validator) lit(word string) bool {
	if len(v.b)-v.i < len(word) || string(v.b[v.i:v.i+len(word)]) != word {
		return false
	}
	v.i += len(word)
	return true
}

// str checks the string opening at v.i: its escapes, no control bytes, and
// valid UTF-8. Plain ASCII is skipped eight bytes at a time.
func (v *validator) str() bool {
	b, i := v.b, v.i+1
	for {
		for len(b)-i >= 8 {
			if m := special8(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto special
			}
			i += 8
		}
		for i < len(b) && plainString[b[i]] {
			i++
		}
	special:
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '"':
			v.i = i + 1
			return true
		case c == '\\':
			if i+1 >= len(b) {
				return false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return false
				}
				i += 6
			default:
				return false
			}
		case c < 0x20:
			return false
		default: // the first byte of a multi-byte sequence, or not UTF-8
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return false
			}
			i += n
		}
	}
}

// plainString marks the bytes a string holds as they are: ASCII other than
// control bytes, '"' and '\\'.
var plainString = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// number checks a number at v.i: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (v *validator) number() bool {
	b, i := v.b, v.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return false
		}
		i = j
	}
	v.i = i
	return true
}

// digits returns the position after the decimal digits at b[i:].
func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// special8 returns a mask whose lowest set bit is the high bit of the first
// of the eight bytes in x (little-endian) that is not plainString: a control
// byte, '"', '\\' or a byte of a multi-byte UTF-8 sequence; zero when there
// is none. A byte's subtraction sets its high bit when it is below the
// subtrahend, and a borrow into a later byte follows only such a hit, so
// bits above the first hit may be wrong but none below it is set.
func special8(x uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	return (x | (x - lo*0x20) | ((x ^ lo*'"') - lo) | ((x ^ lo*'\\') - lo)) & hi
}

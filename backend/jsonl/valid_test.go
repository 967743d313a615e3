package jsonl

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// embeddableReference is the definition embeddable implements, with the
// standard library's checks.
func embeddableReference(payload []byte) bool {
	return len(payload) > 0 &&
		bytes.IndexByte(payload, '\n') < 0 &&
		utf8.Valid(payload) &&
		json.Valid(payload)
}

// embeddableCases are JSON texts at the edges of the grammar, valid and
// not; FuzzEmbeddable starts from them and TestEmbeddable checks them.
var embeddableCases = []string{
	``, ` `, `0`, `-0`, `-`, `01`, `-01`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-05`, `1e`, `1e+`, `-1.5e-3`,
	`1 2`, ` 1 `, "\t1\r", "1\n", "\n1", `+1`, `0x1`, `1true`, `[1true]`,
	`true`, `false`, `null`, `tru`, `nul`, `True`, `nulll`,
	`""`, `"a"`, `"\""`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u00e9"`, `"\u00E9"`, `"\ud800"`, `"\u12"`, `"\u12g4"`,
	`"\x"`, `"\'"`, `"a`, `"\`, "\"\t\"", "\"\x00\"", "\"\x1f\"", "\"\x7f\"", `"é"`, "\"\xff\"", "\"\xc3\"",
	"\"\xed\xa0\x80\"", "\"\xf0\x9f\x98\x80\"", "\"0123456789abcdef\xc3\xa9xyz\"", `"0123456789abcdef\"01234"`,
	`[]`, `[ ]`, `[1]`, `[1,]`, `[,1]`, `[1 2]`, `[1,2]`, `[[]]`, `[[],[]]`, `[`, `]`, `[1}`, `[]]`,
	`{}`, `{ }`, `{"a":1}`, `{"a" : 1 , "b":[true,null]}`, `{"a"}`, `{"a":}`, `{1:2}`, `{"a":1,}`, `{,}`,
	`{"a":1]`, `{"a":{"b":{}}}`, `{"a":1}}`, `{"a":1} x`, "{\"a\":\n1}", `{"op":"assert","session":"s1"}`,
	"\xef\xbb\xbf{}", "\u00a0{}", `[1,"\u00e9",{"k":[{},[]]},-0.0e+0]`,
	strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100),
	strings.Repeat(`[{"a":`, 70) + "1" + strings.Repeat("}]", 70),
}

// depthCases are at encoding/json's nesting limit; too big to be good fuzz
// seeds, so only TestEmbeddable checks them.
var depthCases = []string{
	strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	strings.Repeat(`{"":`, maxDepth-1) + "[1]" + strings.Repeat("}", maxDepth-1),
	strings.Repeat(`{"":`, maxDepth) + "[1]" + strings.Repeat("}", maxDepth),
}

// TestEmbeddable checks embeddable against its definition on the cases,
// and that the cases cover both answers.
func TestEmbeddable(t *testing.T) {
	yes, no := 0, 0
	for _, c := range append(embeddableCases, depthCases...) {
		want := embeddableReference([]byte(c))
		if got := embeddable([]byte(c)); got != want {
			t.Errorf("embeddable(%.80q) = %v, json.Valid and utf8.Valid say %v", c, got, want)
		}
		if want {
			yes++
		} else {
			no++
		}
	}
	if yes < 20 || no < 20 {
		t.Fatalf("%d valid and %d invalid cases: the table lost its edges", yes, no)
	}
}

// FuzzEmbeddable holds embeddable exactly as strict as json.Valid with
// utf8.Valid and no newline: a payload embedded that json.Valid refuses
// would make a line that is not JSON, and one refused that it accepts would
// only be base64, but both are a divergence from the format's definition.
// The corpus is embeddableCases plus testdata/fuzz/FuzzEmbeddable.
func FuzzEmbeddable(f *testing.F) {
	for _, c := range embeddableCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if got, want := embeddable(payload), embeddableReference(payload); got != want {
			t.Fatalf("embeddable(%q) = %v, json.Valid and utf8.Valid say %v", payload, got, want)
		}
	})
}

// TestEmbeddableAllocatesNothing keeps the check off the heap for the
// nesting real payloads have.
func TestEmbeddableAllocatesNothing(t *testing.T) {
	p := benchPayloads()["json"]
	if n := testing.AllocsPerRun(100, func() { embeddable(p) }); n != 0 {
		t.Fatalf("embeddable allocates %v times per call", n)
	}
}

// BenchmarkEmbeddable compares the check with the standard library's.
func BenchmarkEmbeddable(b *testing.B) {
	p := benchPayloads()["json"]
	b.Run("impl=jsonl", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			if !embeddable(p) {
				b.Fatal("not embeddable")
			}
		}
	})
	b.Run("impl=std", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			if !embeddableReference(p) {
				b.Fatal("not embeddable")
			}
		}
	})
}

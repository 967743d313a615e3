package jsonl

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/stretchr/testify/require"
)

func TestRecordChecksumIsCRC32COfIndexAndPayload(t *testing.T) {
	for _, p := range [][]byte{nil, []byte("x"), []byte(`{"a":1}`), bytes.Repeat([]byte{0xff}, 1000)} {
		for _, index := range []uint64{1, 2, 1 << 40, 1<<64 - 1} {
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], index)
			want := backend.Checksum(append(b[:], p...))
			require.Equal(t, want, recordChecksum(nil, index, backend.NoClaim, p), "index %d payload %q", index, p)
		}
	}
}

func TestLineRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		payload []byte
		key     string // "d" embedded as JSON, "b" base64
	}{
		{"json object", []byte(`{"op":"assert","n":1}`), "d"},
		{"json with spaces", []byte(` { "a" : [1, 2] } `), "d"},
		{"json number", []byte(`42`), "d"},
		{"json string", []byte(`"text"`), "d"},
		{"json with escaped newline", []byte(`{"s":"a\nb"}`), "d"},
		{"json with raw newline", []byte("{\"a\":\n1}"), "b"},
		{"json with trailing newline", []byte("{\"a\":1}\n"), "b"},
		{"not json", []byte("hello"), "b"},
		{"empty", []byte{}, "b"},
		{"binary", []byte{0, 1, 2, 0xff, '\n', '\r'}, "b"},
		{"json string with invalid utf-8", []byte("\"\xff\""), "b"},
		{"two json values", []byte(`1 2`), "b"},
		{"looks like a line", []byte(`{"i":1,"c":"00000000","d":1}`), "d"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, index := range []uint64{1, 9, 10, 1<<64 - 1} {
				line := AppendLine(nil, index, index-1, tc.payload)
				require.Equal(t, 1, bytes.Count(line, []byte{'\n'}), "exactly one newline, at the end: %q", line)
				require.Equal(t, byte('\n'), line[len(line)-1])

				gotIndex, got, err := DecodeLine(line)
				require.NoError(t, err)
				require.Equal(t, index, gotIndex)
				require.True(t, bytes.Equal(tc.payload, got), "payload %q, want %q", got, tc.payload)

				// The line is JSON: jq and any JSON parser read it.
				var obj map[string]json.RawMessage
				require.NoError(t, json.Unmarshal(line, &obj), "%q", line)
				require.Contains(t, obj, tc.key)
				if tc.key == "d" {
					require.True(t, bytes.HasSuffix(line, append(append([]byte(`"d":`), tc.payload...), "}\n"...)),
						"embedded verbatim: %q", line)
				} else {
					var enc string
					require.NoError(t, json.Unmarshal(obj["b"], &enc))
					dec, err := base64.StdEncoding.DecodeString(enc)
					require.NoError(t, err)
					require.True(t, bytes.Equal(tc.payload, dec), "base64 of the payload: %q", line)
				}
			}
		})
	}
}

func TestAppendLineAppends(t *testing.T) {
	buf := AppendLine(nil, 1, 0, []byte("a"))
	first := len(buf)
	buf = AppendLine(buf, 2, 1, []byte(`{"b":2}`))
	i, p, err := DecodeLine(buf[:first])
	require.NoError(t, err)
	require.Equal(t, uint64(1), i)
	require.Equal(t, []byte("a"), p)
	i, p, err = DecodeLine(buf[first:])
	require.NoError(t, err)
	require.Equal(t, uint64(2), i)
	require.Equal(t, []byte(`{"b":2}`), p)
}

func TestDocExampleLinesDecode(t *testing.T) {
	for _, tc := range []struct {
		line           string
		index, durable uint64
		payload        []byte
	}{
		{`{"i":1,"s":0,"c":"d4554308","d":{"op":"assert","session":"s1"}}` + "\n", 1, 0, []byte(`{"op":"assert","session":"s1"}`)},
		{`{"i":2,"s":1,"c":"7424183c","b":"AAECAw=="}` + "\n", 2, 1, []byte{0, 1, 2, 3}},
		// The format before lines carried a durability claim.
		{`{"i":1,"c":"0ac3b4d1","d":{"op":"assert","session":"s1"}}` + "\n", 1, backend.NoClaim, []byte(`{"op":"assert","session":"s1"}`)},
		{`{"i":2,"c":"ca163b61","b":"AAECAw=="}` + "\n", 2, backend.NoClaim, []byte{0, 1, 2, 3}},
	} {
		require.Equal(t, tc.line, string(AppendLine(nil, tc.index, tc.durable, tc.payload)))
		index, payload, durable, err := DecodeLineClaim([]byte(tc.line))
		require.NoError(t, err)
		require.Equal(t, tc.index, index)
		require.Equal(t, tc.payload, payload)
		require.Equal(t, tc.durable, durable)
	}
}

func TestDecodeLineRejects(t *testing.T) {
	good := string(AppendLine(nil, 7, 6, []byte(`{"a":1}`)))
	goodB := string(AppendLine(nil, 7, 6, []byte("bin")))
	cases := []struct {
		name string
		line string
	}{
		{"empty", ""},
		{"zero bytes", string(make([]byte, 64))},
		{"zero bytes with newline", string(make([]byte, 64)) + "\n"},
		{"no newline", strings.TrimSuffix(good, "\n")},
		{"newline inside", strings.Replace(good, `"a"`, "\"a\n\"", 1)},
		{"index 0", string(AppendLine(nil, 0, backend.NoClaim, []byte(`1`)))},
		{"leading zero", strings.Replace(good, `"i":7`, `"i":07`, 1)},
		{"index overflow", strings.Replace(good, `"i":7`, `"i":18446744073709551616`, 1)},
		{"no index", strings.Replace(good, `"i":7`, `"i":`, 1)},
		{"negative index", strings.Replace(good, `"i":7`, `"i":-7`, 1)},
		{"upper-case checksum", strings.ToUpper(good[:len(`{"i":7,"s":6,"c":"`)+8]) + good[len(`{"i":7,"s":6,"c":"`)+8:]},
		{"claim not below the index", strings.Replace(good, `"s":6`, `"s":7`, 1)},
		{"claim with a leading zero", strings.Replace(good, `"s":6`, `"s":06`, 1)},
		{"claim changed", strings.Replace(good, `"s":6`, `"s":5`, 1)},
		{"short checksum", strings.Replace(good, `"c":"`, `"c":"0`, 1)[:len(good)]},
		{"keys reordered", `{"c":"00000000","i":7,"d":1}` + "\n"},
		{"other payload key", strings.Replace(good, `"d":`, `"x":`, 1)},
		{"empty json payload", `{"i":7,"c":"00000000","d":}` + "\n"},
		{"no closing brace", strings.TrimSuffix(good, "}\n") + "\n"},
		{"checksum mismatch", strings.Replace(good, `{"a":1}`, `{"a":2}`, 1)},
		{"index changed", strings.Replace(good, `"i":7`, `"i":8`, 1)},
		{"bad base64", strings.Replace(goodB, `"b":"`, `"b":"!`, 1)},
		{"base64 with carriage return", strings.Replace(goodB, `"b":"`, "\"b\":\"\r", 1)},
		{"base64 unclosed", strings.TrimSuffix(goodB, "\"}\n") + "}\n"},
		{"prefix only", `{"i":` + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeLine([]byte(tc.line))
			require.ErrorIs(t, err, backend.ErrCorrupt, "%q", tc.line)
			var ce *backend.CorruptError
			require.ErrorAs(t, err, &ce)
			require.NotEmpty(t, ce.Reason)
			require.Equal(t, int64(-1), ce.Offset, "the caller adds the offset")
		})
	}
}

func TestDecodeLineRejectsEverySingleBitFlip(t *testing.T) {
	for _, p := range [][]byte{[]byte(`{"op":"assert"}`), []byte("\x00binary")} {
		line := AppendLine(nil, 12345, 12344, p)
		for i := range line {
			for bit := 0; bit < 8; bit++ {
				flipped := bytes.Clone(line)
				flipped[i] ^= 1 << bit
				_, _, err := DecodeLine(flipped)
				require.ErrorIs(t, err, backend.ErrCorrupt, "bit %d of byte %d: %q", bit, i, flipped)
			}
		}
	}
}

package broker

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jsonKey is the key as encoding/json spells it, which factKey must match
// byte for byte: Query orders facts by key.
func jsonKey(t testing.TB, template string, slots Slots) string {
	b, err := json.Marshal(slots)
	require.NoError(t, err)
	return template + "\x00" + string(b)
}

func TestFactKeyMatchesJSON(t *testing.T) {
	for _, slots := range []Slots{
		{},
		{"session_id": "s1", "category": "data_types_seen", "value": "pii"},
		{"b": true, "a": false, "z": []string{}, "nil": []string(nil), "list": []string{"x", "<y>", "a&b"}},
		{"ctl": "\x00\x01\b\f\n\r\t\x1f\x7f", "quote": `"\`, "html": "<script>&amp;</script>",
			"utf8": "héllo ☃ 𝄞", "bad": "\xff\xfe ok \xc3", "sep": "a\u2028b\u2029c", "ké<y>": "v"},
		{"n0": 0.0, "neg0": math.Copysign(0, -1), "int": 42.0, "frac": 0.1, "big": 1e21, "almost": 999999999999999999999.0,
			"tiny": 1e-7, "small": 1e-6, "neg": -3.25e-9, "huge": 1.7976931348623157e308, "e100": 1e100, "ts": 1767000000.123},
	} {
		got, err := factKey("tmpl", slots)
		require.NoError(t, err)
		assert.Equal(t, jsonKey(t, "tmpl", slots), got)
	}
}

func TestFactKeyRejectsWhatJSONRejects(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(1), math.Inf(-1), 3} {
		_, err := factKey("tmpl", Slots{"v": v})
		assert.Error(t, err, "%v", v)
	}
}

func FuzzFactKeyMatchesJSON(f *testing.F) {
	f.Add("k", "v", 1.5, true)
	f.Add("<&>", "\u2028\xff\x01", 1e-7, false)
	f.Fuzz(func(t *testing.T, k, v string, n float64, flag bool) {
		if math.IsInf(n, 0) || math.IsNaN(n) {
			t.Skip("encoding/json rejects it, as TestFactKeyRejectsWhatJSONRejects checks")
		}
		slots := Slots{k: v, k + "n": n, k + "b": flag, k + "l": []string{v, k}}
		got, err := factKey("t", slots)
		require.NoError(t, err)
		assert.Equal(t, jsonKey(t, "t", slots), got)
	})
}

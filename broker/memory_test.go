package broker

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMemoryAssertIsASetAdd(t *testing.T) {
	m := NewMemory()
	added, err := m.Assert(Fact{Template: "t", Slots: Slots{"a": "x", "n": 1}})
	require.NoError(t, err)
	require.True(t, added)
	// The same fact decoded from JSON (float64 number, []any list) is equal.
	added, err = m.Assert(Fact{Template: "t", Slots: Slots{"n": float64(1), "a": "x"}})
	require.NoError(t, err)
	require.False(t, added)
	require.Equal(t, 1, m.Len())

	_, err = m.Assert(Fact{Template: "t", Slots: Slots{"bad": struct{}{}}})
	require.ErrorContains(t, err, "slot bad: unsupported value type")
	_, err = m.Assert(Fact{Slots: Slots{}})
	require.ErrorContains(t, err, "no template")
}

func TestMemoryQueryRetractModify(t *testing.T) {
	m := NewMemory()
	for _, v := range []string{"b", "a", "c"} {
		m.mustAssert(Fact{Template: "e", Slots: Slots{"cat": "x", "value": v}})
	}
	m.mustAssert(Fact{Template: "e", Slots: Slots{"cat": "y", "value": "a"}})
	m.mustAssert(Fact{Template: "other", Slots: Slots{"cat": "x"}})

	got := m.Query("e", Slots{"cat": "x"})
	require.Len(t, got, 3)
	require.Equal(t, "a", got[0].Slots["value"], "stable order")
	require.Len(t, m.Query("e", nil), 4)

	n, err := m.Retract("e", Slots{"value": "a"})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Len(t, m.Query("e", nil), 2)

	n, err = m.Modify("e", Slots{"value": "b"}, Slots{"cat": "z", "list": []string{"p", "q"}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	got = m.Query("e", Slots{"cat": "z"})
	require.Len(t, got, 1)
	require.Equal(t, []string{"p", "q"}, got[0].Slots["list"])

	// Modify with no match asserts match+slots, so replay onto an empty
	// store still leaves the fact in place.
	n, err = m.Modify("session", Slots{"session_id": "s"}, Slots{"k": "v"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Len(t, m.Query("session", Slots{"session_id": "s", "k": "v"}), 1)

	c := m.Clone()
	c.mustAssert(Fact{Template: "new", Slots: Slots{}})
	require.Empty(t, m.Query("new", nil), "a clone is independent")
}

func TestStateRoundTripsThroughMemory(t *testing.T) {
	st := State{
		LastRequestID: "r", LastSourcesQueried: []string{"hr"}, DataTypesSeen: []string{"pii", "employee"},
		SourcesVisited: []string{"hr"}, PIISourcesAccessedList: []string{"hr"}, PIISourcesAccessed: 7,
		PurposeStartTS: 12.5, PurposeTTLSeconds: 60, AgentsSeen: []string{"a"}, PIIAgents: []string{"a"},
		ExposureFlags: []string{"f"}, CumulativeClassification: "cui",
	}
	got := stateOf(memoryOf("s", st), "s")
	require.Equal(t, []string{"employee", "pii"}, got.DataTypesSeen, "sorted")
	require.Equal(t, 1, got.PIISourcesAccessed, "derived from the list, whatever was stored")
	st.DataTypesSeen = []string{"employee", "pii"}
	st.PIISourcesAccessed = 1
	require.Equal(t, st, got)

	b, err := json.Marshal(newState())
	require.NoError(t, err)
	require.JSONEq(t, `{"last_request_id":"","last_sources_queried":[],"data_types_seen":[],"sources_visited":[],
		"pii_sources_accessed_list":[],"pii_sources_accessed":0,"purpose_start_ts":0,"purpose_ttl_seconds":0,
		"agents_seen":[],"pii_agents":[],"exposure_flags":[],"cumulative_classification":"unclassified"}`, string(b))
}

func TestDecodeRecordRejects(t *testing.T) {
	for name, data := range map[string]string{
		"not JSON":      `{"v":1,`,
		"wrong version": `{"v":2,"session_id":"s","ops":[]}`,
		"no session":    `{"v":1,"ops":[]}`,
		"unknown op":    `{"v":1,"session_id":"s","ops":[{"op":"explode","template":"t"}]}`,
		"no template":   `{"v":1,"session_id":"s","ops":[{"op":"assert"}]}`,
		"unknown field": `{"v":1,"session_id":"s","ops":[],"extra":1}`,
		"bad slot":      `{"v":1,"session_id":"s","ops":[{"op":"assert","template":"t","slots":{"x":{"y":1}}}]}`,
		"trailing data": `{"v":1,"session_id":"s","ops":[]} {}`,
	} {
		_, err := DecodeRecord([]byte(data))
		require.Error(t, err, name)
	}
	r, err := DecodeRecord([]byte(`{"v":1,"request_id":"r","session_id":"s","agent_id":"a","ts":"t",
		"ops":[{"op":"retract","template":"exposure_flag","match":{"session_id":"s","flag":"f"}}]}`))
	require.NoError(t, err)
	st := newState()
	st.ExposureFlags = []string{"f", "g"}
	st, err = applyRecord(st, r)
	require.NoError(t, err)
	require.Equal(t, []string{"g"}, st.ExposureFlags, "retract removes the matching fact")
}

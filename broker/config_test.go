package broker

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestParseConfig(t *testing.T) {
	data := []byte(`
# a comment with ${NOT_EXPANDED} in it
sources:
  - id: hr
    type: static
    classification: cui
    data_types: [pii, employee]
    rows: [{name: "$$5 ${WHO}"}]
escalation: [{id: pack, trigger: [email, phone], resulting_level: secret}]
session_store: {backend: sqlite, sqlite_path: ./db/sessions.db}
persistence:
  mode: async
  wal_enabled: ${WAL_ON}
  wal_path: /abs/wal
  wal_backend: memory
  wal_sync: none
  wal_params: {group_commit_max_delay: 1ms}
`)
	c, err := ParseConfig(data, "/etc/nautilus", env(map[string]string{"WHO": "Ada", "WAL_ON": "true"}))
	require.NoError(t, err)
	require.Equal(t, "$5 Ada", c.Sources[0].Rows[0]["name"])
	require.True(t, c.Persistence.WALEnabled, "an expanded plain scalar resolves as a bool")
	require.Equal(t, filepath.Join("/etc/nautilus", "db/sessions.db"), c.SessionStore.SQLitePath)
	require.Equal(t, "/abs/wal", c.Persistence.WALPath)
	require.Equal(t, map[string]string{"group_commit_max_delay": "1ms"}, c.Persistence.WALParams)
	require.Equal(t, "secret", c.Escalation[0].ResultingLevel)

	c, err = ParseConfig(nil, "/d", env(nil))
	require.NoError(t, err, "an empty file means the defaults")
	require.Equal(t, ModeSynchronous, c.Persistence.Mode)
	require.Equal(t, "jsonl", c.Persistence.WALBackend)
	require.Equal(t, filepath.Join("/d", ".nautilus/wal"), c.Persistence.WALPath)
	require.Equal(t, filepath.Join("/d", ".nautilus/sessions.db"), c.SessionStore.SQLitePath)
}

func TestParseConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ yaml, key string }{
		{"sourcez: []", "sourcez"},
		{"persistence: {wal_backnd: jsonl}", "persistence.wal_backnd"},
		{"escalation: [{id: p, trigger: [a], resulting_level: cui, extra: 1}]", "escalation[0].extra"},
		{"persistence: {wal_path: \"${MISSING}\"}", "persistence.wal_path"},
		{"persistence: {mode: fast}", "persistence.mode"},
		{"persistence: {wal_sync: sometimes}", "persistence.wal_sync"},
		{"persistence: {wal_enabled: true, wal_backend: nosuch}", "persistence.wal_backend"},
		{"session_store: {backend: postgres}", "session_store.backend"},
		{"sources: [{id: a, type: static, classification: cui, data_types: [x]}, {id: a, type: static, classification: cui, data_types: [y]}]", "sources[1].id"},
		{"sources: [{id: a, type: http, classification: cui, data_types: [x]}]", "sources[0].type"},
		{"sources: [{id: a, type: static, classification: cui}]", "sources[0].data_types"},
		{"escalation: [{id: p, trigger: [], resulting_level: cui}]", "escalation[0].trigger"},
		{"escalation: [{id: p, trigger: [a], resulting_level: pii}]", "escalation[0].resulting_level"},
		{"persistence: {wal_enabled: maybe}", "file"},
		{"sources: {", "file"},
	} {
		_, err := ParseConfig([]byte(tc.yaml), "/d", env(nil))
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%s: %v", tc.yaml, err)
		require.Equal(t, tc.key, ce.Key, "%s: %v", tc.yaml, err)
	}
}

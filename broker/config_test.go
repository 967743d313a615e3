package broker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

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

	c, err = ParseConfig([]byte("persistence: {wal_enabled: false}\n"), "/d", env(nil))
	require.NoError(t, err)
	require.Equal(t, ModeSynchronous, c.Persistence.Mode)
	require.Equal(t, "jsonl", c.Persistence.WALBackend)
	require.Equal(t, filepath.Join("/d", ".nautilus/wal"), c.Persistence.WALPath)
	require.Equal(t, filepath.Join("/d", ".nautilus/sessions.db"), c.SessionStore.SQLitePath)
}

// A file with nothing in it would start a broker with no sources: refused,
// naming the file.
func TestLoadConfigRefusesEmpty(t *testing.T) {
	for _, data := range []string{"", "\n\n", "# only a comment\n# and another\n", "---\n", "~\n", "{}\n"} {
		path := filepath.Join(t.TempDir(), "nautilus.yaml")
		require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
		_, err := LoadConfig(path)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, "%q", data)
		require.Equal(t, path, ce.File)
		require.Equal(t, "broker: config "+path+": empty (or only comments): a broker needs at least its sources", err.Error())
	}
}

// Every config error names the file, the line, the key and what was wanted.
func TestLoadConfigErrorMessages(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"sources: []\npersistence:\n  wal_enabled: maybe\n", `nautilus.yaml:3: persistence.wal_enabled: want a bool, got "maybe"`},
		{"persistence: {wal_enabled: [true]}", `nautilus.yaml:1: persistence.wal_enabled: want a bool, got a list`},
		{"persistence: true", `nautilus.yaml:1: persistence: want a mapping, got "true"`},
		{"sources: {id: a}", `nautilus.yaml:1: sources: want a list, got a mapping`},
		{"sources:\n  - id: a\n    data_types: x\n", `nautilus.yaml:3: sources[0].data_types: want a list, got "x"`},
		{"sources: [{id: {a: 1}}]", `nautilus.yaml:1: sources[0].id: want a string, got a mapping`},
		{"sources: [{rows: [1]}]", `nautilus.yaml:1: sources[0].rows[0]: want a mapping, got "1"`},
		{"persistence:\n  wal_params: {segment_bytes: [1]}\n", `nautilus.yaml:2: persistence.wal_params.segment_bytes: want a string, got a list`},
		{"persistence:\n  wal_backnd: jsonl\n", `nautilus.yaml:2: persistence.wal_backnd: unknown key; known keys here: encryption, mode, wal_backend,`},
		{"sources: []\npersistence:\n  mode: fast\n", `nautilus.yaml:3: persistence.mode: unknown mode "fast" (want synchronous or async)`},
		{"persistence:\n  wal_path: ${NAUTILUS_TEST_UNSET}\n", `nautilus.yaml:2: persistence.wal_path: environment variable NAUTILUS_TEST_UNSET is not set`},
		{"persistence:\n  wal_enabled: true\n  wal_params:\n    segment_bytez: 1\n",
			`nautilus.yaml:4: persistence.wal_params.segment_bytez: backend jsonl: unknown param segment_bytez`},
		{"persistence:\n  wal_enabled: true\n  wal_params:\n    segment_bytes: lots\n",
			`nautilus.yaml:4: persistence.wal_params.segment_bytes: backend jsonl: param segment_bytes="lots": want a size`},
		{"sources: {", `nautilus.yaml: not valid YAML: yaml: line 1:`},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "nautilus.yaml")
		require.NoError(t, os.WriteFile(path, []byte(tc.yaml), 0o600))
		_, err := LoadConfig(path)
		require.ErrorContains(t, err, "broker: config "+filepath.Join(dir, tc.want), tc.yaml)
	}
	_, err := LoadConfig("no-such-nautilus.yaml")
	require.EqualError(t, err, "broker: config no-such-nautilus.yaml: no such file or directory")
}

// wal_params are checked with the whole config, before New creates anything:
// a bad one leaves neither the WAL directory nor the store's.
func TestBadWALParamsCreateNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Persistence: PersistenceConfig{WALEnabled: true, WALPath: filepath.Join(dir, "wal"),
		WALParams: map[string]string{"no_such_param": "1"}},
		SessionStore: SessionStoreConfig{SQLitePath: filepath.Join(dir, "state", "sessions.db")}}
	_, err := New(context.Background(), cfg, nil)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "persistence.wal_params.no_such_param", ce.Key)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing created")
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
		{"session_store: {backend: mongodb}", "session_store.backend"},
		{"sources: [{id: a, type: static, classification: cui, data_types: [x]}, {id: a, type: static, classification: cui, data_types: [y]}]", "sources[1].id"},
		{"sources: [{id: a, type: http, classification: cui, data_types: [x]}]", "sources[0].type"},
		{"sources: [{id: a, type: static, classification: cui}]", "sources[0].data_types"},
		{"escalation: [{id: p, trigger: [], resulting_level: cui}]", "escalation[0].trigger"},
		{"escalation: [{id: p, trigger: [a], resulting_level: pii}]", "escalation[0].resulting_level"},
		{"persistence: {wal_enabled: maybe}", "persistence.wal_enabled"},
		{"persistence: {wal_enabled: true, wal_params: {nope: 1}}", "persistence.wal_params.nope"},
		{"persistence: {wal_enabled: true, wal_params: {nope: 1, nada: 2}}", "persistence.wal_params"},
		{"sources: {", ""},
	} {
		_, err := ParseConfig([]byte(tc.yaml), "/d", env(nil))
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%s: %v", tc.yaml, err)
		require.Equal(t, tc.key, ce.Key, "%s: %v", tc.yaml, err)
	}
}

func TestParseConfigTransportAndLimits(t *testing.T) {
	c, err := ParseConfig([]byte(`
api:
  tls: {cert_file: tls/server.pem, key_file: tls/server-key.pem, client_ca_file: /etc/ca.pem}
  timeouts: {read: 5s, write: 1m, idle: 90s}
  max_connections: 10
  rate_limit: {requests_per_second: 2.5}
limits: {session_id_bytes: 64, intent_bytes: 1024, agents_per_session: 4}
`), "/etc/nautilus", env(nil))
	require.NoError(t, err)
	require.Equal(t, TLSConfig{CertFile: "/etc/nautilus/tls/server.pem", KeyFile: "/etc/nautilus/tls/server-key.pem",
		ClientCAFile: "/etc/ca.pem"}, c.API.TLS)
	require.Equal(t, TimeoutsConfig{Read: 5 * time.Second, Write: time.Minute, Idle: 90 * time.Second}, c.API.Timeouts)
	require.Equal(t, 10, c.API.MaxConnections)
	require.Equal(t, RateLimitConfig{RequestsPerSecond: 2.5, Burst: 3}, c.API.RateLimit)
	require.Equal(t, LimitsConfig{SessionIDBytes: 64, AgentIDBytes: DefaultAgentIDBytes, IntentBytes: 1024,
		SessionTokenBytes: DefaultSessionTokenBytes, LabelBytes: DefaultLabelBytes, AgentsPerSession: 4}, c.Limits)

	c, err = ParseConfig([]byte("sources: []\n"), "/d", env(nil))
	require.NoError(t, err)
	require.Equal(t, APIConfig{Timeouts: TimeoutsConfig{Read: DefaultReadTimeout, Write: DefaultWriteTimeout,
		Idle: DefaultIdleTimeout}, MaxConnections: DefaultMaxConnections}, c.API, "no TLS and no rate limit by default")

	for _, tc := range []struct{ yaml, key, msg string }{
		{"api: {timeouts: {read: 5}}", "api.timeouts.read", `want a duration such as 30s, got "5"`},
		{"api: {timeouts: {idle: -1s}}", "api.timeouts.idle", "want a positive duration"},
		{"api: {max_connections: -1}", "api.max_connections", "want a positive number"},
		{"api: {rate_limit: {requests_per_second: -1}}", "api.rate_limit.requests_per_second", "want a positive number"},
		{"api: {rate_limit: {burst: -2}}", "api.rate_limit.burst", "want a positive number"},
		{"api: {tls: {key_file: k.pem}}", "api.tls.cert_file", "missing: key_file is set"},
		{"api: {tls: {cert_file: c.pem}}", "api.tls.key_file", "missing: cert_file is set"},
		{"api: {tls: {client_ca_file: ca.pem}}", "api.tls.cert_file", "client_ca_file needs TLS"},
		{"api: {tls: {certfile: c.pem}}", "api.tls.certfile", "unknown key"},
		{"limits: {intent_bytes: -1}", "limits.intent_bytes", "want a positive number"},
		{"limits: {session_ids: 3}", "limits.session_ids", "unknown key"},
	} {
		_, err := ParseConfig([]byte(tc.yaml), "/d", env(nil))
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%s: %v", tc.yaml, err)
		require.Equal(t, tc.key, ce.Key, "%s: %v", tc.yaml, err)
		require.Contains(t, ce.Err.Error(), tc.msg)
	}
}

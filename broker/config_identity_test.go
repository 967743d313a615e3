package broker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nautilus-go/nautilus/broker/identity"
	"github.com/stretchr/testify/require"
)

const identityYAML = `
sources: [{id: nvd, type: static, classification: unclassified, data_types: [cve]}]
agents:
  agent-a: {clearance: secret, default_purpose: ops, share_sessions_with: [agent-b]}
  agent-b: {clearance: cui}
api:
  keys:
    - {id: a, agent: agent-a, secret_env: KEY_A}
    - {id: b, agent: agent-b, secret_file: ./secrets/b}
    - {id: ops, role: admin, sha256: %s}
session_tokens:
  enabled: true
  ttl_seconds: 600
  signing_keys:
    - {id: k2, secret_file: ./secrets/k2}
    - {id: k1, secret_env: SIGN_K1}
purpose_ttl: {min_seconds: 30, max_seconds: 7200}
`

func TestParseIdentityConfig(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "secrets"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secrets", "b"), []byte("secret-of-b-0123456789\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secrets", "k2"), []byte(strings.Repeat("2", 32)), 0o400))
	adminHash := identity.HashSecret([]byte("admin-secret-0123456789")).String()
	yaml := strings.Replace(identityYAML, "%s", adminHash, 1)
	c, err := ParseConfig([]byte(yaml), dir, env(map[string]string{"KEY_A": "secret-of-a-0123456789", "SIGN_K1": strings.Repeat("1", 32)}))
	require.NoError(t, err)
	require.Equal(t, Agent{Clearance: "secret", DefaultPurpose: "ops", ShareSessionsWith: []string{"agent-b"}}, c.Agents["agent-a"])
	require.Equal(t, filepath.Join(dir, "secrets", "b"), c.API.Keys[1].SecretFile, "relative to the config's folder")
	require.Equal(t, PurposeTTLConfig{MinSeconds: 30, MaxSeconds: 7200}, c.PurposeTTL)

	b := newBroker(t, c, nil)
	for secret, want := range map[string]Caller{
		"secret-of-a-0123456789":  {KeyID: "a", Agent: "agent-a"},
		"secret-of-b-0123456789":  {KeyID: "b", Agent: "agent-b"}, // the file's newline is not part of it
		"admin-secret-0123456789": {KeyID: "ops", Admin: true},
	} {
		got, authed, ok := b.authenticate(secret)
		require.True(t, ok && authed, secret)
		require.Equal(t, want, got)
	}
	_, _, ok := b.authenticate("secret-of-b-0123456789\n")
	require.False(t, ok)
	r, err := b.Handle(WithCaller(context.Background(), Caller{KeyID: "a", Agent: "agent-a"}), Request{Intent: "cve"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(r.SessionToken, "v1.k2."), "the first signing key signs")

	defaults, err := ParseConfig([]byte("sources: []\n"), dir, env(nil))
	require.NoError(t, err)
	require.Equal(t, PurposeTTLConfig{MinSeconds: 1, MaxSeconds: 86400}, defaults.PurposeTTL)
	require.Equal(t, DefaultTokenTTLSeconds, defaults.SessionTokens.TTLSeconds)
}

func TestIdentityConfigErrors(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	require.NoError(t, os.WriteFile(open, []byte("secret-0123456789-0123456789-0123456789"), 0o644))
	short := filepath.Join(dir, "short")
	require.NoError(t, os.WriteFile(short, []byte("short\n"), 0o600))
	vars := env(map[string]string{"GOOD": "secret-0123456789-0123456789-0123456789", "SHORT": "short"})
	const reg = "agents: {a: {clearance: secret}}\n"
	for _, tc := range []struct{ yaml, key, msg string }{
		{"agents: {a: {clearance: ultra}}", "agents.a.clearance", `unknown level "ultra"`},
		{"agents: {a: {clearance: secret, share_sessions_with: [z]}}", "agents.a.share_sessions_with[0]", `unknown agent "z"`},
		{"agents: {a: {clearence: secret}}", "agents.a.clearence", "unknown key"},
		{"agents: {a: {clearance: secret, compartments: [si, \"\"]}}", "agents.a.compartments[1]", "empty compartment"},
		{"sources: [{id: s, type: static, classification: cui, data_types: [x], compartments: [\" \"]}]", "sources[0].compartments[0]", "empty compartment"},
		{reg + "api: {keys: [{agent: a, secret_env: GOOD}]}", "api.keys[0].id", "missing"},
		{reg + "api: {keys: [{id: k, agent: z, secret_env: GOOD}]}", "api.keys[0].agent", `unknown agent "z"`},
		{reg + "api: {keys: [{id: k, secret_env: GOOD}]}", "api.keys[0]", "set agent"},
		{reg + "api: {keys: [{id: k, agent: a, role: admin, secret_env: GOOD}]}", "api.keys[0]", "not both"},
		{reg + "api: {keys: [{id: k, role: root, secret_env: GOOD}]}", "api.keys[0].role", `unknown role "root"`},
		{reg + "api: {keys: [{id: k, agent: a, secret_env: GOOD}, {id: k, agent: a, secret_env: GOOD}]}", "api.keys[1].id", "duplicate"},
		{reg + "api: {keys: [{id: k, agent: a}]}", "api.keys[0]", "set exactly one of secret_env, secret_file"},
		{reg + "api: {keys: [{id: k, agent: a, secret_env: GOOD, secret_file: x}]}", "api.keys[0]", "set exactly one"},
		{reg + "api: {keys: [{id: k, agent: a, sha256: abc}]}", "api.keys[0].sha256", "want 64 hex digits"},
		{reg + "api: {keys: [{id: k, agent: a, secret_env: UNSET}]}", "api.keys[0].secret_env", "environment variable UNSET is not set"},
		{reg + "api: {keys: [{id: k, agent: a, secret_env: SHORT}]}", "api.keys[0]", "is 5 bytes, want at least 16"},
		{reg + "api: {keys: [{id: k, agent: a, secret_file: " + open + "}]}", "api.keys[0].secret_file", "lets others read the secret"},
		{reg + "api: {keys: [{id: k, agent: a, secret_file: " + short + "}]}", "api.keys[0]", "is 5 bytes"},
		{reg + "api: {keys: [{id: k, agent: a, secret_file: ./none}]}", "api.keys[0].secret_file", "no such file"},
		{reg + "api: {keys: [{id: k, agent: a, secret: hunter2}]}", "api.keys[0].secret", "unknown key"},
		{reg + "api: {allow_unauthenticated: maybe}", "api.allow_unauthenticated", "want a bool"},
		{"session_tokens: {required: true, enabled: false}", "session_tokens.required", "needs session_tokens.enabled"},
		{"session_tokens: {enabled: true}", "session_tokens.signing_keys", "empty"},
		{"session_tokens: {ttl_seconds: -1}", "session_tokens.ttl_seconds", "want > 0"},
		{"session_tokens: {enabled: true, signing_keys: [{id: k, secret_env: SHORT}]}", "session_tokens.signing_keys[0]", "want at least 32"},
		{"session_tokens: {enabled: true, signing_keys: [{id: k.1, secret_env: GOOD}]}", "session_tokens.signing_keys", "without a dot"},
		{"session_tokens: {enabled: true, signing_keys: [{id: k, secret_env: GOOD}, {id: k, secret_env: GOOD}]}", "session_tokens.signing_keys", "duplicate"},
		{"purpose_ttl: {min_seconds: 60, max_seconds: 30}", "purpose_ttl", "want 0 < min_seconds <= max_seconds"},
		{"purpose_ttl: {min_seconds: -1}", "purpose_ttl", "want 0 < min_seconds"},
	} {
		_, err := ParseConfig([]byte(tc.yaml), dir, vars)
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%s: %v", tc.yaml, err)
		require.Equal(t, tc.key, ce.Key, "%s: %v", tc.yaml, err)
		require.ErrorContains(t, err, tc.msg, tc.yaml)
		require.NotContains(t, err.Error(), "secret-0123456789", "no error shows a secret")
	}
}

// Keys are checked with the rest of the config, before New creates anything.
func TestBadKeyCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Persistence: PersistenceConfig{WALEnabled: true, WALPath: filepath.Join(dir, "wal")},
		SessionStore: SessionStoreConfig{SQLitePath: filepath.Join(dir, "state", "sessions.db")},
		Agents:       map[string]Agent{"a": {Clearance: "cui"}},
		API:          APIConfig{Keys: []APIKey{{ID: "k", Agent: "a", SecretEnv: "NAUTILUS_TEST_UNSET_KEY"}}}}
	_, err := New(context.Background(), cfg, nil)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "api.keys[0].secret_env", ce.Key)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing created")
}

// A file's error names its line, like any other key's.
func TestIdentityConfigErrorLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nautilus.yaml")
	require.NoError(t, os.WriteFile(path, []byte("sources: []\nagents:\n  a:\n    clearance: cosmic\n"), 0o600))
	_, err := LoadConfig(path)
	require.ErrorContains(t, err, `nautilus.yaml:4: agents.a.clearance: unknown level "cosmic"`)
}

package broker

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSessionStoreConfig(t *testing.T) {
	const pg = "persistence: {mode: synchronous}\nsession_store: "
	for _, tc := range []struct{ yaml, key, msg string }{
		{pg + "{backend: postgres}", "session_store.broker_id", "missing"},
		{pg + "{backend: postgres, broker_id: 'a b'}", "session_store.broker_id", "letters, digits"},
		{pg + "{backend: postgres, broker_id: b1, dsn: 'postgres://u:hunter2@db/x'}", "session_store.dsn", "carries a password"},
		{pg + "{backend: postgres, broker_id: b1, dsn: 'postgres://u@db/x?password=hunter2'}", "session_store.dsn", "carries a password"},
		{pg + "{backend: postgres, broker_id: b1, dsn: 'host=db password = hunter2'}", "session_store.dsn", "carries a password"},
		{pg + "{backend: postgres, broker_id: b1, dsn: 'host=db', dsn_env: PG}", "session_store", "not both"},
		{"persistence: {mode: async}\nsession_store: {backend: postgres, broker_id: b1}", "persistence.mode", "another broker"},
		{pg + "{backend: sqlite, broker_id: b1}", "session_store.broker_id", "only applies to backend postgres"},
		{pg + "{backend: memory, dsn_env: PG}", "session_store.dsn_env", "only applies to backend postgres"},
	} {
		_, err := ParseConfig([]byte(tc.yaml), "/d", env(nil))
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%s: %v", tc.yaml, err)
		require.Equal(t, tc.key, ce.Key, "%s: %v", tc.yaml, err)
		require.Contains(t, ce.Err.Error(), tc.msg)
		require.NotContains(t, err.Error(), "hunter2", "the secret is not echoed")
	}

	c, err := ParseConfig([]byte(pg+"{backend: postgres, broker_id: broker-1.a_b, dsn: 'host=db user=nautilus'}"), "/d", env(nil))
	require.NoError(t, err)
	dsn, err := c.SessionStore.dsn(env(nil))
	require.NoError(t, err)
	require.Equal(t, "host=db user=nautilus", dsn)

	c, err = ParseConfig([]byte(pg+"{backend: postgres, broker_id: b1}"), "/d", env(nil))
	require.NoError(t, err)
	require.Equal(t, DefaultDSNEnv, c.withDefaults().SessionStore.DSNEnv)
	_, err = c.withDefaults().SessionStore.dsn(env(nil))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "session_store.dsn_env", ce.Key)
	require.Contains(t, ce.Err.Error(), "NAUTILUS_PG_DSN is not set")
	dsn, err = c.withDefaults().SessionStore.dsn(env(map[string]string{DefaultDSNEnv: "postgres://u:pw@db/x"}))
	require.NoError(t, err)
	require.Equal(t, "postgres://u:pw@db/x", dsn, "a password is fine in the environment")
}

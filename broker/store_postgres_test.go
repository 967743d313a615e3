package broker

import (
	"context"
	"os"
	"testing"

	"github.com/nautilus-go/nautilus/broker/store/postgres"
	"github.com/nautilus-go/nautilus/internal/pgtest"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// Two brokers sharing one postgres store, each with its own broker id and
// WAL, read each other's committed states, and each keeps its own
// checkpoint, which a restart replays from.
func TestBrokersShareAPostgresStore(t *testing.T) {
	ctx := context.Background()
	t.Setenv("NAUTILUS_TEST_SHARED_DSN", pgtest.DSN(t)) // the DSN comes from the environment, as in production
	brokerCfg := func(id string) Config {
		cfg := diskConfig(t.TempDir(), ModeSynchronous, true)
		cfg.SessionStore = SessionStoreConfig{Backend: StorePostgres, BrokerID: id, DSNEnv: "NAUTILUS_TEST_SHARED_DSN"}
		return cfg
	}
	cfgA, cfgB := brokerCfg("a"), brokerCfg("b")
	a, b := newBroker(t, cfgA, nil), newBroker(t, cfgB, nil)

	ask(t, a, "s1", "agent-a", "employee pii")
	require.Equal(t, []string{"employee", "pii"}, stateOfSession(t, b, "s1").DataTypesSeen, "a's commit, read by b")
	ask(t, b, "s2", "agent-a", "cve")
	ask(t, b, "s2", "agent-a", "budget financial")
	require.Equal(t, []string{"budget", "cve", "financial"}, stateOfSession(t, a, "s2").DataTypesSeen, "b's commits, read by a")

	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	for id, want := range map[string]uint64{"a": 1, "b": 2} {
		s, err := postgres.Open(ctx, postgres.Config{DSN: os.Getenv("NAUTILUS_TEST_SHARED_DSN"), BrokerID: id})
		require.NoError(t, err)
		cp, err := s.Checkpoint(ctx)
		s.Close()
		require.NoError(t, err)
		require.Equal(t, want, cp, "broker %s's checkpoint counts its own WAL's records", id)
	}

	// A restart of a on its own WAL finds its checkpoint and both sessions.
	a = newBroker(t, cfgA, nil)
	require.Equal(t, []string{"employee", "pii"}, stateOfSession(t, a, "s1").DataTypesSeen)
	require.Equal(t, []string{"budget", "cve", "financial"}, stateOfSession(t, a, "s2").DataTypesSeen)
}

package bench

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/broker"
	"github.com/nautilus-go/nautilus/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// pgQueryInt runs a query returning one integer.
func pgQueryInt(t *testing.T, dsn, sql string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, sql).Scan(&n))
	return n
}

const walbenchSchemas = `SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'walbench\_%'`

func TestPostgresRowStoreKeepsItsSessionsInASchemaItDrops(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	s, err := openPGRowStore(ctx, dsn)
	require.NoError(t, err)
	b, err := broker.New(ctx, brokerConfig(row{mode: BrokerSync, store: StorePostgres}, t.TempDir()),
		&broker.Options{Store: s, SharedStore: true})
	require.NoError(t, err)
	_, err = b.Handle(ctx, brokerRequest(0, 0, brokerSessions))
	require.NoError(t, err)
	require.NoError(t, b.Close())

	assert.Equal(t, 1, pgQueryInt(t, dsn, "SELECT count(*) FROM "+s.schema+".nautilus_session_state"))
	assert.Equal(t, 0, pgQueryInt(t, dsn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
		"the store's tables are in the row's schema alone")
	require.NoError(t, s.Close())
	assert.Zero(t, pgQueryInt(t, dsn, walbenchSchemas), "the row's schema is dropped")
}

func TestPostgresRowsBesideSQLiteInProcessAndOverHTTP(t *testing.T) {
	dsn := pgtest.DSN(t)
	o := DefaultOptions()
	o.Backends, o.Workloads = []string{"jsonl"}, []string{WorkloadBroker, WorkloadBrokerHTTP}
	o.Ops, o.Clients, o.HTTPClients, o.Sessions, o.Rounds = 32, []int{2}, []int{2}, 8, 1
	o.Stores, o.PGDSN, o.Dir = []string{StoreSQLite, StorePostgres}, dsn, t.TempDir()
	rep, err := Run(context.Background(), o)
	require.NoError(t, err)

	modes := map[string]map[string][]string{} // store → workload → modes
	for _, r := range rep.Results {
		if modes[r.Store] == nil {
			modes[r.Store] = map[string][]string{}
		}
		modes[r.Store][r.Workload] = append(modes[r.Store][r.Workload], r.Mode)
		assert.EqualValues(t, 32, r.Latency.Count, label(r))
		if r.Workload == WorkloadBrokerHTTP && r.Mode == BrokerSyncWAL {
			assert.Positive(t, r.Records, "%s: the WAL committed the requests", label(r))
		}
	}
	assert.Equal(t, map[string]map[string][]string{
		StoreSQLite: {
			WorkloadBroker:     {BrokerSync, BrokerSyncWAL, BrokerSyncWALAudit, BrokerAsyncWAL},
			WorkloadBrokerHTTP: {BrokerSync, BrokerAsync, BrokerSyncWAL, BrokerAsyncWAL},
		},
		// A shared store refuses async.
		StorePostgres: {
			WorkloadBroker:     {BrokerSync, BrokerSyncWAL, BrokerSyncWALAudit},
			WorkloadBrokerHTTP: {BrokerSync, BrokerSyncWAL},
		},
	}, modes)
	assert.Zero(t, pgQueryInt(t, dsn, walbenchSchemas), "every row's schema is dropped")

	var text strings.Builder
	require.NoError(t, rep.WriteText(&text))
	assert.Contains(t, text.String(), "broker, WAL sync=always, PostgreSQL store")
	assert.Contains(t, text.String(), "broker-http, WAL sync=always, PostgreSQL store")
}

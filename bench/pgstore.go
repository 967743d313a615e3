package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/nautilus-go/nautilus/broker"
	"github.com/nautilus-go/nautilus/broker/store/postgres"
)

// Session stores the broker workloads measure.
const (
	StoreSQLite   = broker.StoreSQLite
	StorePostgres = broker.StorePostgres
)

// Stores lists the session stores -stores accepts.
var Stores = []string{StoreSQLite, StorePostgres}

// EnvPGDSN names the environment variable holding the DSN of the
// PostgreSQL database the postgres rows use; like the broker, walbench
// takes it from the environment so that its password stays out of command
// lines and reports.
const EnvPGDSN = "NAUTILUS_BENCH_PG_DSN"

// pgBrokerID is the postgres rows' broker id: each row has a schema of its
// own, so one id does not mix their checkpoints.
const pgBrokerID = "walbench"

// pgRowStore is a postgres session store in a schema of its own, created
// for one row so that the row starts from an empty store whatever ran
// before it, and dropped with it.
type pgRowStore struct {
	*postgres.Store
	dsn, schema string
}

func openPGRowStore(ctx context.Context, dsn string) (*pgRowStore, error) {
	schema := "walbench_" + strings.ToLower(rand.Text()) // letters and digits: a plain identifier
	if err := pgExec(ctx, dsn, "CREATE SCHEMA "+schema); err != nil {
		return nil, fmt.Errorf("postgres session store: create schema: %w", err)
	}
	s, err := postgres.Open(ctx, postgres.Config{DSN: withSearchPath(dsn, schema), BrokerID: pgBrokerID})
	if err != nil {
		return nil, errors.Join(err, pgExec(ctx, dsn, "DROP SCHEMA "+schema+" CASCADE"))
	}
	return &pgRowStore{Store: s, dsn: dsn, schema: schema}, nil
}

// Close closes the store and drops its schema.
func (s *pgRowStore) Close() error {
	err := s.Store.Close()
	if derr := pgExec(context.Background(), s.dsn, "DROP SCHEMA "+s.schema+" CASCADE"); derr != nil {
		err = errors.Join(err, fmt.Errorf("postgres session store: drop schema %s: %w", s.schema, derr))
	}
	return err
}

func pgExec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withSearchPath returns dsn with its tables created and found in schema
// (pgx passes search_path to the server as a run-time parameter).
func withSearchPath(dsn, schema string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return dsn + " search_path=" + schema // keyword/value form
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// rowStoreOptions opens the session store r.store selects when walbench
// supplies it: for postgres, one of the row's own, shared as the broker
// shares it; for sqlite none, the broker opening the file its
// configuration names. closeStore closes it after the broker.
func rowStoreOptions(ctx context.Context, r row) (opts broker.Options, closeStore func() error, err error) {
	if r.store != StorePostgres {
		return broker.Options{}, func() error { return nil }, nil
	}
	s, err := openPGRowStore(ctx, r.pgDSN)
	if err != nil {
		return broker.Options{}, nil, err
	}
	return broker.Options{Store: s, SharedStore: true}, s.Close, nil
}

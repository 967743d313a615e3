package postgres_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/broker/store"
	"github.com/nautilus-go/nautilus/broker/store/postgres"
	"github.com/nautilus-go/nautilus/broker/store/storetest"
	"github.com/nautilus-go/nautilus/internal/pgtest"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var ctx = context.Background()

func open(t *testing.T, dsn, brokerID string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(ctx, postgres.Config{DSN: dsn, BrokerID: brokerID})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dsn := pgtest.DSN(t)
		return func(enc *backend.Encryption) (store.Store, error) {
			return postgres.Open(ctx, postgres.Config{DSN: dsn, BrokerID: "b1", Encryption: enc})
		}
	}, storetest.Options{Encrypted: true})
}

// Each broker's checkpoint is its own, while the states are shared.
func TestCheckpointPerBroker(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn, "a"), open(t, dsn, "b")
	require.NoError(t, a.Save(ctx, []store.Entry{{SessionID: "s", State: []byte("1")}}, 10))
	require.NoError(t, b.Save(ctx, []store.Entry{{SessionID: "s", State: []byte("2")}}, 3))
	for s, want := range map[*postgres.Store]uint64{a: 10, b: 3} {
		cp, err := s.Checkpoint(ctx)
		require.NoError(t, err)
		require.Equal(t, want, cp)
	}
	require.NoError(t, b.SetCheckpoint(ctx, 0))
	cp, err := a.Checkpoint(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(10), cp, "b's reset leaves a's checkpoint")
	got, ok, err := a.Load(ctx, "s")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []byte("2"), got)
}

// Brokers starting at once on an empty database all get the tables.
func TestConcurrentSchemaCreation(t *testing.T) {
	dsn := pgtest.DSN(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			s, err := postgres.Open(ctx, postgres.Config{DSN: dsn, BrokerID: fmt.Sprint("b", i)})
			if err == nil {
				err = s.Save(ctx, []store.Entry{{SessionID: fmt.Sprint("s", i), State: []byte("1")}}, 1)
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// A crashed holder's connection ends, and the server releases its lock.
func TestCrashedHolderReleasesTheLock(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn, "a"), open(t, dsn, "b")
	unlock, err := a.LockSession(ctx, "s")
	require.NoError(t, err)
	defer unlock()

	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer admin.Close(ctx)
	var killed int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()`).Scan(&killed))
	require.Equal(t, 1, killed, "one connection holds the session's lock")

	got, err := b.LockSession(ctx, "s") // blocks forever should the lock survive its connection
	require.NoError(t, err)
	got()
}

// Close gives back the locks still held, so other brokers go on.
func TestCloseReleasesHeldLocks(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, err := postgres.Open(ctx, postgres.Config{DSN: dsn, BrokerID: "a"})
	require.NoError(t, err)
	b := open(t, dsn, "b")
	unlock, err := a.LockSession(ctx, "s")
	require.NoError(t, err)
	require.NoError(t, a.Close(), "returns though a lock is held")
	unlock() // after Close: harmless

	got, err := b.LockSession(ctx, "s")
	require.NoError(t, err)
	got()
	_, err = a.LockSession(ctx, "t")
	require.Error(t, err, "a closed store takes no locks")
}

func TestOpenErrorsNameTheServerNotTheSecret(t *testing.T) {
	_, err := postgres.Open(ctx, postgres.Config{DSN: "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=5", BrokerID: "b"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
	require.ErrorContains(t, err, "broker b")
	_, err = postgres.Open(ctx, postgres.Config{DSN: "host=127.0.0.1", BrokerID: ""})
	require.ErrorContains(t, err, "empty broker id")
}

func BenchmarkSave(b *testing.B) {
	s, err := postgres.Open(ctx, postgres.Config{DSN: pgtest.DSN(b), BrokerID: "b1"})
	require.NoError(b, err)
	defer s.Close()
	storetest.BenchmarkSave(b, s)
}

// A Save the server refuses part of, after executing its first
// statement, leaves none of itself: the batch is one transaction.
func TestRefusedSaveRollsBack(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := open(t, dsn, "b1")
	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN RAISE EXCEPTION 'refused %', NEW.session_id; END$$;
		CREATE TRIGGER refuse BEFORE INSERT ON nautilus_session_state
		FOR EACH ROW WHEN (NEW.session_id = 'refused') EXECUTE FUNCTION refuse()`)
	require.NoError(t, err)

	err = s.Save(ctx, []store.Entry{{SessionID: "a", State: []byte("1")}, {SessionID: "refused", State: []byte("1")}}, 5)
	require.ErrorContains(t, err, "refused refused", "the server ran the batch up to the second entry")
	_, ok, err := s.Load(ctx, "a")
	require.NoError(t, err)
	require.False(t, ok, "the first entry rolled back")
	cp, err := s.Checkpoint(ctx)
	require.NoError(t, err)
	require.Zero(t, cp)
	require.NoError(t, s.Save(ctx, []store.Entry{{SessionID: "a", State: []byte("2")}}, 6), "the connection is usable again")
}

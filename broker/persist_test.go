package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/jsonl"
	"github.com/nautilus-go/nautilus/broker/store"
	"github.com/nautilus-go/nautilus/broker/store/memory"
	"github.com/nautilus-go/nautilus/broker/store/sqlite"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// diskConfig is registryA over SQLite in dir, with the jsonl WAL when wal.
func diskConfig(dir, mode string, wal bool) Config {
	return Config{
		Sources:      registryA(),
		SessionStore: SessionStoreConfig{Backend: StoreSQLite, SQLitePath: filepath.Join(dir, "sessions.db")},
		Persistence: PersistenceConfig{Mode: mode, WALEnabled: wal, WALPath: filepath.Join(dir, "wal"),
			WALBackend: "jsonl"},
	}
}

var modes = []struct {
	name string
	mode string
	wal  bool
}{
	{"synchronous-wal", ModeSynchronous, true},
	{"async-wal", ModeAsync, true},
	{"synchronous-nowal", ModeSynchronous, false},
	{"async-nowal", ModeAsync, false},
}

func TestRestartGivesIdenticalState(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := diskConfig(dir, m.mode, m.wal)
			b, err := New(context.Background(), cfg, nil)
			require.NoError(t, err)
			ask(t, b, "s1", "agent-a", "employee pii")
			ask(t, b, "s1", "agent-a", "cve")
			ask(t, b, "s2", "agent-a", "employee pii")
			ask(t, b, "s2", "agent-a", "budget financial")
			want := map[string]State{"s1": stateOfSession(t, b, "s1"), "s2": stateOfSession(t, b, "s2")}
			require.Equal(t, []string{"cve", "employee", "pii"}, want["s1"].DataTypesSeen)
			require.NoError(t, b.Close())

			b = newBroker(t, cfg, nil)
			for id, st := range want {
				require.Equal(t, st, stateOfSession(t, b, id), "session %s after restart", id)
			}
			r := ask(t, b, "s2", "agent-a", "employee pii")
			require.Equal(t, []string{"hr"}, r.SourcesDenied, "the flag survived the restart")
			if m.wal {
				first, last, err := b.wal.Bounds(context.Background())
				require.NoError(t, err)
				require.Equal(t, uint64(5), last)
				require.Equal(t, uint64(5), first, "startup truncated what the store holds")
			}
		})
	}
}

// Sixty-four concurrent requests in one session, each adding a distinct
// data type, end with the union of all of them: the session lock loses no
// update, in memory and in the store.
func TestConcurrentRequestsInOneSession(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := diskConfig(dir, m.mode, m.wal)
			var want []string
			cfg.Sources = nil
			for i := range 64 {
				typ := fmt.Sprintf("type%02d", i)
				want = append(want, typ)
				cfg.Sources = append(cfg.Sources, Source{ID: "src" + typ, Type: "static", Classification: "unclassified", DataTypes: []string{typ}})
			}
			b, err := New(context.Background(), cfg, nil)
			require.NoError(t, err)
			var wg sync.WaitGroup
			errs := make(chan error, len(want))
			for _, typ := range want {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := b.Handle(context.Background(), Request{AgentID: "a", Intent: "need " + typ,
						Context: RequestContext{SessionID: "shared", Clearance: "secret"}})
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			require.Equal(t, want, stateOfSession(t, b, "shared").DataTypesSeen)
			require.NoError(t, b.Flush(context.Background()))
			st, ok, err := b.store.Load(context.Background(), "shared")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, want, st.DataTypesSeen, "the store has the union")
			require.NoError(t, b.Close())

			b = newBroker(t, cfg, nil)
			require.Equal(t, want, stateOfSession(t, b, "shared").DataTypesSeen)
		})
	}
}

func TestReplayIsIdempotent(t *testing.T) {
	b := newBroker(t, memoryConfig(registryA()), nil)
	before := newState()
	ops := b.exposureUpdate("s", "req-1", before, Request{AgentID: "a"}, []string{"hr"}, []string{"employee", "pii"}, timeAt(5).get())
	rec := Record{V: recordVersion, RequestID: "req-1", SessionID: "s", AgentID: "a", TS: "t", Ops: ops}
	data, err := EncodeRecord(rec)
	require.NoError(t, err)
	decoded, err := DecodeRecord(data)
	require.NoError(t, err)

	once, err := applyRecord(before, decoded)
	require.NoError(t, err)
	twice, err := applyRecord(once, decoded)
	require.NoError(t, err)
	require.Equal(t, once, twice)
	require.Equal(t, 1, twice.PIISourcesAccessed)
	require.Equal(t, []string{"hr"}, twice.PIISourcesAccessedList)
	require.Equal(t, "req-1", twice.LastRequestID)
}

// A record replayed after the store already holds it, with later records
// of the same session after it, ends in the same state as applying each once.
func TestReplayFromStaleCheckpoint(t *testing.T) {
	dir := t.TempDir()
	cfg := diskConfig(dir, ModeSynchronous, true)
	b, err := New(context.Background(), cfg, nil)
	require.NoError(t, err)
	ask(t, b, "s", "a", "employee pii")
	ask(t, b, "s", "a", "budget financial")
	ask(t, b, "s", "b", "cve")
	want := stateOfSession(t, b, "s")
	// Stop without the clean shutdown's truncation, then wind the
	// checkpoint back: replay reapplies all three records.
	require.NoError(t, b.wal.Close())
	store := b.store
	require.NoError(t, store.SetCheckpoint(context.Background(), 0))
	require.NoError(t, store.Close())

	reg := prometheus.NewRegistry()
	b = newBroker(t, cfg, &Options{Registerer: reg})
	require.Equal(t, want, stateOfSession(t, b, "s"))
	require.Equal(t, float64(3), testutil.ToFloat64(b.metrics.replayed), "records replayed")
	require.Equal(t, 2, len(want.ExposureFlags))
	require.Equal(t, 1, want.PIISourcesAccessed)
}

func TestAsyncWriterAndEviction(t *testing.T) {
	store := &gatedStore{Store: memory.New(), gate: make(chan struct{})}
	clock := timeAt(100)
	cfg := memoryConfig(registryA())
	cfg.Persistence = PersistenceConfig{Mode: ModeAsync, WALEnabled: true, WALBackend: "memory", WALPath: t.TempDir()}
	b := newBroker(t, cfg, &Options{Store: store, Now: clock.get, IdleTimeout: 10, TruncateEvery: 1})

	r := ask(t, b, "s", "a", "employee pii")
	require.Equal(t, []string{"hr"}, r.SourcesQueried, "answered while the store write is held back")
	ask(t, b, "s", "a", "cve")
	clock.advance(60)
	require.Zero(t, b.evictIdle(clock.get()), "not evictable before its updates are in the store")
	require.Equal(t, 1, b.activeSessions())

	close(store.gate)
	require.NoError(t, b.Flush(context.Background()))
	cp, err := store.Checkpoint(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(2), cp)
	require.Equal(t, 1, b.evictIdle(clock.get()))
	require.Zero(t, b.activeSessions())

	st := stateOfSession(t, b, "s") // from the store now
	require.Equal(t, []string{"cve", "employee", "pii"}, st.DataTypesSeen)
	ask(t, b, "s", "a", "budget financial") // loads the session back
	require.Equal(t, []string{"budget", "cve", "employee", "financial", "pii"}, stateOfSession(t, b, "s").DataTypesSeen)
}

// gatedStore holds every Save until gate is closed.
type gatedStore struct {
	store.Store
	gate chan struct{}
}

func (g *gatedStore) Save(ctx context.Context, states []store.Entry, cp uint64) error {
	<-g.gate
	return g.Store.Save(ctx, states, cp)
}

func TestCheckpointsOutOfOrder(t *testing.T) {
	var c checkpoints
	c.reset(10)
	require.Equal(t, uint64(10), c.peek([]uint64{12}), "12 alone leaves a hole at 11")
	require.Equal(t, uint64(10), c.complete(12))
	require.Equal(t, uint64(12), c.peek([]uint64{11}))
	require.Equal(t, uint64(12), c.complete(11))
	require.Equal(t, uint64(13), c.complete(13))
	require.Equal(t, uint64(15), c.peek([]uint64{14, 15, 17}), "a batch covers its run, not past the hole at 16")
	require.Equal(t, uint64(13), c.value(), "peek completes nothing")
	c.complete(16)
	require.Equal(t, uint64(17), c.peek([]uint64{14, 15, 17}), "the hole filled earlier")
}

func TestWALTruncatedBehindStore(t *testing.T) {
	dir := t.TempDir()
	cfg := diskConfig(dir, ModeSynchronous, true)
	b := newBroker(t, cfg, &Options{TruncateEvery: 2})
	for i := range 6 {
		ask(t, b, fmt.Sprintf("s%d", i), "a", "cve")
	}
	require.Eventually(t, func() bool {
		first, _, err := b.wal.Bounds(context.Background())
		return err == nil && first > 1
	}, 10*time.Second, time.Millisecond, "the truncator drops what the store holds")
	first, _, err := b.wal.Bounds(context.Background())
	require.NoError(t, err)
	cp, err := b.store.Checkpoint(context.Background())
	require.NoError(t, err)
	require.LessOrEqual(t, first, cp+1, "never past the store's checkpoint")
}

func TestCorruptRecordRefusesStartAndLeavesStore(t *testing.T) {
	dir := t.TempDir()
	cfg := diskConfig(dir, ModeSynchronous, true)
	b, err := New(context.Background(), cfg, nil)
	require.NoError(t, err)
	ask(t, b, "s", "a", "cve")
	require.NoError(t, b.Close())

	// A record that passes the WAL's checksum but is not a broker record.
	w, err := backend.Open(context.Background(), backend.Config{Backend: "jsonl", Dir: cfg.Persistence.WALPath})
	require.NoError(t, err)
	idx, err := w.Append(context.Background(), []byte(`{"v":1,"session_id":"s","ops":[{"op":"explode","template":"x"}]}`))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	storeBytes, err := os.ReadFile(cfg.SessionStore.SQLitePath)
	require.NoError(t, err)

	_, err = New(context.Background(), cfg, nil)
	require.ErrorIs(t, err, backend.ErrCorrupt)
	var ce *backend.CorruptError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, idx, ce.Index)
	require.Equal(t, cfg.Persistence.WALPath, ce.File)
	require.Contains(t, err.Error(), fmt.Sprintf("(index %d)", idx))
	after, err := os.ReadFile(cfg.SessionStore.SQLitePath)
	require.NoError(t, err)
	require.Equal(t, storeBytes, after, "the store is untouched")
}

func TestWALAheadOrBehindStore(t *testing.T) {
	dir := t.TempDir()
	cfg := diskConfig(dir, ModeSynchronous, true)
	b, err := New(context.Background(), cfg, nil)
	require.NoError(t, err)
	ask(t, b, "s", "a", "cve")
	ask(t, b, "s", "a", "employee")
	require.NoError(t, b.Close())

	// A new, empty WAL directory (another backend, say) restarts the checkpoint.
	cfg.Persistence.WALPath = filepath.Join(dir, "wal2")
	b = newBroker(t, cfg, nil)
	ask(t, b, "s", "a", "budget")
	require.Equal(t, []string{"budget", "cve", "employee"}, stateOfSession(t, b, "s").DataTypesSeen)
	cp, err := b.store.Checkpoint(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(1), cp)
	require.NoError(t, b.Close())

	// A WAL whose records stop before the store's checkpoint belongs to another store.
	require.NoError(t, setSQLiteCheckpoint(t, cfg, 50))
	_, err = New(context.Background(), cfg, nil)
	require.ErrorContains(t, err, "ahead of WAL")
}

// setSQLiteCheckpoint sets the SQLite store's checkpoint of cfg.
func setSQLiteCheckpoint(t *testing.T, cfg Config, cp uint64) error {
	s, err := sqlite.Open(context.Background(), cfg.SessionStore.SQLitePath, nil)
	require.NoError(t, err)
	defer s.Close()
	// Leave one record in the WAL so it is not empty.
	w, err := backend.Open(context.Background(), backend.Config{Backend: "jsonl", Dir: cfg.Persistence.WALPath})
	require.NoError(t, err)
	data, _ := EncodeRecord(Record{V: 1, SessionID: "s", Ops: []Op{}})
	_, err = w.Append(context.Background(), data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return s.SetCheckpoint(context.Background(), cp)
}

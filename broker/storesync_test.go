package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/broker/store"
	"github.com/nautilus-go/nautilus/broker/store/sqlite"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// syncOrderStore records the highest checkpoint a returned Save stored and
// the highest one a completed Sync covers.
type syncOrderStore struct {
	store.Store
	saved  atomic.Uint64 // highest checkpoint of a Save that returned
	synced atomic.Uint64 // highest checkpoint saved before a Sync that completed
	syncs  atomic.Int64
}

func (s *syncOrderStore) Save(ctx context.Context, states []store.Entry, cp uint64) error {
	err := s.Store.Save(ctx, states, cp)
	if err == nil {
		raise(&s.saved, cp)
	}
	return err
}

func (s *syncOrderStore) Sync(ctx context.Context) error {
	covered := s.saved.Load()
	err := s.Store.(store.Syncer).Sync(ctx)
	if err == nil {
		raise(&s.synced, covered)
		s.syncs.Add(1)
	}
	return err
}

func raise(v *atomic.Uint64, to uint64) {
	for cur := v.Load(); to > cur && !v.CompareAndSwap(cur, to); cur = v.Load() {
	}
}

// truncationCheckWAL fails the test when the WAL is truncated past what the
// store has synced.
type truncationCheckWAL struct {
	backend.WAL
	t           *testing.T
	store       *syncOrderStore
	truncations atomic.Int64
}

func (w *truncationCheckWAL) TruncateFront(ctx context.Context, before uint64) error {
	if synced := w.store.synced.Load(); before > synced+1 {
		w.t.Errorf("WAL truncated before %d while the store has synced only through checkpoint %d", before, synced)
	}
	w.truncations.Add(1)
	return w.WAL.TruncateFront(ctx, before)
}

// TestWALNotTruncatedPastStoreSync runs concurrent synchronous requests over
// a store whose commits wait for Sync, with the truncator dropping the WAL
// after every record and at Close, and checks every truncation is covered
// by a Sync that began after the Saves it drops the records of.
func TestWALNotTruncatedPastStoreSync(t *testing.T) {
	dir := t.TempDir()
	cfg := diskConfig(dir, ModeSynchronous, true)
	sq, err := sqlite.OpenWith(context.Background(), sqlite.Options{Path: cfg.SessionStore.SQLitePath, DeferSync: true})
	require.NoError(t, err)
	defer sq.Close()
	st := &syncOrderStore{Store: sq}
	var wal *truncationCheckWAL
	b, err := New(context.Background(), cfg, &Options{Store: st, TruncateEvery: 1,
		WrapWAL: func(w backend.WAL) backend.WAL {
			wal = &truncationCheckWAL{WAL: w, t: t, store: st}
			return wal
		}})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			for i := range 10 {
				if _, err := b.Handle(context.Background(), Request{AgentID: "a", Intent: "cve",
					Context: RequestContext{SessionID: fmt.Sprintf("s%d-%d", c, i%3), Clearance: "secret"}}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, b.Close())
	require.Positive(t, wal.truncations.Load())
	require.Positive(t, st.syncs.Load())
}

// TestReplayRestoresCommitsLostBeforeSync simulates a power loss that takes
// the store's unsynced commits: the store is put back to its database file
// as it was when the WAL was last truncated (its SQLite WAL file, never
// synced since, is lost), and the broker's WAL, not truncated past that
// point, still holds every later request, which replay applies again.
func TestReplayRestoresCommitsLostBeforeSync(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := diskConfig(dir, ModeSynchronous, true)
	dbPath := cfg.SessionStore.SQLitePath
	snapshot := filepath.Join(dir, "durable.db")
	var truncations int
	b, err := New(ctx, cfg, &Options{WrapWAL: func(w backend.WAL) backend.WAL {
		return &snapshotOnTruncate{WAL: w, t: t, from: dbPath, to: snapshot, n: &truncations}
	}})
	require.NoError(t, err)
	ask(t, b, "s", "a", "employee pii")
	ask(t, b, "t", "a", "cve")
	require.NoError(t, b.truncateWAL(ctx))
	require.Equal(t, 1, truncations)
	ask(t, b, "s", "a", "budget financial")
	ask(t, b, "t", "a", "employee")
	ask(t, b, "u", "a", "cve")
	want := map[string]State{"s": stateOfSession(t, b, "s"), "t": stateOfSession(t, b, "t"), "u": stateOfSession(t, b, "u")}

	// The crash: no clean shutdown, and the store loses what it had not synced.
	require.NoError(t, b.wal.Close())
	require.NoError(t, b.store.Close())
	for _, suffix := range []string{"-wal", "-shm"} {
		// Closing SQLite removes them when it checkpointed everything.
		if err := os.Remove(dbPath + suffix); !os.IsNotExist(err) {
			require.NoError(t, err)
		}
	}
	require.NoError(t, os.Rename(snapshot, dbPath))
	durable, err := sqlite.Open(ctx, dbPath, nil)
	require.NoError(t, err)
	cp, err := durable.Checkpoint(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(2), cp, "the store lost the last three commits")
	_, ok, err := durable.Load(ctx, "u")
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, durable.Close())

	reg := prometheus.NewRegistry()
	b = newBroker(t, cfg, &Options{Registerer: reg})
	require.Equal(t, float64(3), testutil.ToFloat64(b.metrics.replayed), "the WAL kept the records the store lost")
	for id, st := range want {
		require.Equal(t, st, stateOfSession(t, b, id), "session %s after the simulated power loss", id)
	}
}

// snapshotOnTruncate copies the store's database file, without its SQLite
// WAL file, at every truncation: what a power loss right after it would
// leave of the store, given that truncateWAL synced the store just before.
type snapshotOnTruncate struct {
	backend.WAL
	t        *testing.T
	from, to string
	n        *int
}

func (w *snapshotOnTruncate) TruncateFront(ctx context.Context, before uint64) error {
	data, err := os.ReadFile(w.from)
	require.NoError(w.t, err)
	require.NoError(w.t, os.WriteFile(w.to, data, 0o600))
	*w.n++
	return w.WAL.TruncateFront(ctx, before)
}

package pebble_test

import (
	"context"
	"testing"

	pebblevfs "github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/internal/kv/kvtest"
	walpebble "github.com/nautilus-go/nautilus/backend/pebble"
)

// memWAL runs the WAL on a crashable in-memory file system, whose
// CrashClone keeps only what was fsync'd: a power loss.
type memWAL struct {
	t   *testing.T
	dir string // holds the directory lock, on disk; Pebble's files are in fs
	fs  *pebblevfs.MemFS
}

func newMemWAL(t *testing.T) *memWAL {
	return &memWAL{t: t, dir: t.TempDir(), fs: pebblevfs.NewCrashableMem()}
}

func (m *memWAL) open(mode backend.SyncMode) backend.WAL {
	m.t.Helper()
	w, err := walpebble.OpenWithOptions(context.Background(),
		backend.Config{Dir: m.dir, Sync: mode, Logger: quiet}, &walpebble.Options{FS: m.fs})
	require.NoError(m.t, err)
	return w
}

// powerLoss closes w, as a restart would, and leaves the file system as a
// power loss at the moment of the call would have: only what was fsync'd.
func (m *memWAL) powerLoss(w backend.WAL) {
	m.t.Helper()
	crashed := m.fs.CrashClone(pebblevfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	w.Close() // releases the directory lock; its writes go to the discarded fs
	m.fs = crashed
}

func bounds(t *testing.T, w backend.WAL) [2]uint64 {
	t.Helper()
	first, last, err := w.Bounds(context.Background())
	require.NoError(t, err)
	return [2]uint64{first, last}
}

// With SyncAlways every acknowledged Append and TruncateFront survives a
// power loss.
func TestPowerLossSyncAlways(t *testing.T) {
	m := newMemWAL(t)
	w := m.open(backend.SyncAlways)
	kvtest.Fill(t, w, 1, 30)
	require.NoError(t, w.TruncateFront(context.Background(), 11))
	m.powerLoss(w)

	w = m.open(backend.SyncAlways)
	kvtest.Check(t, w, 11, 30)
	require.NoError(t, w.Close())
}

// With SyncNone, Appends are lost to a power loss until Sync, and survive it
// after; TruncateFront is durable in either mode.
func TestPowerLossSyncNone(t *testing.T) {
	ctx := context.Background()
	m := newMemWAL(t)
	w := m.open(backend.SyncNone)
	kvtest.Fill(t, w, 1, 10)
	m.powerLoss(w)

	w = m.open(backend.SyncNone)
	require.Equal(t, [2]uint64{1, 0}, bounds(t, w), "unsynced Appends must not survive (else this test proves nothing)")
	kvtest.Fill(t, w, 1, 10)
	require.NoError(t, w.Sync(ctx))
	kvtest.Fill(t, w, 11, 12)
	m.powerLoss(w)

	w = m.open(backend.SyncNone)
	kvtest.Check(t, w, 1, 10)
	require.NoError(t, w.TruncateFront(ctx, 4))
	m.powerLoss(w)

	w = m.open(backend.SyncNone)
	kvtest.Check(t, w, 4, 10)
	require.NoError(t, w.Close())
}

// Close makes SyncNone's Appends durable.
func TestCloseSyncsSyncNone(t *testing.T) {
	m := newMemWAL(t)
	w := m.open(backend.SyncNone)
	kvtest.Fill(t, w, 1, 10)
	require.NoError(t, w.Close())
	m.fs = m.fs.CrashClone(pebblevfs.CrashCloneCfg{UnsyncedDataPercent: 0})

	w = m.open(backend.SyncNone)
	kvtest.Check(t, w, 1, 10)
	require.NoError(t, w.Close())
}

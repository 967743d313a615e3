package pebble_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/internal/kv"
	"github.com/nautilus-go/nautilus/backend/internal/kv/kvtest"
	walpebble "github.com/nautilus-go/nautilus/backend/pebble"
	"github.com/nautilus-go/nautilus/internal/damage"
)

func salvage(t *testing.T, dir string) (backend.SalvageReport, error) {
	t.Helper()
	return backend.Salvage(context.Background(), backend.Config{Backend: "pebble", Dir: dir, Logger: quiet})
}

// damaged returns a copy of a log holding records 3 to 20 (the front
// truncated, so the marker is set) changed by fn through Pebble itself.
func damaged(t *testing.T, pristine string, fn func(b *pebble.Batch)) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "wal")
	kvtest.CopyDir(t, pristine, dir)
	db := rawDB(t, dir)
	b := db.NewBatch()
	fn(b)
	require.NoError(t, b.Commit(pebble.Sync))
	require.NoError(t, db.Close())
	return dir
}

func TestSalvageCutsAtTheFirstBadRecord(t *testing.T) {
	ctx := context.Background()
	pristine := filepath.Join(t.TempDir(), "wal")
	w := mustOpen(t, pristine)
	kvtest.Fill(t, w, 1, 20)
	require.NoError(t, w.TruncateFront(ctx, 3))
	require.NoError(t, w.Close())

	flipped := backend.AppendEnvelope(nil, 7, kvtest.Payload(7))
	flipped[len(flipped)-1] ^= 0x10
	for _, tt := range []struct {
		name     string
		damage   func(b *pebble.Batch)
		last     uint64 // the last record left
		removed  bool   // records were deleted from the store
		cutBytes int64
	}{
		{"a flipped payload byte", func(b *pebble.Batch) { b.Set(kv.RecordKey(7), flipped, nil) }, 6, true, 0},
		{"a missing middle record", func(b *pebble.Batch) { b.Delete(kv.RecordKey(7), nil) }, 6, true, 0},
		{"a damaged last record", func(b *pebble.Batch) { b.Set(kv.RecordKey(20), []byte("junk"), nil) }, 19, true, kv.RecordKeySize + 4},
		{"a lost tail after a clean close", func(b *pebble.Batch) { b.Delete(kv.RecordKey(20), nil) }, 19, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := damaged(t, pristine, tt.damage)
			closeRecord, err := os.ReadFile(filepath.Join(dir, kv.CloseRecordFile))
			require.NoError(t, err)

			rep, err := salvage(t, dir)
			require.NoError(t, err)
			require.NotNil(t, rep.Damage)
			require.Equal(t, []uint64{3, tt.last, tt.last + 1, 20}, []uint64{rep.First, rep.Last, rep.RemovedFrom, rep.RemovedTo})
			if tt.cutBytes > 0 {
				require.Equal(t, tt.cutBytes, rep.RemovedBytes)
			}
			moved := rep.Files[len(rep.Files)-1]
			require.Equal(t, filepath.Join(dir, kv.CloseRecordFile), moved.Path)
			kept, err := os.ReadFile(moved.Copy)
			require.NoError(t, err)
			require.Equal(t, closeRecord, kept, "the close record is kept")
			if tt.removed {
				require.Len(t, rep.Files, 2)
				store := rep.Files[0]
				require.Equal(t, filepath.Join(dir, walpebble.SubDir), store.Path)
				require.Equal(t, store.Path+backend.BrokenSuffix, store.Copy)
				require.Positive(t, rep.RemovedBytes)
				// The copy is the store as it was: it still holds the damage.
				copyDir := filepath.Join(t.TempDir(), "copy")
				require.NoError(t, os.MkdirAll(copyDir, 0o755))
				require.NoError(t, os.Rename(store.Copy, filepath.Join(copyDir, walpebble.SubDir)))
				require.NoError(t, os.WriteFile(filepath.Join(copyDir, kv.CloseRecordFile), closeRecord, 0o644))
				w, err := openDir(ctx, copyDir)
				if err == nil {
					err = w.Replay(ctx, 3, func(uint64, []byte) error { return nil })
					w.Close()
				}
				requireCorrupt(t, err)
			} else {
				require.Len(t, rep.Files, 1, "the store is left as it is")
				require.Zero(t, rep.RemovedBytes)
			}

			w := mustOpen(t, dir)
			kvtest.Check(t, w, 3, tt.last)
			kvtest.Fill(t, w, tt.last+1, tt.last+2)
			require.NoError(t, w.Close())
		})
	}
}

func TestSalvageChangesNothingItCannotCut(t *testing.T) {
	ctx := context.Background()
	pristine := filepath.Join(t.TempDir(), "wal")
	w := mustOpen(t, pristine)
	kvtest.Fill(t, w, 1, 20)
	require.NoError(t, w.TruncateFront(ctx, 3))
	require.NoError(t, w.Close())

	t.Run("a healthy store", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "wal")
		kvtest.CopyDir(t, pristine, dir)
		before := damage.Files(t, dir)
		rep, err := salvage(t, dir)
		require.NoError(t, err)
		require.Equal(t, backend.SalvageReport{}, rep)
		require.Equal(t, before, damage.Files(t, dir))
	})
	t.Run("a damaged marker", func(t *testing.T) {
		dir := damaged(t, pristine, func(b *pebble.Batch) { b.Set(kv.FirstKey, []byte("junk"), nil) })
		before := damage.Files(t, dir)
		_, err := salvage(t, dir)
		ce := requireCorrupt(t, err)
		require.Equal(t, kv.KeyString(kv.FirstKey), ce.Key)
		require.ErrorContains(t, err, "only damaged records can be cut out")
		require.Equal(t, before, damage.Files(t, dir))
	})
	t.Run("a damaged options file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "wal")
		kvtest.CopyDir(t, pristine, dir)
		matches, err := filepath.Glob(filepath.Join(dir, walpebble.SubDir, "OPTIONS-*"))
		require.NoError(t, err)
		require.Len(t, matches, 1)
		data, err := os.ReadFile(matches[0])
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(matches[0], bytes.Replace(data, []byte("BytewiseComparator"), []byte("BytewiseComparatoR"), 1), 0o644))
		before := damage.Files(t, dir)
		_, err = salvage(t, dir)
		ce := requireCorrupt(t, err)
		require.Equal(t, matches[0], ce.File)
		require.Equal(t, before, damage.Files(t, dir))
	})
	t.Run("no store", func(t *testing.T) {
		dir := t.TempDir()
		rep, err := salvage(t, dir)
		require.NoError(t, err)
		require.Equal(t, backend.SalvageReport{}, rep)
	})
}

// The corruption the operator tools' tests use: a record stored damaged.
func TestSalvageOfDamageCorrupt(t *testing.T) {
	dir := t.TempDir()
	c := damage.Corrupt(t, "pebble", dir, 40)
	rep, err := salvage(t, dir)
	require.NoError(t, err)
	require.Equal(t, c.Index, rep.Damage.Index)
	require.Equal(t, c.File, rep.Damage.File)
	require.Equal(t, []uint64{c.Index - 1, 40}, []uint64{rep.Last, rep.RemovedTo})
	damage.RequireLog(t, "pebble", dir, 1, c.Index-1)
}

package bbolt_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	walbbolt "github.com/nautilus-go/nautilus/backend/bbolt"
	"github.com/nautilus-go/nautilus/backend/internal/kv"
	"github.com/nautilus-go/nautilus/internal/damage"
)

const salvageN = 40

func salvage(dir string) (backend.SalvageReport, error) {
	return backend.Salvage(context.Background(), damage.Config("bbolt", dir))
}

// A flipped byte in a record on a data page, which bbolt does not checksum,
// is cut out with every record after it; the file is kept as it was.
func TestSalvageCutsAtAFlippedRecord(t *testing.T) {
	dir := t.TempDir()
	c := damage.Corrupt(t, "bbolt", dir, salvageN)
	before := damage.Files(t, dir)

	rep, err := salvage(dir)
	require.NoError(t, err)
	require.Equal(t, c.Index, rep.Damage.Index)
	require.Equal(t, c.File, rep.Damage.File)
	require.Equal(t, []uint64{1, c.Index - 1, c.Index, salvageN}, []uint64{rep.First, rep.Last, rep.RemovedFrom, rep.RemovedTo})
	require.Positive(t, rep.RemovedBytes)
	require.Len(t, rep.Files, 2)
	db, record := rep.Files[0], rep.Files[1]
	require.Equal(t, filepath.Join(dir, walbbolt.FileName), db.Path)
	require.Equal(t, filepath.Join(dir, kv.CloseRecordFile), record.Path)
	for _, f := range rep.Files {
		kept, err := os.ReadFile(f.Copy)
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, f.Path)
		require.Equal(t, before[rel], string(kept), "the copy of %s is the file as it was", rel)
	}

	damage.RequireLog(t, "bbolt", dir, 1, c.Index-1) // it opens, the copies beside it
}

func TestSalvageChangesNothingItNeedNotOrCannotCut(t *testing.T) {
	for _, tt := range []struct {
		name  string
		build func(t *testing.T, dir string)
		err   string
	}{
		{"healthy", func(t *testing.T, dir string) { damage.Healthy(t, "bbolt", dir, salvageN) }, ""},
		{"a lost last commit", func(t *testing.T, dir string) { damage.Torn(t, "bbolt", dir, salvageN) }, ""},
		{"a damaged meta page", func(t *testing.T, dir string) {
			damage.Healthy(t, "bbolt", dir, salvageN)
			flipByte(t, filepath.Join(dir, walbbolt.FileName), 16) // meta page 0's magic
		}, "only damaged records can be cut out"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.build(t, dir)
			before := damage.Files(t, dir)
			rep, err := salvage(dir)
			if tt.err != "" {
				require.ErrorIs(t, err, backend.ErrCorrupt)
				require.ErrorContains(t, err, tt.err)
			} else {
				require.NoError(t, err)
				require.Equal(t, backend.SalvageReport{}, rep)
			}
			require.Equal(t, before, damage.Files(t, dir))
		})
	}
}

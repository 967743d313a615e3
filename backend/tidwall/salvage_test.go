package tidwall_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/internal/damage"
)

const salvageN = 40

func salvageConfig(dir string) backend.Config { return damage.Config("tidwall", dir) }

func TestSalvageCutsAtTheCorruptRecord(t *testing.T) {
	dir := t.TempDir()
	c := damage.Corrupt(t, "tidwall", dir, salvageN)
	segs := damage.DataFiles(t, "tidwall", dir)
	before := map[string][]byte{}
	for _, s := range segs {
		data, err := os.ReadFile(s)
		require.NoError(t, err)
		before[s] = data
	}

	rep, err := backend.Salvage(ctx, salvageConfig(dir))
	require.NoError(t, err)
	require.Equal(t, c.Index, rep.Damage.Index)
	require.Equal(t, c.File, rep.Damage.File)
	require.Equal(t, []uint64{1, c.Index - 1, c.Index, salvageN}, []uint64{rep.First, rep.Last, rep.RemovedFrom, rep.RemovedTo})
	require.Len(t, rep.Files, len(segs))
	require.Equal(t, rep.Damage.Offset, rep.Files[0].Kept)
	var removed int64
	for i, f := range rep.Files {
		require.Equal(t, segs[i], f.Path)
		kept, err := os.ReadFile(f.Copy)
		require.NoError(t, err)
		require.Equal(t, before[f.Path], kept, "the copy of %s", f.Path)
		removed += f.Size - max(f.Kept, 0)
	}
	require.Equal(t, removed, rep.RemovedBytes)
	damage.RequireLog(t, "tidwall", dir, 1, c.Index-1)
}

func TestSalvageLeavesAHealthyOrTornLogAlone(t *testing.T) {
	for name, build := range map[string]func(t *testing.T, dir string){
		"healthy": func(t *testing.T, dir string) { damage.Healthy(t, "tidwall", dir, salvageN) },
		"torn":    func(t *testing.T, dir string) { damage.Torn(t, "tidwall", dir, salvageN) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			build(t, dir)
			before := damage.Files(t, dir)
			rep, err := backend.Salvage(ctx, salvageConfig(dir))
			require.NoError(t, err)
			require.Equal(t, backend.SalvageReport{}, rep)
			require.Equal(t, before, damage.Files(t, dir))
		})
	}
}

// A deleted middle segment leaves the next one starting at the wrong index:
// it cannot be cut short, so it goes, and everything after it.
func TestSalvageCutsAtADeletedSegment(t *testing.T) {
	dir := t.TempDir()
	damage.Healthy(t, "tidwall", dir, salvageN)
	segs := damage.DataFiles(t, "tidwall", dir)
	require.Greater(t, len(segs), 3)
	require.NoError(t, os.Remove(segs[1]))

	rep, err := backend.Salvage(ctx, salvageConfig(dir))
	require.NoError(t, err)
	require.Equal(t, segs[2], rep.Damage.File)
	for _, f := range rep.Files {
		require.Equal(t, int64(-1), f.Kept, "%s moved aside whole", f.Path)
		require.NoFileExists(t, f.Path)
	}
	require.Len(t, rep.Files, len(segs)-2)
	damage.RequireLog(t, "tidwall", dir, 1, rep.Last)
	require.Equal(t, rep.Damage.Index-1, rep.Last, "the log ends where the deleted segment began")
}

// Damage in the first record of a truncated log empties its first segment,
// which keeps its name: the log is empty and goes on at its first index.
func TestSalvageOfTheFirstRecordKeepsTheFirstIndex(t *testing.T) {
	dir := t.TempDir()
	damage.Healthy(t, "tidwall", dir, salvageN)
	w, err := backend.Open(ctx, salvageConfig(dir))
	require.NoError(t, err)
	require.NoError(t, w.TruncateFront(ctx, 10))
	require.NoError(t, w.Close())
	segs := damage.DataFiles(t, "tidwall", dir)
	data, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	data[len(data)/4] ^= 0x01 // the first segment holds a few records; damage an early one
	require.NoError(t, os.WriteFile(segs[0], data, 0o644))

	rep, err := backend.Salvage(ctx, salvageConfig(dir))
	require.NoError(t, err)
	require.Equal(t, segs[0], rep.Damage.File)
	require.GreaterOrEqual(t, rep.Damage.Index, uint64(10))
	require.Equal(t, []uint64{10, rep.Damage.Index - 1, salvageN}, []uint64{rep.First, rep.Last, rep.RemovedTo})
	damage.RequireLog(t, "tidwall", dir, 10, rep.Damage.Index-1)

	// Damage at the very first record: the segment is emptied, not removed.
	dir = t.TempDir()
	damage.Healthy(t, "tidwall", dir, salvageN)
	w, err = backend.Open(ctx, salvageConfig(dir))
	require.NoError(t, err)
	require.NoError(t, w.TruncateFront(ctx, 10))
	require.NoError(t, w.Close())
	segs = damage.DataFiles(t, "tidwall", dir)
	data, err = os.ReadFile(segs[0])
	require.NoError(t, err)
	data[5] ^= 0x01 // inside the first record's envelope
	require.NoError(t, os.WriteFile(segs[0], data, 0o644))
	rep, err = backend.Salvage(ctx, salvageConfig(dir))
	require.NoError(t, err)
	require.Equal(t, int64(0), rep.Damage.Offset)
	require.Equal(t, int64(0), rep.Files[0].Kept)
	require.FileExists(t, segs[0])
	damage.RequireLog(t, "tidwall", dir, 10, 9)
}

func TestSalvageRefusesParamsOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	damage.Corrupt(t, "tidwall", dir, salvageN)
	before := damage.Files(t, dir)
	c := salvageConfig(dir)
	c.Params = map[string]string{"no_such_param": "1"}
	_, err := backend.Salvage(ctx, c)
	var pe *backend.ParamError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "no_such_param", pe.Key)
	require.Equal(t, before, damage.Files(t, dir))
}

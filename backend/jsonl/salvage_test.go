package jsonl_test

import (
	"context"
	"errors"
	iofs "io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/jsonl"
	"github.com/nautilus-go/nautilus/internal/damage"
)

const n = 40

var ctx = context.Background()

func cfg(dir string) backend.Config { return damage.Config("jsonl", dir) }

// requireKept requires every changed file's copy to hold the file as it was
// before, from the snapshot taken then.
func requireKept(t *testing.T, dir string, before map[string]string, files []backend.SalvagedFile) {
	t.Helper()
	for _, f := range files {
		rel, err := filepath.Rel(dir, f.Path)
		require.NoError(t, err)
		kept, err := os.ReadFile(f.Copy)
		require.NoError(t, err)
		require.Equal(t, before[rel], string(kept), "the copy of %s", rel)
		require.Equal(t, int64(len(before[rel])), f.Size)
	}
}

func TestSalvageCutsAtTheCorruptRecordAndMovesLaterSegmentsAside(t *testing.T) {
	dir := t.TempDir()
	c := damage.Corrupt(t, "jsonl", dir, n)
	segs := damage.DataFiles(t, "jsonl", dir)
	before := damage.Files(t, dir)

	rep, err := backend.Salvage(ctx, cfg(dir))
	require.NoError(t, err)
	require.NotNil(t, rep.Damage)
	require.Equal(t, c.Index, rep.Damage.Index)
	require.Equal(t, c.File, rep.Damage.File)
	require.Equal(t, []uint64{1, c.Index - 1, c.Index, n}, []uint64{rep.First, rep.Last, rep.RemovedFrom, rep.RemovedTo})

	require.Len(t, rep.Files, len(segs))
	cut := rep.Files[0]
	require.Equal(t, segs[0], cut.Path)
	require.Equal(t, rep.Damage.Offset, cut.Kept, "the first segment is cut where the damaged record starts")
	var total int64
	for i, f := range rep.Files {
		require.Equal(t, segs[i], f.Path)
		if i > 0 {
			require.Equal(t, int64(-1), f.Kept, "later segments are moved aside whole")
			require.NoFileExists(t, f.Path)
		}
		total += f.Size
	}
	require.Equal(t, total-cut.Kept, rep.RemovedBytes)
	requireKept(t, dir, before, rep.Files)
	damage.RequireLog(t, "jsonl", dir, 1, c.Index-1)
}

func TestSalvageLeavesAHealthyOrTornLogAlone(t *testing.T) {
	for name, build := range map[string]func(t *testing.T, dir string){
		"healthy": func(t *testing.T, dir string) { damage.Healthy(t, "jsonl", dir, n) },
		"torn":    func(t *testing.T, dir string) { damage.Torn(t, "jsonl", dir, n) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			build(t, dir)
			before := damage.Files(t, dir)
			rep, err := backend.Salvage(ctx, cfg(dir))
			require.NoError(t, err)
			require.Equal(t, backend.SalvageReport{}, rep, "a torn tail is Open's to repair")
			require.Equal(t, before, damage.Files(t, dir))
		})
	}
}

// A missing middle segment is an index gap at the start of the next one,
// which cannot be cut short, so it and everything after go aside.
func TestSalvageCutsAtAMissingSegment(t *testing.T) {
	dir := t.TempDir()
	damage.Healthy(t, "jsonl", dir, n)
	segs := damage.DataFiles(t, "jsonl", dir)
	require.NoError(t, os.Remove(segs[2]))
	lastKept, err := jsonl.ParseSegmentName(filepath.Base(segs[2]))
	require.NoError(t, err)

	rep, err := backend.Salvage(ctx, cfg(dir))
	require.NoError(t, err)
	require.Equal(t, segs[3], rep.Damage.File)
	require.Equal(t, lastKept, rep.Damage.Index, "the index the missing segment began with")
	require.Equal(t, []uint64{lastKept - 1, n}, []uint64{rep.Last, rep.RemovedTo})
	require.Len(t, rep.Files, len(segs)-3)
	for _, f := range rep.Files {
		require.Equal(t, int64(-1), f.Kept)
	}
	damage.RequireLog(t, "jsonl", dir, 1, lastKept-1)
}

// Damage at a segment's first byte takes the segment aside whole; when that
// is the first segment of a truncated log, the next one then starts after
// the log's first index, a missing segment, so it goes too and the log is
// empty, starting where it did.
func TestSalvageOfTheFrontLeavesAnEmptyLogAtItsFirstIndex(t *testing.T) {
	dir := t.TempDir()
	damage.Healthy(t, "jsonl", dir, n)
	segs := damage.DataFiles(t, "jsonl", dir)
	second, err := jsonl.ParseSegmentName(filepath.Base(segs[1]))
	require.NoError(t, err)
	w, err := backend.Open(ctx, cfg(dir))
	require.NoError(t, err)
	require.NoError(t, w.TruncateFront(ctx, 2)) // the first segment stays, holding record 1 below the marker
	require.NoError(t, w.Close())
	data, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	data[0] = 'x'
	require.NoError(t, os.WriteFile(segs[0], data, 0o644))

	rep, err := backend.Salvage(ctx, cfg(dir))
	require.NoError(t, err)
	require.Equal(t, segs[0], rep.Damage.File)
	require.Equal(t, int64(0), rep.Damage.Offset)
	require.Equal(t, []uint64{2, 1, 2, n}, []uint64{rep.First, rep.Last, rep.RemovedFrom, rep.RemovedTo})
	require.Len(t, rep.Files, len(segs), "every segment went aside")
	require.Greater(t, second, uint64(2))
	damage.RequireLog(t, "jsonl", dir, 2, 1)
}

func TestSalvageRefusesADamagedMarkerChangingNothing(t *testing.T) {
	dir := t.TempDir()
	damage.Healthy(t, "jsonl", dir, n)
	w, err := backend.Open(ctx, cfg(dir))
	require.NoError(t, err)
	require.NoError(t, w.TruncateFront(ctx, 5))
	require.NoError(t, w.Close())
	marker := filepath.Join(dir, jsonl.MarkerFileName)
	require.NoError(t, os.WriteFile(marker, []byte(`{"first_index":6,"crc":"00000000"}`+"\n"), 0o644))
	before := damage.Files(t, dir)

	_, err = backend.Salvage(ctx, cfg(dir))
	var ce *backend.CorruptError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, marker, ce.File)
	require.ErrorContains(t, err, "only damage to the data files can be cut out")
	require.Equal(t, before, damage.Files(t, dir))
}

func TestSalvageRefusesAForeignFile(t *testing.T) {
	dir := t.TempDir()
	damage.Corrupt(t, "jsonl", dir, n)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644))
	before := damage.Files(t, dir)
	_, err := backend.Salvage(ctx, cfg(dir))
	var pe *iofs.PathError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, filepath.Join(dir, "notes.txt"), pe.Path)
	require.Equal(t, before, damage.Files(t, dir))
}

func TestInspectReportsWhatOpenWouldFind(t *testing.T) {
	dir := t.TempDir()
	tear := damage.Torn(t, "jsonl", dir, n)
	segs := damage.DataFiles(t, "jsonl", dir)
	before := damage.Files(t, dir)

	in, err := backend.Inspect(ctx, cfg(dir))
	require.NoError(t, err)
	require.Equal(t, []uint64{1, n - 1}, []uint64{in.First, in.Last})
	require.Len(t, in.Files, len(segs))
	next := uint64(1)
	for i, span := range in.Files {
		require.Equal(t, segs[i], span.Path)
		require.Equal(t, next, span.First)
		next = span.Last + 1
	}
	require.Equal(t, uint64(n), next, "the spans cover the log")
	require.NotNil(t, in.Torn)
	require.Equal(t, tear.File, in.Torn.File)
	require.Equal(t, tear.Offset, in.Torn.Offset)
	require.Equal(t, uint64(n), in.Torn.Index)
	require.Contains(t, in.Torn.Reason, "torn write")
	require.Equal(t, tear.Bytes, in.TornBytes)
	require.Equal(t, before, damage.Files(t, dir), "inspecting changes nothing")

	dir = t.TempDir()
	c := damage.Corrupt(t, "jsonl", dir, n)
	_, err = backend.Inspect(ctx, cfg(dir))
	var ce *backend.CorruptError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, c.Index, ce.Index)
	_, openErr := backend.Open(ctx, cfg(dir))
	require.Equal(t, openErr.Error(), err.Error(), "the same error Open gives")
	require.False(t, errors.Is(err, backend.ErrLocked))
}

func TestInspectAndSalvageRefuseParamsOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	damage.Corrupt(t, "jsonl", dir, n)
	before := damage.Files(t, dir)
	c := cfg(dir)
	c.Params = map[string]string{"no_such_param": "1"}
	var pe *backend.ParamError
	_, err := backend.Inspect(ctx, c)
	require.ErrorAs(t, err, &pe)
	_, err = backend.Salvage(ctx, c)
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "no_such_param", pe.Key)
	require.Equal(t, before, damage.Files(t, dir), "a refused salvage changes nothing")
	c.Params = map[string]string{jsonl.ParamSegmentBytes: "1KiB"}
	_, err = backend.Salvage(ctx, c)
	require.NoError(t, err, "a param Open takes is taken")
	require.NotEqual(t, before, damage.Files(t, dir))
}

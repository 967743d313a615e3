package jsonl

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/stretchr/testify/require"
)

// preallocConfig is config with 4 KiB preallocated segments.
func preallocConfig(dir string) backend.Config {
	return config(dir, ParamSegmentBytes, "4KiB", ParamPreallocate, "true")
}

// requireSizes requires every segment in dir to be preallocated to 4 KiB.
func requireSizes(t *testing.T, dir string) {
	t.Helper()
	for _, path := range segmentPaths(t, dir) {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.EqualValues(t, 4096, fi.Size(), path)
	}
}

// Preallocated segments rotate, reopen, truncate and inspect as plain ones:
// the zeros after the last record of each are not part of the log.
func TestPreallocatedSegments(t *testing.T) {
	dir := t.TempDir()
	w := open(t, preallocConfig(dir))
	appendRange(t, w, 1, 100)
	requireSizes(t, dir)
	require.Greater(t, len(segmentPaths(t, dir)), 1)
	require.NoError(t, w.Close())

	r, err := Inspect(context.Background(), vfs.Default, dir)
	require.NoError(t, err)
	require.Nil(t, r.TornTail)
	require.EqualValues(t, 100, r.Last)

	w = open(t, preallocConfig(dir))
	requireLog(t, w, 1, 100)
	appendRange(t, w, 101, 120)
	require.NoError(t, w.TruncateFront(context.Background(), 90))
	require.NoError(t, w.Close())
	w = open(t, preallocConfig(dir))
	requireLog(t, w, 90, 120)
	require.NoError(t, w.Close())
	requireSizes(t, dir)

	// Reopened without preallocation, the zeros stay and are still the end.
	w = open(t, config(dir, ParamSegmentBytes, "4KiB"))
	appendRange(t, w, 121, 125)
	require.NoError(t, w.Close())
	w = open(t, config(dir, ParamSegmentBytes, "4KiB"))
	requireLog(t, w, 90, 125)
	require.NoError(t, w.Close())
}

// A torn record in a preallocated segment is cut off with a copy kept, and
// appends go on after the cut.
func TestPreallocatedTornTail(t *testing.T) {
	dir := t.TempDir()
	w := open(t, preallocConfig(dir))
	appendRange(t, w, 1, 5)
	require.NoError(t, w.Close())
	path := segmentPaths(t, dir)[0]
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	end := bytes.IndexByte(data, 0)
	line := AppendLine(nil, 6, 5, payload(6))
	copy(data[end:], line[:len(line)/2]) // the first half of record 6 reached the disk
	require.NoError(t, os.WriteFile(path, data, 0o644))

	obs := &repairs{}
	cfg := preallocConfig(dir)
	cfg.Observer = obs
	w = open(t, cfg)
	requireLog(t, w, 1, 5)
	require.Equal(t, []string{path}, obs.files)
	require.EqualValues(t, []int64{int64(len(data) - end)}, obs.bytes)
	require.FileExists(t, path+backend.BrokenSuffix)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.EqualValues(t, end, fi.Size(), "cut where record 6 began")
	appendRange(t, w, 6, 7)
	require.NoError(t, w.Close())
	w = open(t, preallocConfig(dir))
	requireLog(t, w, 1, 7)
	require.NoError(t, w.Close())
}

// Salvage cuts a preallocated log at its corrupt record like any other.
func TestPreallocatedSalvage(t *testing.T) {
	dir := t.TempDir()
	w := open(t, preallocConfig(dir))
	appendRange(t, w, 1, 60)
	require.NoError(t, w.Close())
	path := segmentPaths(t, dir)[0]
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	offs := recordOffsets(data[:bytes.IndexByte(data, 0)])
	data[offs[3]+8] ^= 0x01 // record 4
	require.NoError(t, os.WriteFile(path, data, 0o644))
	_, err = backend.Open(context.Background(), preallocConfig(dir))
	require.ErrorIs(t, err, backend.ErrCorrupt)

	rep, err := backend.Salvage(context.Background(), preallocConfig(dir))
	require.NoError(t, err)
	require.NotNil(t, rep.Damage)
	require.EqualValues(t, 4, rep.Damage.Index)
	require.EqualValues(t, 3, rep.Last)
	require.EqualValues(t, 60, rep.RemovedTo)
	w = open(t, preallocConfig(dir))
	requireLog(t, w, 1, 3)
	appendRange(t, w, 4, 4)
	require.NoError(t, w.Close())
}

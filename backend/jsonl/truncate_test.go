package jsonl

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/stretchr/testify/require"
)

func TestTruncateFrontDropsWholeSegments(t *testing.T) {
	dir := writeLog(t, 9, "170") // segments 1-3, 4-6, 7-9
	ctx := context.Background()
	w := open(t, config(dir, ParamSegmentBytes, "170"))

	require.NoError(t, w.TruncateFront(ctx, 2))
	requireLog(t, w, 2, 9)
	require.Len(t, segmentPaths(t, dir), 3, "segment 1-3 still holds 2 and 3")
	require.ErrorIs(t, w.Replay(ctx, 1, nil), backend.ErrOutOfRange)

	require.NoError(t, w.TruncateFront(ctx, 5))
	requireLog(t, w, 5, 9)
	require.Equal(t, []string{filepath.Join(dir, SegmentName(4)), filepath.Join(dir, SegmentName(7))}, segmentPaths(t, dir))

	require.NoError(t, w.TruncateFront(ctx, 7))
	requireLog(t, w, 7, 9)
	require.Equal(t, []string{filepath.Join(dir, SegmentName(7))}, segmentPaths(t, dir))
	require.NoError(t, w.Close())

	w = open(t, config(dir, ParamSegmentBytes, "170"))
	requireLog(t, w, 7, 9)
	appendRange(t, w, 10, 12)
	requireLog(t, w, 7, 12)
	require.NoError(t, w.Close())
	w = open(t, config(dir, ParamSegmentBytes, "170"))
	requireLog(t, w, 7, 12)
	require.NoError(t, w.Close())
}

func TestTruncateEverythingThenReopenContinuesAtLastPlusOne(t *testing.T) {
	dir := writeLog(t, 9, "170")
	ctx := context.Background()
	w := open(t, config(dir, ParamSegmentBytes, "170"))
	require.NoError(t, w.TruncateFront(ctx, 10))
	requireLog(t, w, 10, 9)
	require.Empty(t, segmentPaths(t, dir))
	require.NoError(t, w.Close())

	w = open(t, config(dir, ParamSegmentBytes, "170"))
	requireLog(t, w, 10, 9)
	require.NoError(t, w.Close())

	w = open(t, config(dir, ParamSegmentBytes, "170"))
	appendRange(t, w, 10, 11)
	requireLog(t, w, 10, 11)
	require.Equal(t, []string{filepath.Join(dir, SegmentName(10))}, segmentPaths(t, dir))
	require.NoError(t, w.TruncateFront(ctx, 12))
	requireLog(t, w, 12, 11)
	require.NoError(t, w.Close())

	w = open(t, config(dir, ParamSegmentBytes, "170"))
	requireLog(t, w, 12, 11)
	appendRange(t, w, 12, 12)
	require.NoError(t, w.Close())
	w = open(t, config(dir, ParamSegmentBytes, "170"))
	requireLog(t, w, 12, 12)
	require.NoError(t, w.Close())
}

func TestTruncateEverythingWithoutReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	w := open(t, config(dir))
	appendRange(t, w, 1, 3)
	require.NoError(t, w.TruncateFront(ctx, 4))
	appendRange(t, w, 4, 5)
	requireLog(t, w, 4, 5)
	require.NoError(t, w.Close())
	w = open(t, config(dir))
	requireLog(t, w, 4, 5)
	require.NoError(t, w.Close())
}

// TestInterruptedTruncateFront puts the directory in the state a crash
// leaves between persisting the marker and deleting segments: Open finishes
// the job.
func TestInterruptedTruncateFront(t *testing.T) {
	src := writeLog(t, 9, "170") // segments 1-3, 4-6, 7-9
	cases := []struct {
		name        string
		marker      uint64
		first, last uint64
		kept        []uint64 // first indexes of the segments left
	}{
		{"inside the first segment", 2, 2, 9, []uint64{1, 4, 7}},
		{"at a segment start", 4, 4, 9, []uint64{4, 7}},
		{"inside the last segment", 8, 8, 9, []uint64{7}},
		{"everything", 10, 10, 9, nil},
		// Under SyncNone the records the log held may be fewer than the marker
		// skipped: the log is empty and continues at the marker.
		{"beyond the records on disk", 15, 15, 14, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, src)
			require.NoError(t, os.WriteFile(filepath.Join(dir, MarkerFileName), encodeMarker(tc.marker), 0o644))
			w := open(t, config(dir, ParamSegmentBytes, "170"))
			requireLog(t, w, tc.first, tc.last)
			var want []string
			for _, first := range tc.kept {
				want = append(want, filepath.Join(dir, SegmentName(first)))
			}
			require.Equal(t, want, segmentPaths(t, dir))
			appendRange(t, w, tc.last+1, tc.last+2)
			require.NoError(t, w.Close())
			w = open(t, config(dir, ParamSegmentBytes, "170"))
			requireLog(t, w, tc.first, tc.last+2)
			require.NoError(t, w.Close())
		})
	}
}

func TestMarkerBelowTheFirstSegmentIsCorruption(t *testing.T) {
	dir := writeLog(t, 9, "170")
	require.NoError(t, os.Remove(filepath.Join(dir, SegmentName(1))))
	require.NoError(t, os.WriteFile(filepath.Join(dir, MarkerFileName), encodeMarker(2), 0o644))
	ce := requireRefused(t, dir, filepath.Join(dir, SegmentName(4)), 0)
	require.Equal(t, uint64(2), ce.Index)
}

func TestTruncateFrontKeepsAnEmptyActiveSegment(t *testing.T) {
	src := writeLog(t, 6, "170") // segments 1-3, 4-6
	dir := copyDir(t, src)
	// A crash right after starting segment 7 leaves it empty.
	require.NoError(t, os.WriteFile(filepath.Join(dir, SegmentName(7)), nil, 0o644))
	ctx := context.Background()
	w := open(t, config(dir, ParamSegmentBytes, "170"))
	requireLog(t, w, 1, 6)
	require.NoError(t, w.TruncateFront(ctx, 7))
	requireLog(t, w, 7, 6)
	require.Equal(t, []string{filepath.Join(dir, SegmentName(7))}, segmentPaths(t, dir))
	appendRange(t, w, 7, 7)
	require.NoError(t, w.Close())
	w = open(t, config(dir, ParamSegmentBytes, "170"))
	requireLog(t, w, 7, 7)
	require.NoError(t, w.Close())
}

func TestReplayAcrossAConcurrentTruncateFront(t *testing.T) {
	dir := writeLog(t, 9, "170")
	ctx := context.Background()
	w := open(t, config(dir, ParamSegmentBytes, "170"))
	defer w.Close()
	var delivered []uint64
	err := w.Replay(ctx, 1, func(index uint64, data []byte) error {
		require.Equal(t, payload(index), data)
		delivered = append(delivered, index)
		if index == 1 {
			return w.TruncateFront(ctx, 10) // removes the segments not yet read
		}
		return nil
	})
	require.ErrorIs(t, err, backend.ErrOutOfRange)
	require.Equal(t, []uint64{1, 2, 3}, delivered, "the open segment is read to its end, never wrong bytes")
}

func TestMarkerMatchesTheDocumentedExample(t *testing.T) {
	require.Equal(t, `{"first_index":5,"crc":"b9d9a696"}`+"\n", string(encodeMarker(5)))
}

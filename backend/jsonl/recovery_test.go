package jsonl

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/stretchr/testify/require"
)

// writeLog creates a closed WAL in a new directory holding payload(1..n), with
// the given segment_bytes, and returns the directory.
func writeLog(t *testing.T, n uint64, segBytes string) string {
	t.Helper()
	dir := t.TempDir()
	w := open(t, config(dir, ParamSegmentBytes, segBytes))
	appendRange(t, w, 1, n)
	require.NoError(t, w.Close())
	return dir
}

// copyDir copies the files of src into a new directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	for name, b := range dirBytes(t, src) {
		require.NoError(t, os.WriteFile(filepath.Join(dst, name), b, 0o644))
	}
	return dst
}

// lastRecordOffset returns the offset of the last line in a segment's bytes.
func lastRecordOffset(data []byte) int {
	return bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
}

func TestTornTailAtEveryOffsetOfTheLastRecord(t *testing.T) {
	// Records 1..3 fill the first segment; 4..n the last. n odd: the last
	// record is base64; n even: JSON.
	for _, n := range []uint64{6, 7} {
		src := writeLog(t, n, "170")
		segs := segmentPaths(t, src)
		require.Greater(t, len(segs), 1)
		lastName := filepath.Base(segs[len(segs)-1])
		full := dirBytes(t, src)[lastName]
		start := lastRecordOffset(full)

		for cut := start; cut < len(full); cut++ {
			dir := copyDir(t, src)
			seg := filepath.Join(dir, lastName)
			require.NoError(t, os.Truncate(seg, int64(cut)))

			obs := &repairs{}
			logs := &logRecords{}
			cfg := config(dir, ParamSegmentBytes, "170")
			cfg.Observer, cfg.Logger = obs, slog.New(logs)
			w := open(t, cfg)
			requireLog(t, w, 1, n-1)

			if cut == start {
				require.Empty(t, obs.files, "a cut at a record boundary is not torn")
				require.NoFileExists(t, seg+backend.BrokenSuffix)
			} else {
				dropped := int64(cut - start)
				require.Equal(t, []string{seg}, obs.files)
				require.Equal(t, []int64{dropped}, obs.bytes)
				broken, err := os.ReadFile(seg + backend.BrokenSuffix)
				require.NoError(t, err)
				require.Equal(t, full[:cut], broken, "the copy holds the segment as found")
				require.Len(t, logs.records, 1)
				entry := logs.records[0]
				require.Equal(t, slog.LevelWarn, entry["level"])
				require.Equal(t, seg, entry["file"])
				require.Equal(t, int64(start), entry["offset"])
				require.Equal(t, dropped, entry["dropped_bytes"])
			}
			after, err := os.ReadFile(seg)
			require.NoError(t, err)
			require.Equal(t, full[:start], after, "cut to the last good record")

			appendRange(t, w, n, n)
			require.NoError(t, w.Close())
			w = open(t, config(dir, ParamSegmentBytes, "170"))
			requireLog(t, w, 1, n)
			require.NoError(t, w.Close())
		}
	}
}

func TestZeroAndGarbageTails(t *testing.T) {
	src := writeLog(t, 5, "64MiB")
	seg := filepath.Base(segmentPaths(t, src)[0])
	full := dirBytes(t, src)[seg]
	start := lastRecordOffset(full)
	rng := rand.New(rand.NewPCG(3, 4))
	garbage := make([]byte, 2000)
	for i := range garbage {
		garbage[i] = byte(rng.IntN(256))
	}
	cases := []struct {
		name     string
		data     []byte
		last     uint64
		repaired bool // false: the zeros are the end of the log, as a preallocated remainder is
	}{
		{"zeros after the last record", append(bytes.Clone(full), make([]byte, 4096)...), 5, false},
		{"zeros over part of the last record", append(bytes.Clone(full[:start+10]), make([]byte, 4096)...), 4, true},
		{"zeros replacing the last record", append(bytes.Clone(full[:start]), make([]byte, len(full)-start)...), 4, false},
		{"garbage after the last record", append(bytes.Clone(full), garbage...), 5, true},
		{"garbage over part of the last record", append(bytes.Clone(full[:start+3]), garbage...), 4, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, src)
			path := filepath.Join(dir, seg)
			require.NoError(t, os.WriteFile(path, tc.data, 0o644))
			obs := &repairs{}
			cfg := config(dir)
			cfg.Observer = obs
			w := open(t, cfg)
			requireLog(t, w, 1, tc.last)
			if tc.repaired {
				require.Len(t, obs.files, 1)
				require.FileExists(t, path+backend.BrokenSuffix)
			} else {
				require.Empty(t, obs.files)
				require.NoFileExists(t, path+backend.BrokenSuffix)
			}
			appendRange(t, w, tc.last+1, tc.last+1)
			require.NoError(t, w.Close())
			w = open(t, config(dir))
			requireLog(t, w, 1, tc.last+1)
			require.NoError(t, w.Close())
		})
	}
}

func TestRepeatedRepairsKeepEveryCopy(t *testing.T) {
	dir := writeLog(t, 3, "64MiB")
	seg := segmentPaths(t, dir)[0]
	for round := 1; round <= 3; round++ {
		f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
		require.NoError(t, err)
		_, err = f.Write([]byte(`{"i":`))
		require.NoError(t, err)
		require.NoError(t, f.Close())
		w := open(t, config(dir))
		requireLog(t, w, 1, 3)
		require.NoError(t, w.Close())
	}
	require.FileExists(t, seg+backend.BrokenSuffix)
	require.FileExists(t, seg+backend.BrokenSuffix+".2")
	require.FileExists(t, seg+backend.BrokenSuffix+".3")
}

// requireRefused opens dir, requires corruption in file at offset, and
// requires every file to be unchanged.
func requireRefused(t *testing.T, dir, file string, offset int64) *backend.CorruptError {
	t.Helper()
	before := dirBytes(t, dir)
	obs := &corruptOpens{}
	cfg := config(dir, ParamSegmentBytes, "170")
	cfg.Observer = obs
	_, err := backend.Open(context.Background(), cfg)
	ce := requireCorrupt(t, err, file, offset)
	require.Equal(t, 1, obs.n, "the refusal is reported to the observer")
	require.Equal(t, before, dirBytes(t, dir), "files modified by a refused Open")
	return ce
}

type corruptOpens struct {
	backend.NopObserver
	n int
}

func (c *corruptOpens) CorruptOpen(error) { c.n++ }

// recordOffsets returns the offset of every line in a segment's bytes.
func recordOffsets(data []byte) []int64 {
	var offsets []int64
	for off := 0; off < len(data); {
		offsets = append(offsets, int64(off))
		off += bytes.IndexByte(data[off:], '\n') + 1
	}
	return offsets
}

func TestBitFlipInAnOlderRecordIsCorruption(t *testing.T) {
	src := writeLog(t, 9, "170") // segments 1-3, 4-6, 7-9
	segs := segmentPaths(t, src)
	require.Len(t, segs, 3)
	for _, tc := range []struct {
		name   string
		seg    int // which segment
		record int // which record in it
	}{
		{"last segment, second record", 2, 1},
		{"last segment, first record", 2, 0},
		{"older segment, middle record", 0, 1},
		{"older segment, last record", 1, 2}, // nothing valid after it in its own file
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Base(segs[tc.seg])
			data := dirBytes(t, src)[name]
			offsets := append(recordOffsets(data), int64(len(data)))
			from, to := offsets[tc.record], offsets[tc.record+1]
			for at := from; at < to; at++ {
				dir := copyDir(t, src)
				path := filepath.Join(dir, name)
				flipped := bytes.Clone(data)
				flipped[at] ^= 0x10
				require.NoError(t, os.WriteFile(path, flipped, 0o644))
				ce := requireRefused(t, dir, path, from)
				require.Equal(t, uint64(3*tc.seg+tc.record+1), ce.Index, "the index of the damaged record: %v", ce)
			}
		})
	}
}

func TestMissingOrMisplacedSegmentIsCorruption(t *testing.T) {
	src := writeLog(t, 9, "170")
	names := make([]string, 3)
	for i, p := range segmentPaths(t, src) {
		names[i] = filepath.Base(p)
	}
	t.Run("middle segment deleted", func(t *testing.T) {
		dir := copyDir(t, src)
		require.NoError(t, os.Remove(filepath.Join(dir, names[1])))
		ce := requireRefused(t, dir, filepath.Join(dir, names[2]), 0)
		require.Equal(t, uint64(4), ce.Index)
	})
	t.Run("first segment deleted", func(t *testing.T) {
		dir := copyDir(t, src)
		require.NoError(t, os.Remove(filepath.Join(dir, names[0])))
		ce := requireRefused(t, dir, filepath.Join(dir, names[1]), 0)
		require.Equal(t, uint64(1), ce.Index)
	})
	t.Run("segment renamed past its predecessor's end", func(t *testing.T) {
		dir := copyDir(t, src)
		moved := filepath.Join(dir, SegmentName(8))
		require.NoError(t, os.Rename(filepath.Join(dir, names[2]), moved))
		requireRefused(t, dir, moved, 0)
	})
	t.Run("segment renamed into its predecessor", func(t *testing.T) {
		dir := copyDir(t, src)
		moved := filepath.Join(dir, SegmentName(6))
		require.NoError(t, os.Rename(filepath.Join(dir, names[2]), moved))
		requireRefused(t, dir, moved, 0)
	})
	t.Run("record repeated in the last segment", func(t *testing.T) {
		dir := copyDir(t, src)
		path := filepath.Join(dir, names[2])
		data := dirBytes(t, src)[names[2]]
		offsets := recordOffsets(data)
		dup := append(bytes.Clone(data), data[offsets[2]:]...)
		require.NoError(t, os.WriteFile(path, dup, 0o644))
		ce := requireRefused(t, dir, path, int64(len(data)))
		require.Equal(t, uint64(10), ce.Index)
	})
	t.Run("zeros in the middle of the last segment", func(t *testing.T) {
		dir := copyDir(t, src)
		path := filepath.Join(dir, names[2])
		data := dirBytes(t, src)[names[2]]
		offsets := recordOffsets(data)
		holed := bytes.Clone(data)
		copy(holed[offsets[1]:offsets[2]], make([]byte, offsets[2]-offsets[1]))
		require.NoError(t, os.WriteFile(path, holed, 0o644))
		requireRefused(t, dir, path, offsets[1])
	})
	t.Run("torn tail in an older segment", func(t *testing.T) {
		dir := copyDir(t, src)
		path := filepath.Join(dir, names[1])
		data := dirBytes(t, src)[names[1]]
		require.NoError(t, os.WriteFile(path, data[:len(data)-5], 0o644))
		requireRefused(t, dir, path, int64(lastRecordOffset(data)))
	})
}

func TestDamagedMarkerIsCorruption(t *testing.T) {
	src := writeLog(t, 9, "170")
	w := open(t, config(src, ParamSegmentBytes, "170"))
	require.NoError(t, w.TruncateFront(context.Background(), 5))
	require.NoError(t, w.Close())
	marker := dirBytes(t, src)[MarkerFileName]
	for _, damaged := range [][]byte{
		bytes.Replace(marker, []byte(`"first_index":5`), []byte(`"first_index":6`), 1),
		bytes.Replace(marker, []byte(`"first_index":5`), []byte(`"first_index":0`), 1),
		marker[:len(marker)/2],
		{},
		append(bytes.TrimSuffix(marker, []byte("}\n")), []byte(`,"x":1}`)...),
	} {
		dir := copyDir(t, src)
		path := filepath.Join(dir, MarkerFileName)
		require.NoError(t, os.WriteFile(path, damaged, 0o644))
		requireRefused(t, dir, path, 0)
	}
}

func TestForeignFilesAreRefusedByName(t *testing.T) {
	for _, name := range []string{
		"x.jsonl",
		"1.jsonl",
		"000000000000000000001.jsonl",
		"00000000000000000000.jsonl",
		"99999999999999999999.jsonl",
		"00000000000000000001.jsonl.bak",
		"00000000000000000001.jsonl.broken.1",
		"00000000000000000001",
		"MANIFEST-000001",
		"wal.db",
		"notes.txt",
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeLog(t, 3, "64MiB")
			path := filepath.Join(dir, name)
			require.NoError(t, os.WriteFile(path, []byte("x"), 0o644))
			before := dirBytes(t, dir)
			_, err := backend.Open(context.Background(), config(dir))
			var pe *fs.PathError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, path, pe.Path)
			require.ErrorIs(t, err, backend.ErrForeignFile)
			require.Equal(t, before, dirBytes(t, dir))
		})
	}
	t.Run("a subdirectory", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
		_, err := backend.Open(context.Background(), config(dir))
		var pe *fs.PathError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, filepath.Join(dir, "sub"), pe.Path)
	})
	t.Run("own files are accepted", func(t *testing.T) {
		dir := writeLog(t, 3, "64MiB")
		seg := filepath.Base(segmentPaths(t, dir)[0])
		for _, name := range []string{seg + backend.BrokenSuffix, seg + backend.BrokenSuffix + ".2", MarkerFileName + ".tmp"} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644))
		}
		w := open(t, config(dir))
		requireLog(t, w, 1, 3)
		require.NoError(t, w.Close())
	})
}

func TestInspectReportsWithoutChangingFiles(t *testing.T) {
	ctx := context.Background()
	src := writeLog(t, 9, "170") // segments 1-3, 4-6, 7-9

	r, err := Inspect(ctx, vfs.Default, src)
	require.NoError(t, err)
	require.Equal(t, Report{First: 1, Last: 9, Segments: segmentPaths(t, src)}, r)

	dir := copyDir(t, src)
	last := filepath.Join(dir, SegmentName(7))
	data := dirBytes(t, src)[SegmentName(7)]
	require.NoError(t, os.WriteFile(last, data[:len(data)-4], 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, MarkerFileName), encodeMarker(5), 0o644))
	before := dirBytes(t, dir)
	r, err = Inspect(ctx, vfs.Default, dir)
	require.NoError(t, err)
	require.Equal(t, uint64(5), r.First)
	require.Equal(t, uint64(8), r.Last)
	require.Equal(t, []string{filepath.Join(dir, SegmentName(1))}, r.Leftovers)
	require.Equal(t, []string{filepath.Join(dir, SegmentName(4)), last}, r.Segments)
	require.NotNil(t, r.TornTail)
	require.Equal(t, Torn, r.TornTail.Verdict)
	require.Equal(t, int64(lastRecordOffset(data)), r.TornTail.Good)
	require.Equal(t, before, dirBytes(t, dir), "Inspect only reads")

	// Open does what Inspect reported.
	w := open(t, config(dir, ParamSegmentBytes, "170"))
	first, lastIndex, err := w.Bounds(ctx)
	require.NoError(t, err)
	require.Equal(t, [2]uint64{r.First, r.Last}, [2]uint64{first, lastIndex})
	require.NoError(t, w.Close())
	require.NoFileExists(t, r.Leftovers[0])

	require.NoError(t, os.Remove(filepath.Join(dir, SegmentName(4))))
	_, err = Inspect(ctx, vfs.Default, dir)
	requireCorrupt(t, err, last, 0)
}

func TestTornOnlyRecordOfTheLastSegment(t *testing.T) {
	src := writeLog(t, 4, "170") // segments 1-3 and 4
	seg := filepath.Join(src, SegmentName(4))
	data := dirBytes(t, src)[SegmentName(4)]
	require.NoError(t, os.WriteFile(seg, data[:len(data)/2], 0o644))

	w := open(t, config(src, ParamSegmentBytes, "170"))
	requireLog(t, w, 1, 3)
	info, err := os.Stat(seg)
	require.NoError(t, err)
	require.Zero(t, info.Size(), "the segment is cut to nothing and kept")
	appendRange(t, w, 4, 5)
	require.NoError(t, w.Close())
	w = open(t, config(src, ParamSegmentBytes, "170"))
	requireLog(t, w, 1, 5)
	require.NoError(t, w.Close())
	require.Len(t, segmentPaths(t, src), 2, "record 4 went into the kept segment")
}

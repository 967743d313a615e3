package jsonl

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/stretchr/testify/require"
)

// testdata/v1log is a log written before lines carried a durability claim:
// records 1 to 12, payloadV1, in segments 1-6 and 7-12.
const v1Log = "testdata/v1log"

func payloadV1(i uint64) []byte {
	if i%3 == 0 {
		return []byte{0, byte(i), '\n', 0xff}
	}
	return fmt.Appendf(nil, `{"op":"assert","seq":%d}`, i)
}

func requireV1Records(t *testing.T, w backend.WAL, last uint64) {
	t.Helper()
	got := replayAll(t, w, 1)
	require.Len(t, got, int(last))
	for i, r := range got {
		require.EqualValues(t, i+1, r.index)
		if r.index <= 12 {
			require.Equal(t, payloadV1(r.index), r.data)
		}
	}
}

// A log of the old format opens, replays byte for byte and takes new
// records, with preallocation on and off.
func TestOldFormatLogOpens(t *testing.T) {
	for _, prealloc := range []string{"true", "false"} {
		t.Run("preallocate="+prealloc, func(t *testing.T) {
			dir := copyDir(t, v1Log)
			w := open(t, config(dir, ParamSegmentBytes, "300", ParamPreallocate, prealloc))
			requireV1Records(t, w, 12)
			appendRange(t, w, 13, 14)
			require.NoError(t, w.Close())
			w = open(t, config(dir, ParamSegmentBytes, "300", ParamPreallocate, prealloc))
			requireV1Records(t, w, 14)
			require.Equal(t, []record{{13, payload(13)}, {14, payload(14)}}, replayAll(t, w, 13))
			require.NoError(t, w.Close())
		})
	}
}

// Damage in an old-format log is judged by the old rule: a valid record
// after it, which claims nothing, makes it corruption even where a lost page
// would explain it; damage with nothing after it is a torn tail.
func TestOldFormatDamageIsJudgedConservatively(t *testing.T) {
	seg := filepath.Join(v1Log, SegmentName(7))
	data, err := os.ReadFile(seg)
	require.NoError(t, err)
	offs := recordOffsets(data)

	dir := copyDir(t, v1Log)
	hole := bytes.Clone(data)
	clear(hole[offs[1] : offs[2]+5]) // record 8 and the start of 9 lost to a page of zeros
	require.NoError(t, os.WriteFile(filepath.Join(dir, SegmentName(7)), hole, 0o644))
	_, err = backend.Open(t.Context(), config(dir))
	require.ErrorIs(t, err, backend.ErrCorrupt)
	require.ErrorContains(t, err, "carries no durability claim")
	var ce *backend.CorruptError
	require.ErrorAs(t, err, &ce)
	require.EqualValues(t, 8, ce.Index)
	require.Equal(t, offs[1], ce.Offset)

	dir = copyDir(t, v1Log)
	torn := bytes.Clone(data[:offs[5]+7]) // record 12 half written
	require.NoError(t, os.WriteFile(filepath.Join(dir, SegmentName(7)), torn, 0o644))
	w := open(t, config(dir))
	requireV1Records(t, w, 11)
	require.NoError(t, w.Close())
	require.FileExists(t, filepath.Join(dir, SegmentName(7)+backend.BrokenSuffix))
}

// The same hole in a log of the new format, before records that claim only
// what was durable when they were written, is a torn write: Open cuts it
// off and keeps a copy; with a later record claiming the hole durable, it is
// corruption naming that record.
func TestHoleBeforeRecordsIsJudgedByTheirClaims(t *testing.T) {
	var data []byte
	var offs []int64
	for i := uint64(1); i <= 6; i++ {
		durable := uint64(2) // records 3 to 6 were written after the fsync of 2
		if i <= 2 {
			durable = i - 1
		}
		offs = append(offs, int64(len(data)))
		data = AppendLine(data, i, durable, payload(i))
	}
	for _, tc := range []struct {
		name  string
		bytes []byte
	}{
		{"claims below the hole", data},
		{"a claim covering the hole", append(bytes.Clone(data), AppendLine(nil, 7, 4, payload(7))...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b := bytes.Clone(tc.bytes)
			clear(b[offs[2]:offs[4]]) // records 3 and 4 lost
			b = append(b, make([]byte, 500)...)
			path := filepath.Join(dir, SegmentName(1))
			require.NoError(t, os.WriteFile(path, b, 0o644))
			obs := &repairs{}
			cfg := config(dir)
			cfg.Observer = obs
			w, err := backend.Open(t.Context(), cfg)
			if len(tc.bytes) == len(data) {
				require.NoError(t, err)
				requireLog(t, w, 1, 2)
				require.Equal(t, []string{path}, obs.files)
				appendRange(t, w, 3, 3)
				require.NoError(t, w.Close())
				return
			}
			require.ErrorIs(t, err, backend.ErrCorrupt)
			require.ErrorContains(t, err, "record 7 at offset")
			require.ErrorContains(t, err, "claims the log durable through index 4")
			got, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			require.Equal(t, b, got, "a refused Open changes nothing")
		})
	}
}

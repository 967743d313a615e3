package tidwall_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	tw "github.com/tidwall/wal"

	"github.com/nautilus-go/nautilus/backend"
)

// frameOffsets returns the offset of every frame in a segment file, and the
// file's length last.
func frameOffsets(t testing.TB, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var offs []int64
	for off := 0; off < len(data); {
		offs = append(offs, int64(off))
		size, k := binary.Uvarint(data[off:])
		require.Positive(t, k, "frame at %d", off)
		off += k + int(size)
	}
	return append(offs, int64(len(data)))
}

// damageBase writes a WAL of three segments whose last one holds a few
// records, the last of them bigRecord, and returns its directory and last index.
func damageBase(t testing.TB) (string, uint64) {
	t.Helper()
	dir := t.TempDir()
	w := mustOpen(t, dir, small("1000"))
	for len(segments(t, dir)) < 3 || len(frameOffsets(t, tail(t, dir))) < 4 {
		appendRecords(t, w, 1, 1)
	}
	last, err := w.Append(ctx, bigRecord)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.Len(t, segments(t, dir), 3, "bigRecord fits the last segment")
	return dir, last
}

// bigRecord is the last record of damageBase: its 300 bytes take a two-byte
// length prefix.
var bigRecord = func() []byte {
	b := make([]byte, 300)
	for i := range b {
		b[i] = byte(i*31 + 7)
	}
	return b
}()

// requireBase checks a damageBase WAL holds records 1..last-1 and bigRecord.
func requireBase(t testing.TB, w backend.WAL, last uint64) {
	t.Helper()
	_, recs, err := replayAll(w)
	require.NoError(t, err)
	require.Len(t, recs, int(last))
	for i, r := range recs[:last-1] {
		require.Equal(t, record(uint64(i+1)), r)
	}
	require.Equal(t, bigRecord, recs[last-1])
}

func tail(t testing.TB, dir string) string {
	segs := segments(t, dir)
	return segs[len(segs)-1]
}

func tryOpenObserved(dir string) (backend.WAL, *repairs, error) {
	rep := &repairs{}
	o := small("1000")
	o.obs = rep
	w, err := tryOpen(dir, o)
	return w, rep, err
}

// requireRefused checks Open fails with ErrCorrupt naming file at offset and
// leaves every file as it was.
func requireRefused(t testing.TB, dir, file string, offset int64) *backend.CorruptError {
	t.Helper()
	before := snapshot(t, dir)
	_, rep, err := tryOpenObserved(dir)
	require.ErrorIs(t, err, backend.ErrCorrupt)
	var ce *backend.CorruptError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, file, ce.File, "file named")
	require.Equal(t, offset, ce.Offset, "offset named: %v", err)
	require.Zero(t, rep.count(), "no repair")
	require.Equal(t, before, snapshot(t, dir), "files unchanged")
	return ce
}

// A torn write cut at any byte of the last record is repaired: the record is
// dropped, a copy is kept, earlier records are intact and the next Append
// gets the dropped record's index, also after a reopen.
func TestTornTailEveryOffset(t *testing.T) {
	base, last := damageBase(t)
	offs := frameOffsets(t, tail(t, base))
	start, end := offs[len(offs)-2], offs[len(offs)-1]
	for cut := start; cut < end; cut++ {
		dir := copyDir(t, base)
		path := tail(t, dir)
		whole, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, os.Truncate(path, cut))
		if cut == start+1 {
			_, err := tw.Open(segDir(copyDir(t, dir)), &tw.Options{AllowEmpty: true})
			require.ErrorIs(t, err, tw.ErrCorrupt, "the bare library refuses a torn tail")
		}

		w, rep, err := tryOpenObserved(dir)
		require.NoError(t, err, "cut at %d", cut)
		if cut > start {
			require.Equal(t, []int64{cut - start}, rep.bytes, "cut at %d: repair reported", cut)
			require.Equal(t, []string{path}, rep.files)
			kept, err := os.ReadFile(path + backend.BrokenSuffix)
			require.NoError(t, err)
			require.Equal(t, whole[:cut], kept, "the copy holds the file as found")
		} else {
			require.Zero(t, rep.count(), "a cut between records is no damage")
		}
		size, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, start, size.Size(), "cut back to the last good record")
		requireRecords(t, w, 1, last-1)
		got, err := w.Append(ctx, record(last))
		require.NoError(t, err)
		require.Equal(t, last, got)
		require.NoError(t, w.Close())

		w = mustOpen(t, dir, small("1000"))
		requireRecords(t, w, 1, last)
		require.NoError(t, w.Close())
	}
}

// Zero bytes after the last record (a file extended but never written) decode
// as phantom empty entries in the bare library; the adapter cuts them off.
func TestZeroFilledTail(t *testing.T) {
	base, last := damageBase(t)
	for _, tc := range []struct {
		name string
		keep func(offs []int64) int64 // bytes of the last segment kept before the zeros
	}{
		{"after the last record", func(offs []int64) int64 { return offs[len(offs)-1] }},
		{"over the last record", func(offs []int64) int64 { return offs[len(offs)-2] + 5 }},
		{"over the last two records", func(offs []int64) int64 { return offs[len(offs)-3] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, base)
			path := tail(t, dir)
			offs := frameOffsets(t, path)
			keep := tc.keep(offs)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			data = append(data[:keep], make([]byte, 4096)...)
			require.NoError(t, os.WriteFile(path, data, 0o644))

			bare := copyDir(t, dir)
			lib, err := tw.Open(segDir(bare), &tw.Options{AllowEmpty: true})
			if err == nil {
				phantom, err := lib.LastIndex()
				require.NoError(t, err)
				require.Greater(t, phantom, last, "the bare library takes zeros for entries")
				require.NoError(t, lib.Close())
			}

			w, rep, err := tryOpenObserved(dir)
			require.NoError(t, err)
			require.Equal(t, 1, rep.count())
			lost := uint64(0) // records the zeros overwrote, wholly or partly
			for _, end := range offs[1:] {
				if end > keep {
					lost++
				}
			}
			_, got, err := w.Bounds(ctx)
			require.NoError(t, err)
			require.Equal(t, last-lost, got, "no phantom entries")
			if got == last {
				requireBase(t, w, last)
			} else {
				requireRecords(t, w, 1, got)
			}
			next, err := w.Append(ctx, record(got+1))
			require.NoError(t, err)
			require.Equal(t, got+1, next)
			require.NoError(t, w.Close())
		})
	}
}

// Random bytes after the last record are a torn tail too.
func TestGarbageTail(t *testing.T) {
	base, last := damageBase(t)
	for seed := range uint64(8) {
		dir := copyDir(t, base)
		path := tail(t, dir)
		r := rand.New(rand.NewPCG(seed, 7))
		garbage := make([]byte, 1+r.IntN(3000))
		for i := range garbage {
			garbage[i] = byte(r.UintN(256))
		}
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.Write(garbage)
		require.NoError(t, err)
		require.NoError(t, f.Close())

		w, rep, err := tryOpenObserved(dir)
		require.NoError(t, err, "seed %d", seed)
		require.Equal(t, []int64{int64(len(garbage))}, rep.bytes, "seed %d", seed)
		requireBase(t, w, last)
		require.NoError(t, w.Close())
	}
}

// A bad record in the last segment with a valid one after it is corruption,
// wherever in the record the damage is.
func TestBadRecordBeforeValidIsCorrupt(t *testing.T) {
	base, _ := damageBase(t)
	offs := frameOffsets(t, tail(t, base))
	rec := offs[len(offs)-3] // the last record but one
	for pos := rec; pos < offs[len(offs)-2]; pos++ {
		dir := copyDir(t, base)
		path := tail(t, dir)
		flipByte(t, path, pos, 0x10)
		requireRefused(t, dir, path, rec)
	}

	// Zeros between records, as a lost page would leave.
	dir := copyDir(t, base)
	path := tail(t, dir)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data = append(data[:rec:rec], append(make([]byte, 64), data[rec:]...)...)
	require.NoError(t, os.WriteFile(path, data, 0o644))
	requireRefused(t, dir, path, rec)
}

// Damage in a segment older than the last is corruption even when it looks
// like a torn tail, and nothing is modified.
func TestOlderSegmentDamageIsCorrupt(t *testing.T) {
	base, _ := damageBase(t)
	for _, tc := range []struct {
		name   string
		damage func(path string, offs []int64) int64 // returns the offset Open must name
	}{
		{"torn", func(path string, offs []int64) int64 {
			require.NoError(t, os.Truncate(path, offs[len(offs)-1]-3))
			return offs[len(offs)-2]
		}},
		{"zero tail", func(path string, offs []int64) int64 {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.Write(make([]byte, 100))
			require.NoError(t, err)
			require.NoError(t, f.Close())
			return offs[len(offs)-1]
		}},
		{"bit flip in the last record", func(path string, offs []int64) int64 {
			flipByte(t, path, offs[len(offs)-2]+20, 0x01)
			return offs[len(offs)-2]
		}},
		{"bit flip in the first record", func(path string, offs []int64) int64 {
			flipByte(t, path, offs[0]+20, 0x01)
			return offs[0]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, base)
			path := segments(t, dir)[1]
			off := tc.damage(path, frameOffsets(t, path))
			requireRefused(t, dir, path, off)
		})
	}
}

// Open reads a sealed segment only at its ends, so a bad record between them
// is left to Replay, which names it and delivers nothing from it on.
func TestSealedSegmentMiddleDamageFoundByReplay(t *testing.T) {
	dir, _ := damageBase(t)
	path := segments(t, dir)[1]
	offs := frameOffsets(t, path)
	require.Greater(t, len(offs), 3, "a record between the ends")
	flipByte(t, path, offs[1]+20, 0x01)
	w := mustOpen(t, dir, small("1000"))
	defer w.Close()
	bad := segIndex(t, path) + 1
	err := w.Replay(ctx, 1, func(index uint64, data []byte) error {
		require.Less(t, index, bad)
		require.Equal(t, record(index), data)
		return nil
	})
	require.ErrorIs(t, err, backend.ErrCorrupt)
	var ce *backend.CorruptError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, [3]any{path, offs[1], bad}, [3]any{ce.File, ce.Offset, ce.Index})
}

// A sealed segment holding records past where the next one starts would let
// the library serve either copy of them; Open refuses it, naming the next
// segment.
func TestOverlappingSegmentIsCorrupt(t *testing.T) {
	dir, _ := damageBase(t)
	segs := segments(t, dir)
	next, err := os.ReadFile(segs[2])
	require.NoError(t, err)
	offs := frameOffsets(t, segs[2])
	f, err := os.OpenFile(segs[1], os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write(next[:offs[1]])
	require.NoError(t, err)
	require.NoError(t, f.Close())
	ce := requireRefused(t, dir, segs[2], 0)
	require.Equal(t, segIndex(t, segs[2])+1, ce.Index, "the index after the overlong segment")
}

// A deleted middle segment leaves an index gap: corruption naming the segment
// after the gap. The bare library would panic reading across it.
func TestDeletedMiddleSegmentIsCorrupt(t *testing.T) {
	dir, _ := damageBase(t)
	segs := segments(t, dir)
	require.NoError(t, os.Remove(segs[1]))
	ce := requireRefused(t, dir, segs[2], 0)
	require.Equal(t, segIndex(t, segs[1]), ce.Index, "the first missing index")
}

// An interrupted TruncateFront leaves a .START file; Open finishes it.
func TestInterruptedTruncateFrontFinished(t *testing.T) {
	dir, last := damageBase(t)
	segs := segments(t, dir)
	path := segs[1]
	offs := frameOffsets(t, path)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	before := segIndex(t, path) + 2
	start := filepath.Join(segDir(dir), fmt.Sprintf("%020d.START", before))
	require.NoError(t, os.WriteFile(start, data[offs[2]:], 0o644))

	w := mustOpen(t, dir, small("1000"))
	first, got, err := w.Bounds(ctx)
	require.NoError(t, err)
	require.Equal(t, [2]uint64{before, last}, [2]uint64{first, got})
	_, recs, err := replayAll(w)
	require.NoError(t, err)
	require.Equal(t, record(before), recs[0])
	require.NoError(t, w.Close())
	require.NoFileExists(t, start)
	require.NoFileExists(t, segs[0])
}

// The library would obey a truncate-back file by deleting the segments after
// it; this backend never writes one, so it refuses.
func TestTruncateBackFileRefused(t *testing.T) {
	dir, _ := damageBase(t)
	end := filepath.Join(segDir(dir), fmt.Sprintf("%020d.END", segIndex(t, segments(t, dir)[1])))
	require.NoError(t, os.WriteFile(end, nil, 0o644))
	requireRefused(t, dir, end, -1)
}

// Damage that appears after Open (Open checked the files) is found by Replay,
// named by file and offset, and no wrong bytes are delivered.
func TestReplayFindsDamageAfterOpen(t *testing.T) {
	base, _ := damageBase(t)
	for _, tc := range []struct {
		name    string
		damage  func(path string, offs []int64) int64
		library bool // the library itself fails on the file
	}{
		{"bit flip", func(path string, offs []int64) int64 {
			flipByte(t, path, offs[2]+9, 0x80)
			return offs[2]
		}, false},
		{"cut inside a record", func(path string, offs []int64) int64 {
			require.NoError(t, os.Truncate(path, offs[2]+4))
			return -1
		}, true},
		{"cut between records", func(path string, offs []int64) int64 {
			require.NoError(t, os.Truncate(path, offs[2]))
			return -1
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, base)
			w := mustOpen(t, dir, small("1000"))
			defer w.Close()
			path := segments(t, dir)[0]
			off := tc.damage(path, frameOffsets(t, path))
			delivered := uint64(0)
			err := w.Replay(ctx, 1, func(index uint64, data []byte) error {
				require.Equal(t, record(index), data)
				delivered = index
				return nil
			})
			require.ErrorIs(t, err, backend.ErrCorrupt)
			var ce *backend.CorruptError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, path, ce.File)
			require.Equal(t, off, ce.Offset)
			if tc.library {
				require.ErrorIs(t, err, tw.ErrCorrupt, "the library's error is reachable")
			}
			require.Less(t, delivered, uint64(3))
		})
	}
}

// A bit flipped anywhere in any file of the WAL gives ErrCorrupt at Open or
// Replay, or the records byte for byte; it may cost the last record of the
// last segment (a torn tail) but never returns different data or panics.
func TestBitFlipAnywhere(t *testing.T) {
	base, last := damageBase(t)
	var files []string
	var sizes []int64
	for name, data := range snapshot(t, base) {
		if len(data) > 0 {
			files = append(files, name)
			sizes = append(sizes, int64(len(data)))
		}
	}
	require.NotEmpty(t, files)
	want := make([][]byte, last)
	for i := range want[:last-1] {
		want[i] = record(uint64(i + 1))
	}
	want[last-1] = bigRecord

	r := rand.New(rand.NewPCG(1, 2))
	outcomes := map[string]int{}
	for trial := range 400 {
		i := r.IntN(len(files))
		pos, bit := r.Int64N(sizes[i]), byte(1)<<r.UintN(8)
		dir := copyDir(t, base)
		path := filepath.Join(dir, files[i])
		flipByte(t, path, pos, bit)
		where := fmt.Sprintf("trial %d: %s byte %d bit %02x", trial, files[i], pos, bit)

		w, rep, err := tryOpenObserved(dir)
		if err != nil {
			require.ErrorIs(t, err, backend.ErrCorrupt, where)
			outcomes["open refused"]++
			continue
		}
		first, recs, err := replayAll(w)
		require.NoError(t, w.Close())
		for j, got := range recs {
			require.Equal(t, want[first-1+uint64(j)], got, where)
		}
		switch {
		case err != nil:
			require.ErrorIs(t, err, backend.ErrCorrupt, where)
			outcomes["replay refused"]++
		case len(recs) == int(last):
			require.Zero(t, rep.count(), where)
			outcomes["identical"]++
		default:
			require.Equal(t, 1, rep.count(), "%s: records dropped only by a tail repair", where)
			require.Equal(t, uint64(1), first, where)
			require.Equal(t, int(last-1), len(recs), where)
			outcomes["last record cut as a torn tail"]++
		}
	}
	t.Logf("outcomes: %v", outcomes)
	require.Positive(t, outcomes["open refused"], "the sample reached older records")
}

func flipByte(t testing.TB, path string, pos int64, mask byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[pos] ^= mask
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

func segIndex(t testing.TB, path string) uint64 {
	t.Helper()
	var index uint64
	_, err := fmt.Sscanf(filepath.Base(path), "%020d", &index)
	require.NoError(t, err)
	return index
}

// Open checks a sealed segment's first and last records even when they are
// larger than the bytes it reads at each end first.
func TestSealedSegmentLargeEndRecords(t *testing.T) {
	big := make([]byte, 200<<10)
	for i := range big {
		big[i] = byte(i * 13)
	}
	base := t.TempDir()
	w := mustOpen(t, base, small("1000"))
	for _, rec := range [][]byte{[]byte("a"), big, big, []byte("b")} {
		_, err := w.Append(ctx, rec)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	segs := segments(t, base)
	require.Len(t, segs, 3, "[a big] [big] [b]")

	w = mustOpen(t, copyDir(t, base), small("1000"))
	_, recs, err := replayAll(w)
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("a"), big, big, []byte("b")}, recs)
	require.NoError(t, w.Close())

	for i := range 2 {
		dir := copyDir(t, base)
		path := segments(t, dir)[i]
		offs := frameOffsets(t, path)
		bad := offs[len(offs)-2] // the big record ending the segment
		flipByte(t, path, bad+100<<10, 0x10)
		ce := requireRefused(t, dir, path, bad)
		require.Equal(t, uint64(2+i), ce.Index)
	}
}

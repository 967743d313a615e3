package tidwall_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/tidwall"
)

// limitFileSize lowers this process's file size limit (RLIMIT_FSIZE) to n
// bytes until the returned function restores it. A write past the limit is
// cut short and then fails with EFBIG (the Go runtime ignores SIGXFSZ), a real
// half-written record on disk. The limit is per process, so the test using it
// must not run in parallel with others.
func limitFileSize(t *testing.T, n int64) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old))
	if old.Cur != ^uint64(0) && old.Cur < uint64(n)+1<<20 {
		t.Skipf("RLIMIT_FSIZE is already %d bytes, too low to lower for this test", old.Cur)
	}
	lim := old
	lim.Cur = uint64(n)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim))
	restored := false
	restore = func() {
		if !restored {
			restored = true
			require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old))
		}
	}
	t.Cleanup(restore)
	return restore
}

// A write that fails half way leaves the library's memory inconsistent with
// its file; the WAL refuses every later write (fail-stop), keeps serving the
// acknowledged records, and a reopen repairs the half-written record as a
// torn tail and goes on at the right index.
func TestWriteErrorFailStopAndReopen(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			o := opts{sync: mode}
			w := mustOpen(t, dir, o)
			last := appendRecords(t, w, 10, 2)
			path := tail(t, dir)
			fi, err := os.Stat(path)
			require.NoError(t, err)
			size := fi.Size()

			restore := limitFileSize(t, size+5)
			_, err = w.Append(ctx, record(last+1))
			restore()
			require.ErrorIs(t, err, syscall.EFBIG)
			fi, err = os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, size+5, fi.Size(), "a half-written record is on disk")

			_, err = w.Append(ctx, record(last+1))
			require.ErrorIs(t, err, syscall.EFBIG, "fail-stop: later writes get the first error")
			require.ErrorIs(t, w.Sync(ctx), syscall.EFBIG)
			require.ErrorIs(t, w.TruncateFront(ctx, 2), syscall.EFBIG)
			requireRecords(t, w, 1, last)
			require.NoError(t, w.Close())

			rep := &repairs{}
			o.obs = rep
			w = mustOpen(t, dir, o)
			require.Equal(t, []int64{5}, rep.bytes, "the half-written record is cut off")
			requireRecords(t, w, 1, last)
			got, err := w.Append(ctx, record(last+1))
			require.NoError(t, err)
			require.Equal(t, last+1, got)
			require.NoError(t, w.Close())

			w = mustOpen(t, dir, opts{sync: mode})
			defer w.Close()
			requireRecords(t, w, 1, last+1)
		})
	}
}

// A segment the library cannot create fails the Append that needed it, and a
// reopen finds every acknowledged record. A directory in the way of the next
// segment's name makes the create fail with EISDIR, even for root.
func TestRotationErrorFailStopAndReopen(t *testing.T) {
	dir := t.TempDir()
	o := small("1") // every Append ends by starting a new segment
	w := mustOpen(t, dir, o)
	last := appendRecords(t, w, 5, 1)
	blocker := filepath.Join(segDir(dir), fmt.Sprintf("%020d", last+2))
	require.NoError(t, os.Mkdir(blocker, 0o755))

	_, err := w.Append(ctx, record(last+1))
	require.ErrorIs(t, err, syscall.EISDIR)
	_, err = w.Append(ctx, record(last+1))
	require.ErrorIs(t, err, syscall.EISDIR, "fail-stop")
	requireRecords(t, w, 1, last)
	// The library closed the old segment before failing to create the next,
	// so its Close reports that file closed; the lock is released anyway.
	_ = w.Close()
	require.NoError(t, os.Remove(blocker))

	w = mustOpen(t, dir, o)
	defer w.Close()
	_, got, err := w.Bounds(ctx)
	require.NoError(t, err)
	// The failed record reached the old segment (fsync'd) before the new one
	// could not be created: written, never acknowledged, so either is right.
	require.Contains(t, []uint64{last, last + 1}, got, "every acknowledged record survives")
	requireRecords(t, w, 1, got)
	next, err := w.Append(ctx, record(got+1))
	require.NoError(t, err)
	require.Equal(t, got+1, next)
}

// After a failed rotation the library has dropped the last segment's records
// from its memory (it evicts the segment it failed to close out). Replay then
// either delivers the right records or says the earlier write failure is to
// blame; it never reports the files as corrupt, and a reopen reads them all.
func TestReplayAfterFailedRotation(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, small("600"))
	last := appendRecords(t, w, 30, 1)
	require.NoError(t, w.Close())
	require.Greater(t, len(segments(t, dir)), 1)

	// A smaller segment_size makes the next Append start a segment first.
	o := opts{params: map[string]string{tidwall.ParamSegmentSize: "100", tidwall.ParamSegmentCacheSize: "1"}}
	w = mustOpen(t, dir, o)
	blocker := filepath.Join(segDir(dir), fmt.Sprintf("%020d", last+1))
	require.NoError(t, os.Mkdir(blocker, 0o755))
	_, err := w.Append(ctx, record(last+1))
	require.ErrorIs(t, err, syscall.EISDIR)

	err = w.Replay(ctx, 1, func(index uint64, data []byte) error {
		require.Equal(t, record(index), data, "never wrong bytes")
		return nil
	})
	require.Error(t, err, "the library lost the last segment's entries")
	require.NotErrorIs(t, err, backend.ErrCorrupt, "the files are sound: %v", err)
	require.ErrorIs(t, err, syscall.EISDIR, "the write failure is named")
	_ = w.Close()

	require.NoError(t, os.Remove(blocker))
	w = mustOpen(t, dir, o)
	defer w.Close()
	requireRecords(t, w, 1, last)
}

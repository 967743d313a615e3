package tidwall_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	tw "github.com/tidwall/wal"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/tidwall"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

func TestRegistered(t *testing.T) {
	require.Contains(t, backend.Drivers(), "tidwall")
}

func TestReopenKeepsRecords(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			o := opts{sync: mode}
			w := mustOpen(t, dir, o)
			requireRecords(t, w, 1, 0)
			last := appendRecords(t, w, 25, 4)
			requireRecords(t, w, 1, last)
			require.NoError(t, w.Close())

			w = mustOpen(t, dir, o)
			requireRecords(t, w, 1, last)
			last = appendRecords(t, w, 5, 1)
			require.NoError(t, w.Close())

			w = mustOpen(t, dir, o)
			defer w.Close()
			requireRecords(t, w, 1, last)
		})
	}
}

// Every segment the library creates is in a directory fsync before the
// Append that created it returns (SyncAlways) or before Sync returns
// (SyncNone), at segment sizes that rotate inside batches and on every record.
func TestRotationManySegments(t *testing.T) {
	batches := []int{1, 3, 1, 17, 2, 40, 1, 5, 9, 1, 1, 30}
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		for _, size := range []string{"1", "64", "300", "4KiB"} {
			t.Run(mode.String()+"/"+size, func(t *testing.T) {
				dir := t.TempDir()
				fs := newSyncedFS()
				o := small(size)
				o.sync, o.fs = mode, fs
				w := mustOpen(t, dir, o)
				var last uint64
				for _, n := range batches {
					last = appendRecords(t, w, n, n)
					if mode == backend.SyncAlways {
						fs.requireDurableListing(t, segDir(dir))
					}
				}
				require.NoError(t, w.Sync(ctx))
				fs.requireDurableListing(t, segDir(dir))
				if size != "4KiB" {
					require.Greater(t, len(segments(t, dir)), 10, "segments")
				}
				requireRecords(t, w, 1, last)
				require.NoError(t, w.Close())

				w = mustOpen(t, dir, o)
				defer w.Close()
				requireRecords(t, w, 1, last)
				for from := uint64(1); from <= last+1; from += 7 {
					next := from
					require.NoError(t, w.Replay(ctx, from, func(index uint64, data []byte) error {
						require.Equal(t, next, index)
						require.Equal(t, record(index), data)
						next++
						return nil
					}))
					require.Equal(t, last+1, next)
				}
			})
		}
	}
}

// With SyncNone, Close fsyncs the directory when Appends created segments.
func TestCloseSyncsDirectoryAfterRotation(t *testing.T) {
	dir := t.TempDir()
	fs := newSyncedFS()
	o := small("100")
	o.sync, o.fs = backend.SyncNone, fs
	w := mustOpen(t, dir, o)
	appendRecords(t, w, 20, 2)
	require.NoError(t, w.Close())
	require.Greater(t, len(segments(t, dir)), 2)
	fs.requireDurableListing(t, segDir(dir))
}

// A segment file longer than segment_size (written with a larger one) makes
// the next Append start a new segment, which the adapter fsyncs too.
func TestRotationAfterSegmentSizeShrinks(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, small("4KiB"))
	require.EqualValues(t, 20, appendRecords(t, w, 20, 20))
	require.NoError(t, w.Close())
	require.Len(t, segments(t, dir), 1)

	fs := newSyncedFS()
	o := small("100")
	o.fs = fs
	w = mustOpen(t, dir, o)
	defer w.Close()
	last := appendRecords(t, w, 1, 1)
	require.Len(t, segments(t, dir), 2)
	fs.requireDurableListing(t, segDir(dir))
	requireRecords(t, w, 1, last)
}

func TestTruncateFront(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			fs := newSyncedFS()
			o := small("300")
			o.sync, o.fs = mode, fs
			w := mustOpen(t, dir, o)
			last := appendRecords(t, w, 120, 7)
			require.NoError(t, w.Sync(ctx))
			for _, before := range []uint64{1, 2, 30, 31, 90, last - 1, last} {
				require.NoError(t, w.TruncateFront(ctx, before))
				fs.requireDurableListing(t, segDir(dir))
				requireRecords(t, w, before, last)
			}
			// The last segment was rewritten; rotation must still be predicted.
			for range 10 {
				last = appendRecords(t, w, 5, 5)
				require.NoError(t, w.Sync(ctx))
				fs.requireDurableListing(t, segDir(dir))
			}
			first, _, err := w.Bounds(ctx)
			require.NoError(t, err)
			require.NoError(t, w.Close())

			w = mustOpen(t, dir, o)
			requireRecords(t, w, first, last)
			require.NoError(t, w.TruncateFront(ctx, last-3))
			require.NoError(t, w.Close())
			w = mustOpen(t, dir, o)
			defer w.Close()
			requireRecords(t, w, last-3, last)
		})
	}
}

// TruncateFront(last+1) empties the log; indexes go on at last+1 after a
// reopen, however many times the log is emptied.
func TestTruncateEverythingReopen(t *testing.T) {
	dir := t.TempDir()
	fs := newSyncedFS()
	o := small("200")
	o.fs = fs
	w := mustOpen(t, dir, o)
	last := appendRecords(t, w, 40, 3)
	for round := range 3 {
		require.NoError(t, w.TruncateFront(ctx, last+1))
		fs.requireDurableListing(t, segDir(dir))
		requireRecords(t, w, last+1, last)
		require.NoError(t, w.Close())

		w = mustOpen(t, dir, o)
		requireRecords(t, w, last+1, last)
		got, err := w.Append(ctx, record(last+1))
		require.NoError(t, err)
		require.Equal(t, last+1, got, "round %d", round)
		last = appendRecords(t, w, 10*round, 4)
		requireRecords(t, w, got, last)
	}
	require.NoError(t, w.TruncateFront(ctx, last+1))
	require.NoError(t, w.Close())
	w = mustOpen(t, dir, o)
	defer w.Close()
	requireRecords(t, w, last+1, last)
}

func TestParams(t *testing.T) {
	for _, tc := range []struct {
		name, key, value string
		ok               bool
	}{
		{"unknown key", "segment_bytes", "1024", false},
		{"segment_size zero", tidwall.ParamSegmentSize, "0", false},
		{"segment_size too large", tidwall.ParamSegmentSize, "2GiB", false},
		{"segment_size not a size", tidwall.ParamSegmentSize, "big", false},
		{"segment_cache_size zero", tidwall.ParamSegmentCacheSize, "0", false},
		{"segment_cache_size not a number", tidwall.ParamSegmentCacheSize, "two", false},
		{"segment_size", tidwall.ParamSegmentSize, "1MiB", true},
		{"segment_cache_size", tidwall.ParamSegmentCacheSize, "8", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := tryOpen(t.TempDir(), opts{params: map[string]string{tc.key: tc.value}})
			if tc.ok {
				require.NoError(t, err)
				require.NoError(t, w.Close())
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.key, "the error names the key")
		})
	}
}

// rootedFS shows the files of another directory tree, as an in-memory FS
// would: the library, writing through package os, would not see them.
type rootedFS struct {
	vfs.FS
	root string
}

func (f rootedFS) at(name string) string { return filepath.Join(f.root, name) }
func (f rootedFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	return f.FS.OpenFile(f.at(name), flag, perm)
}
func (f rootedFS) Remove(name string) error               { return f.FS.Remove(f.at(name)) }
func (f rootedFS) Rename(a, b string) error               { return f.FS.Rename(f.at(a), f.at(b)) }
func (f rootedFS) MkdirAll(n string, p os.FileMode) error { return f.FS.MkdirAll(f.at(n), p) }
func (f rootedFS) Stat(name string) (os.FileInfo, error)  { return f.FS.Stat(f.at(name)) }
func (f rootedFS) ReadDir(name string) ([]string, error)  { return f.FS.ReadDir(f.at(name)) }
func (f rootedFS) SyncDir(name string) error              { return f.FS.SyncDir(f.at(name)) }
func (f rootedFS) Lock(name string) (io.Closer, error)    { return f.FS.Lock(f.at(name)) }

func TestFSMustShowOperatingSystemFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	fs := rootedFS{FS: vfs.Default, root: t.TempDir()}
	_, err := backend.OpenDriver(ctx, backend.DriverFunc(tidwall.Open),
		backend.Config{Backend: "tidwall", Dir: dir, FS: fs})
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Contains(t, err.Error(), "Config.FS")
	_, err = os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist, "nothing written where the library would look")
}

// The raw driver maps the library's errors to the backend sentinels and keeps
// the library's error reachable.
func TestLibraryErrorsMapped(t *testing.T) {
	dir := t.TempDir()
	raw, err := tidwall.Open(ctx, backend.Config{Backend: "tidwall", Dir: dir})
	require.NoError(t, err)
	for i := uint64(1); i <= 10; i++ {
		_, err := raw.Append(ctx, record(i))
		require.NoError(t, err)
	}
	require.NoError(t, raw.TruncateFront(ctx, 5))

	err = raw.Replay(ctx, 2, func(uint64, []byte) error { return nil })
	require.ErrorIs(t, err, backend.ErrOutOfRange)
	require.ErrorIs(t, err, tw.ErrNotFound)

	err = raw.TruncateFront(ctx, 12)
	require.ErrorIs(t, err, backend.ErrOutOfRange)
	require.ErrorIs(t, err, tw.ErrOutOfRange)

	require.NoError(t, raw.Close())
	_, _, err = raw.Bounds(ctx)
	require.ErrorIs(t, err, backend.ErrClosed)
	require.ErrorIs(t, err, tw.ErrClosed)
	err = raw.Replay(ctx, 5, func(uint64, []byte) error { return nil })
	require.ErrorIs(t, err, backend.ErrClosed)
}

// Replay runs while Appends and TruncateFronts change the log: every record
// it delivers is the right one, and it ends cleanly or with ErrOutOfRange when
// the front moved past it.
func TestReplayDuringWrites(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, opts{sync: backend.SyncNone, params: map[string]string{tidwall.ParamSegmentSize: "500"}})
	defer w.Close()
	appendRecords(t, w, 50, 5)

	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				first, _, err := w.Bounds(ctx)
				if err != nil {
					errs <- err
					return
				}
				err = w.Replay(ctx, first, func(index uint64, data []byte) error {
					if string(data) != string(record(index)) {
						return errors.New("replay delivered wrong bytes")
					}
					return nil
				})
				if err != nil && !errors.Is(err, backend.ErrOutOfRange) {
					errs <- err
					return
				}
			}
		})
	}
	for range 40 {
		last := appendRecords(t, w, 7, 3)
		require.NoError(t, w.TruncateFront(ctx, last-20))
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

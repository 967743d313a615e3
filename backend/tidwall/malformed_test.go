package tidwall_test

import (
	"errors"
	iofs "io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/tidwall"
)

// A file neither the library nor the adapter writes, in Config.Dir or in the
// segments directory, fails Open with an error naming it, before anything is
// created or changed: the library would skip it, and a directory holding
// another backend's log would open as an empty one.
func TestForeignFilesRefusedByName(t *testing.T) {
	for _, name := range []string{
		"00000000000000000001", // a segment's name, but outside the segments directory
		"notes.txt",
		"00000000000000000001.jsonl",
		filepath.Join(tidwall.SegmentsDir, "README"),
		filepath.Join(tidwall.SegmentsDir, "0000000000000000000x"), // a non-numeric segment name
		filepath.Join(tidwall.SegmentsDir, "00000000000000000000"), // index 0
		filepath.Join(tidwall.SegmentsDir, "000000000000000000001"),
		filepath.Join(tidwall.SegmentsDir, "00000000000000000001.bak"),
		filepath.Join(tidwall.SegmentsDir, "00000000000000000001.broken.x"),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			w := mustOpen(t, dir, small("200"))
			appendRecords(t, w, 30, 3)
			require.NoError(t, w.Close())
			path := filepath.Join(dir, name)
			require.NoError(t, os.WriteFile(path, []byte("garbage\x00\x01"), 0o644))
			requireForeign(t, dir, path)
		})
	}
	t.Run("in a fresh directory", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "MANIFEST-000001")
		require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o644))
		requireForeign(t, dir, path)
		require.NoDirExists(t, segDir(dir), "nothing created")
	})
	t.Run("a directory with a segment's name", func(t *testing.T) {
		dir := t.TempDir()
		w := mustOpen(t, dir, small("200"))
		appendRecords(t, w, 30, 3)
		require.NoError(t, w.Close())
		path := filepath.Join(segDir(dir), "00000000000000000999")
		require.NoError(t, os.Mkdir(path, 0o755))
		requireForeign(t, dir, path)
	})
}

// requireForeign requires Open of dir to fail with ErrForeignFile naming
// path, changing no file.
func requireForeign(t *testing.T, dir, path string) {
	t.Helper()
	before := snapshot(t, dir)
	_, err := tryOpen(dir, small("200"))
	var pe *iofs.PathError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, path, pe.Path)
	require.ErrorIs(t, err, backend.ErrForeignFile)
	after := snapshot(t, dir)
	delete(after, string(filepath.Separator)+backend.LockFileName) // the shared layer's, taken before the driver runs
	delete(before, string(filepath.Separator)+backend.LockFileName)
	require.Equal(t, before, after, "files unchanged")
}

// What the library and the adapter leave behind after a crash (the library's
// temporary .START/.END files, a repair's copies and their temporary files)
// is not foreign: Open goes on and the log is unchanged.
func TestOwnLeftoversAccepted(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, small("200"))
	last := appendRecords(t, w, 30, 3)
	require.NoError(t, w.Close())
	for _, name := range []string{
		"00000000000000000001.broken",
		"00000000000000000001.broken.2",
		"00000000000000000001.broken.3.tmp",
		"00000000000000000001.broken.tmp",
		"00000000000000000003.START.TEMP",
		"00000000000000000003.END.TEMP",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(segDir(dir), name), []byte("garbage\x00\x01"), 0o644))
	}
	w = mustOpen(t, dir, small("200"))
	defer w.Close()
	requireRecords(t, w, 1, last)
}

// A segment whose first record's header is garbage (an unreadable length)
// is corruption naming the segment at offset 0, with nothing changed, when
// it is older than the last or valid records follow; as the last segment with
// nothing valid after it, it is a torn write at the start of a new segment:
// cut to empty, a copy kept.
func TestSegmentWithBadHeader(t *testing.T) {
	badHeader := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 'x'}
	t.Run("older segment", func(t *testing.T) {
		dir, _ := damageBase(t)
		path := segments(t, dir)[1]
		overwrite(t, path, badHeader)
		requireRefused(t, dir, path, 0)
	})
	t.Run("last segment, records after it", func(t *testing.T) {
		dir, _ := damageBase(t)
		path := tail(t, dir)
		overwrite(t, path, badHeader)
		requireRefused(t, dir, path, 0)
	})
	t.Run("last segment, nothing after it", func(t *testing.T) {
		dir, _ := damageBase(t)
		path := tail(t, dir)
		require.NoError(t, os.WriteFile(path, badHeader, 0o644))

		w, rep, err := tryOpenObserved(dir)
		require.NoError(t, err)
		defer w.Close()
		require.Equal(t, 1, rep.count())
		first := segIndex(t, path)
		requireRecords(t, w, 1, first-1)
		kept, err := os.ReadFile(path + backend.BrokenSuffix)
		require.NoError(t, err)
		require.Equal(t, badHeader, kept, "the copy holds the segment as it was")
		next, err := w.Append(ctx, record(first))
		require.NoError(t, err)
		require.Equal(t, first, next)
	})
}

// overwrite replaces the first bytes of the file at path with b.
func overwrite(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(b, 0)
	require.NoError(t, errors.Join(err, f.Close()))
}

package backend_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

func TestCutFileKeepsACopyThenTruncates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seg")
	require.NoError(t, os.WriteFile(path, []byte("0123456789"), 0o644))
	fs := &repairFS{FS: vfs.Default}

	got, err := backend.CutFile(fs, path, 4)
	require.NoError(t, err)
	require.Equal(t, backend.SalvagedFile{Path: path, Copy: path + backend.BrokenSuffix, Size: 10, Kept: 4}, got)
	requireContent(t, path, "0123")
	requireContent(t, got.Copy, "0123456789")
	// The copy is durable (synced, renamed into place, directory synced)
	// before the file is cut, and the cut is synced.
	require.Equal(t, []string{"sync seg.broken.tmp", "rename seg.broken.tmp seg.broken", "syncdir", "truncate seg", "sync seg"}, fs.steps)

	// A second cut keeps the first copy and takes the next free name.
	got, err = backend.CutFile(vfs.Default, path, 1)
	require.NoError(t, err)
	require.Equal(t, path+backend.BrokenSuffix+".2", got.Copy)
	requireContent(t, got.Copy, "0123")
	requireContent(t, path+backend.BrokenSuffix, "0123456789")
}

func TestCutFileRefusesAnOffsetOutsideTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seg")
	require.NoError(t, os.WriteFile(path, []byte("0123"), 0o644))
	_, err := backend.CutFile(vfs.Default, path, 5)
	require.ErrorContains(t, err, "offset 5 outside the file's 4 bytes")
	_, err = backend.CutFile(vfs.Default, path, -1)
	require.Error(t, err)
	requireContent(t, path, "0123")
	require.NoFileExists(t, path+backend.BrokenSuffix)
}

func TestCutFileLeavesTheFileWholeWhenTheCopyFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seg")
	require.NoError(t, os.WriteFile(path, []byte("0123"), 0o644))
	fs := &repairFS{FS: vfs.Default, failOn: "syncdir"}
	_, err := backend.CutFile(fs, path, 1)
	require.ErrorIs(t, err, syscall.EIO)
	require.ErrorContains(t, err, path)
	requireContent(t, path, "0123")
}

func TestMoveAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seg")
	require.NoError(t, os.WriteFile(path, []byte("abc"), 0o644))
	require.NoError(t, os.WriteFile(path+backend.BrokenSuffix, []byte("older"), 0o644))
	fs := &repairFS{FS: vfs.Default}

	got, err := backend.MoveAside(fs, path)
	require.NoError(t, err)
	require.Equal(t, backend.SalvagedFile{Path: path, Copy: path + backend.BrokenSuffix + ".2", Size: 3, Kept: -1}, got)
	require.NoFileExists(t, path)
	requireContent(t, got.Copy, "abc")
	requireContent(t, path+backend.BrokenSuffix, "older")
	require.Equal(t, []string{"rename seg seg.broken.2", "syncdir"}, fs.steps)

	_, err = backend.MoveAside(vfs.Default, path)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func requireContent(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, want, string(got), path)
}

// The copies salvage and repair keep beside a driver's files do not make its
// directory look shared: CheckDir accepts a copy of an entry the driver owns,
// and only of one.
func TestCheckDirAcceptsCopiesOfOwnedEntries(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"wal.db", "wal.db.broken", "wal.db.broken.2", "wal.db.broken.3.tmp"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "store.broken"), 0o755))
	owned := func(name string) bool { return name == "wal.db" || name == "store" }
	require.NoError(t, backend.CheckDir(vfs.Default, dir, owned))

	require.NoError(t, os.WriteFile(filepath.Join(dir, "other.broken"), nil, 0o644))
	err := backend.CheckDir(vfs.Default, dir, owned)
	require.ErrorIs(t, err, backend.ErrForeignFile)
	require.ErrorContains(t, err, "other.broken")
}

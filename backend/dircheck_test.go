package backend_test

import (
	"errors"
	iofs "io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/backend/vfs/crashfs"
	"github.com/nautilus-go/nautilus/backend/vfs/faultfs"
)

func ownsSegments(name string) bool { return strings.HasSuffix(name, ".seg") }

func TestCheckDirNamesTheFirstForeignEntry(t *testing.T) {
	fs := crashfs.New()
	require.NoError(t, fs.MkdirAll("/wal/sub", 0o755))
	for _, name := range []string{"/wal/1.seg", "/wal/MANIFEST-000001", "/wal/wal.lock", "/wal/zz.txt"} {
		f, err := vfs.Create(fs, name)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	err := backend.CheckDir(fs, "/wal", ownsSegments)
	var pe *iofs.PathError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "/wal/MANIFEST-000001", pe.Path, "names sort, so the first foreign one is named")
	require.ErrorIs(t, err, backend.ErrForeignFile)
	require.Contains(t, err.Error(), "/wal/MANIFEST-000001")

	require.NoError(t, fs.Remove("/wal/MANIFEST-000001"))
	err = backend.CheckDir(fs, "/wal", ownsSegments)
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "/wal/sub", pe.Path, "a subdirectory is an entry like a file")
}

func TestCheckDirAcceptsOwnedNamesAndTheLock(t *testing.T) {
	fs := crashfs.New()
	require.NoError(t, fs.MkdirAll("/wal", 0o755))
	for _, name := range []string{"1.seg", "2.seg", backend.LockFileName} {
		f, err := vfs.Create(fs, filepath.Join("/wal", name))
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	require.NoError(t, backend.CheckDir(fs, "/wal", ownsSegments))
	require.NoError(t, backend.CheckDir(fs, "/missing", ownsSegments), "a missing directory holds nothing foreign")
}

func TestCheckDirReportsAnUnreadableDirectory(t *testing.T) {
	fs := faultfs.New(crashfs.New())
	require.NoError(t, fs.MkdirAll("/wal", 0o755))
	fs.Inject(faultfs.Fail(faultfs.OpReadDir, 1, syscall.EIO))
	err := backend.CheckDir(fs, "/wal", ownsSegments)
	require.ErrorIs(t, err, syscall.EIO)
	require.Contains(t, err.Error(), "/wal")
	require.False(t, errors.Is(err, backend.ErrForeignFile))
}

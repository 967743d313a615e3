//go:build unix

package vfs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/internal/modetest"
)

func octal(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fmt.Sprintf("%#o", uint32(fi.Mode().Perm()))
}

// What the framework creates through package vfs is private under umask
// 022, which leaves a file created 0644 readable by everyone; WithModes
// widens files and directories but not the lock. Not parallel: the umask
// is the process's.
func TestModes(t *testing.T) {
	modetest.Umask022(t)
	for _, tc := range []struct {
		name          string
		fs            vfs.FS
		wantFile, dir string
	}{
		{"default", vfs.Default, "0600", "0700"},
		{"widened", vfs.WithModes(vfs.Default, 0o640, 0o750), "0640", "0750"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := filepath.Join(t.TempDir(), "top")
			dir := filepath.Join(top, "dir")
			require.NoError(t, vfs.MkdirAllSynced(tc.fs, dir))
			require.Equal(t, tc.dir, octal(t, top))
			require.Equal(t, tc.dir, octal(t, dir))

			created := filepath.Join(dir, "created")
			f, err := vfs.Create(tc.fs, created)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			require.Equal(t, tc.wantFile, octal(t, created))

			marker := filepath.Join(dir, "marker")
			require.NoError(t, vfs.WriteFileAtomic(tc.fs, marker, []byte("1")))
			require.Equal(t, tc.wantFile, octal(t, marker))

			lock, err := tc.fs.Lock(filepath.Join(dir, "lock"))
			require.NoError(t, err)
			require.NoError(t, lock.Close())
			require.Equal(t, "0600", octal(t, filepath.Join(dir, "lock")), "only the owner takes the lock")

			// An existing file opened without O_CREATE keeps its mode.
			require.NoError(t, os.Chmod(created, 0o604))
			f, err = tc.fs.OpenFile(created, os.O_RDWR, 0)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			require.Equal(t, "0604", octal(t, created))
		})
	}
}

package vfs_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/backend/vfs/crashfs"
)

// A process killed after creating the WAL directory may never have fsync'd
// the entries on its path; the next Open must make them durable, not trust them.
func TestMkdirAllSyncedMakesAnExistingPathDurable(t *testing.T) {
	fs := crashfs.New()
	require.NoError(t, fs.MkdirAll("/data/wal", 0o755)) // created, never synced
	_, err := fs.CrashImage(nil).Stat("/data")
	require.Error(t, err, "an unsynced directory entry must vanish in a crash image")

	require.NoError(t, vfs.MkdirAllSynced(fs, "/data/wal"))
	fi, err := fs.CrashImage(nil).Stat("/data/wal")
	require.NoError(t, err)
	require.True(t, fi.IsDir())
}

func TestWriteFileAtomicSurvivesPowerLoss(t *testing.T) {
	fs := crashfs.New()
	require.NoError(t, vfs.MkdirAllSynced(fs, "/d"))
	require.NoError(t, vfs.WriteFileAtomic(fs, "/d/marker", []byte("v1")))
	require.NoError(t, vfs.WriteFileAtomic(fs, "/d/marker", []byte("v2")))
	got, err := vfs.ReadFile(fs.CrashImage(nil), "/d/marker")
	require.NoError(t, err)
	require.Equal(t, "v2", string(got))
}

// Preallocate extends a file with zeros, never shrinks it, and works on a
// file system that cannot allocate (crashfs) as on one that can.
func TestPreallocate(t *testing.T) {
	for name, fs := range map[string]vfs.FS{"os": vfs.Default, "crashfs": crashfs.New()} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if name == "crashfs" {
				dir = "/d"
				require.NoError(t, fs.MkdirAll(dir, 0o755))
			}
			path := dir + "/f"
			f, err := vfs.Create(fs, path)
			require.NoError(t, err)
			_, err = f.Write([]byte("abc"))
			require.NoError(t, err)
			require.NoError(t, vfs.Preallocate(f, 8192))
			require.NoError(t, vfs.Preallocate(f, 10), "a larger file is left alone")
			_, err = f.Write([]byte("d")) // the offset is unchanged
			require.NoError(t, err)
			require.NoError(t, f.Close())
			got, err := vfs.ReadFile(fs, path)
			require.NoError(t, err)
			require.Len(t, got, 8192)
			require.Equal(t, "abcd", string(got[:4]))
			require.Equal(t, make([]byte, 8192-4), got[4:])
		})
	}
}

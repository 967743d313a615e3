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

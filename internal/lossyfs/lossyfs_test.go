package lossyfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/backend/vfs/crashfs"
	"github.com/nautilus-go/nautilus/backend/vfs/faultfs"
	"github.com/nautilus-go/nautilus/internal/lossyfs"
)

// requireFUSE skips t, naming the missing prerequisite, unless this process
// can mount FUSE file systems.
func requireFUSE(t *testing.T) {
	t.Helper()
	if err := lossyfs.Available(); err != nil {
		t.Skip("FUSE unavailable: " + err.Error())
	}
}

// mount serves fsys at a fresh directory until the test ends.
func mount(t *testing.T, fsys vfs.FS) *lossyfs.Server {
	t.Helper()
	requireFUSE(t)
	srv, err := lossyfs.Mount(t.TempDir(), fsys)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Unmount() })
	return srv
}

func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	require.NoError(t, err)
	require.NoError(t, d.Sync())
	require.NoError(t, d.Close())
}

func readMem(t *testing.T, fsys vfs.FS, name string) string {
	t.Helper()
	b, err := vfs.ReadFile(fsys, name)
	require.NoError(t, err)
	return string(b)
}

func TestFsyncReachesTheBackingFS(t *testing.T) {
	mem := crashfs.New()
	srv := mount(t, mem)
	dir := srv.Dir()

	require.NoError(t, os.Mkdir(filepath.Join(dir, "d"), 0o755))
	syncDir(t, dir)
	f, err := os.OpenFile(filepath.Join(dir, "d", "a"), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	require.NoError(t, err)
	_, err = f.Write([]byte("fsync'd"))
	require.NoError(t, err)
	require.NoError(t, f.Sync()) // fsync
	_, err = f.Write([]byte("+fdatasync'd"))
	require.NoError(t, err)
	require.NoError(t, syscall.Fdatasync(int(f.Fd())))
	_, err = f.Write([]byte("+lost"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	assert.Equal(t, "fsync'd+fdatasync'd+lost", readMem(t, mem, "/d/a"), "every write reaches the backing FS at once")

	img := mem.CrashImage(nil)
	_, err = img.Stat("/d/a")
	assert.True(t, errors.Is(err, os.ErrNotExist), "without FSYNCDIR the new file is lost: %v", err)

	syncDir(t, filepath.Join(dir, "d"))
	img = mem.CrashImage(nil)
	assert.Equal(t, "fsync'd+fdatasync'd", readMem(t, img, "/d/a"))
}

func TestRenameRemoveTruncate(t *testing.T) {
	mem := crashfs.New()
	dir := mount(t, mem).Dir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	require.NoError(t, os.WriteFile(a, []byte("hello world"), 0o644))
	require.NoError(t, os.Rename(a, b))
	require.NoError(t, os.Truncate(b, 5))
	got, err := os.ReadFile(b)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))
	names, err := mem.ReadDir("/")
	require.NoError(t, err)
	assert.Equal(t, []string{"b"}, names)

	// O_TRUNC through the mount.
	require.NoError(t, os.WriteFile(b, []byte("x"), 0o644))
	assert.Equal(t, "x", readMem(t, mem, "/b"))

	require.NoError(t, os.Remove(b))
	_, err = os.Stat(b)
	assert.True(t, errors.Is(err, os.ErrNotExist))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func TestFlockIsExclusive(t *testing.T) {
	dir := mount(t, crashfs.New()).Dir()
	name := filepath.Join(dir, "lock")
	f1, err := os.Create(name)
	require.NoError(t, err)
	defer f1.Close()
	f2, err := os.Open(name)
	require.NoError(t, err)
	defer f2.Close()
	require.NoError(t, syscall.Flock(int(f1.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))
	err = syscall.Flock(int(f2.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	assert.True(t, errors.Is(err, syscall.EWOULDBLOCK), "%v", err)
}

// TestPowerCutAndRemount is the cycle the conformance suite runs: cut the
// power after an fsync, then remount the crash image and see only what was
// fsync'd.
func TestPowerCutAndRemount(t *testing.T) {
	mem := crashfs.New()
	faults := faultfs.New(mem)
	var image *crashfs.FS
	faults.Inject(faultfs.At(faultfs.Point{Op: faultfs.OpSync, N: 1, After: true}, func(faultfs.Event) {
		image = mem.CrashImage(nil)
		faults.Cut(syscall.EIO)
	}))
	srv := mount(t, faults)
	name := filepath.Join(srv.Dir(), "wal")
	f, err := os.Create(name)
	require.NoError(t, err)
	syncDir(t, srv.Dir())
	_, err = f.Write([]byte("acknowledged"))
	require.NoError(t, err)
	require.NoError(t, f.Sync(), "the fsync that the power cut follows succeeds")
	_, err = f.Write([]byte(" never"))
	assert.True(t, errors.Is(err, syscall.EIO), "after the cut every write fails: %v", err)
	assert.True(t, errors.Is(f.Sync(), syscall.EIO))
	f.Close()
	require.NoError(t, srv.Unmount())

	require.NotNil(t, image)
	srv2 := mount(t, image)
	got, err := os.ReadFile(filepath.Join(srv2.Dir(), "wal"))
	require.NoError(t, err)
	assert.Equal(t, "acknowledged", string(got))
}

func TestUnmountWithOpenFile(t *testing.T) {
	srv := mount(t, crashfs.New())
	f, err := os.Create(filepath.Join(srv.Dir(), "leaked"))
	require.NoError(t, err)
	err = srv.Unmount()
	assert.True(t, errors.Is(err, lossyfs.ErrBusy), "an open descriptor keeps the mount busy: %v", err)
	assert.True(t, errors.Is(err, syscall.EBUSY), "umount's errno is kept: %v", err)
	assert.False(t, isMountPoint(t, srv.Dir()), "the busy mount is not left behind")
	// The connection is aborted, so closing the leaked descriptor cannot hang.
	f.Close()
	assert.Equal(t, err, srv.Unmount(), "Unmount is idempotent")
	_, err = os.Stat(filepath.Join(srv.Dir(), "leaked"))
	assert.True(t, errors.Is(err, os.ErrNotExist), "the mount is gone: %v", err)
}

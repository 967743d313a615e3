package faultfs_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/backend/vfs/crashfs"
	"github.com/nautilus-go/nautilus/backend/vfs/faultfs"
)

func create(t *testing.T, fs vfs.FS, name string) vfs.File {
	t.Helper()
	f, err := vfs.Create(fs, name)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

func requireInjected(t *testing.T, err error, errno syscall.Errno) {
	t.Helper()
	require.Error(t, err)
	assert.True(t, errors.Is(err, errno), "want %v, got %v", errno, err)
	var pe *os.PathError
	assert.True(t, errors.As(err, &pe), "want an *os.PathError, got %T", err)
}

func TestFailNthSync(t *testing.T) {
	fs := faultfs.New(crashfs.New())
	fs.Inject(faultfs.Fail(faultfs.OpSync, 2, syscall.EIO))
	f := create(t, fs, "/f")
	require.NoError(t, f.Sync())
	requireInjected(t, f.Sync(), syscall.EIO)
	require.NoError(t, f.Sync(), "only the 2nd sync fails")
	assert.Equal(t, 3, fs.Count(faultfs.OpSync))
}

func TestFailEveryKind(t *testing.T) {
	for _, op := range []faultfs.Op{faultfs.OpCreate, faultfs.OpWrite, faultfs.OpSync, faultfs.OpSyncDir, faultfs.OpRename, faultfs.OpRemove} {
		for _, errno := range []syscall.Errno{syscall.EIO, syscall.ENOSPC} {
			t.Run(op.String()+"/"+errno.Error(), func(t *testing.T) {
				mem := crashfs.New()
				fs := faultfs.New(mem)
				fs.Inject(faultfs.Fail(op, 1, errno))
				var err error
				switch op {
				case faultfs.OpCreate:
					_, err = vfs.Create(fs, "/f")
				case faultfs.OpWrite:
					_, err = create(t, fs, "/f").Write([]byte("x"))
				case faultfs.OpSync:
					err = create(t, fs, "/f").Sync()
				case faultfs.OpSyncDir:
					err = fs.SyncDir("/")
				case faultfs.OpRename:
					create(t, fs, "/f")
					err = fs.Rename("/f", "/g")
				case faultfs.OpRemove:
					create(t, fs, "/f")
					err = fs.Remove("/f")
				}
				requireInjected(t, err, errno)
				names, rerr := mem.ReadDir("/")
				require.NoError(t, rerr)
				data, _ := vfs.ReadFile(mem, "/f")
				switch op {
				case faultfs.OpCreate:
					assert.Empty(t, names, "a failed create creates nothing")
				case faultfs.OpRename, faultfs.OpRemove:
					assert.Equal(t, []string{"f"}, names, "a failed %s changes nothing", op)
				case faultfs.OpWrite:
					assert.Empty(t, data, "a failed write writes nothing")
				}
			})
		}
	}
}

func TestFailFromStaysFailed(t *testing.T) {
	fs := faultfs.New(crashfs.New())
	f := create(t, fs, "/f")
	fs.Inject(faultfs.FailFrom(faultfs.OpWrite, fs.Count(faultfs.OpWrite)+2, syscall.ENOSPC))
	_, err := f.Write([]byte("a"))
	require.NoError(t, err)
	for range 3 {
		_, err = f.Write([]byte("b"))
		requireInjected(t, err, syscall.ENOSPC)
	}
	require.NoError(t, f.Sync(), "other kinds are unaffected")
}

func TestShortWrite(t *testing.T) {
	mem := crashfs.New()
	fs := faultfs.New(mem)
	fs.Inject(faultfs.ShortWrite(2, -1, syscall.ENOSPC))
	f := create(t, fs, "/f")
	_, err := f.Write([]byte("whole"))
	require.NoError(t, err)
	n, err := f.Write([]byte("abcdef"))
	requireInjected(t, err, syscall.ENOSPC)
	assert.Equal(t, 3, n)
	data, err := vfs.ReadFile(mem, "/f")
	require.NoError(t, err)
	assert.Equal(t, "wholeabc", string(data), "half of the short write reached the file")

	wa := f.(io.WriterAt)
	fs.Inject(faultfs.ShortWrite(3, 1, syscall.EIO))
	n, err = wa.WriteAt([]byte("XY"), 0)
	requireInjected(t, err, syscall.EIO)
	assert.Equal(t, 1, n)
	data, err = vfs.ReadFile(mem, "/f")
	require.NoError(t, err)
	assert.Equal(t, "Xholeabc", string(data))
}

func TestCrashImageAtSyncPoint(t *testing.T) {
	mem := crashfs.New()
	fs := faultfs.New(mem)
	var image *crashfs.FS
	fs.Inject(faultfs.At(faultfs.Point{Op: faultfs.OpSync, N: 1, After: true}, func(e faultfs.Event) {
		assert.True(t, e.IsSync())
		image = mem.CrashImage(nil)
		fs.Cut(syscall.EIO)
	}))
	f := create(t, fs, "/f")
	require.NoError(t, fs.SyncDir("/"))
	_, err := f.Write([]byte("synced"))
	require.NoError(t, err)
	require.NoError(t, f.Sync(), "the sync that completes before the cut succeeds")
	_, err = f.Write([]byte(" after the cut"))
	requireInjected(t, err, syscall.EIO)
	requireInjected(t, fs.Remove("/f"), syscall.EIO)

	require.NotNil(t, image)
	data, err := vfs.ReadFile(image, "/f")
	require.NoError(t, err)
	assert.Equal(t, "synced", string(data))
	data, err = vfs.ReadFile(mem, "/f")
	require.NoError(t, err)
	assert.Equal(t, "synced", string(data), "nothing reached the inner FS after the cut")
}

func TestHookAfterFailsAnOpThatTookEffect(t *testing.T) {
	mem := crashfs.New()
	fs := faultfs.New(mem)
	fs.Inject(func(e faultfs.Event) error {
		if e.After && e.Op == faultfs.OpWrite {
			return &os.PathError{Op: "write", Path: e.Path, Err: syscall.EIO}
		}
		return nil
	})
	_, err := create(t, fs, "/f").Write([]byte("landed"))
	requireInjected(t, err, syscall.EIO)
	data, err := vfs.ReadFile(mem, "/f")
	require.NoError(t, err)
	assert.Equal(t, "landed", string(data))
}

func TestEventsSeenBeforeAndAfter(t *testing.T) {
	fs := faultfs.New(crashfs.New())
	var seen []faultfs.Event
	fs.Inject(func(e faultfs.Event) error {
		seen = append(seen, e)
		return nil
	})
	f := create(t, fs, "/f")
	_, err := f.Write([]byte("abc"))
	require.NoError(t, err)
	require.NoError(t, fs.Rename("/f", "/g"))
	want := []faultfs.Event{
		{Op: faultfs.OpCreate, Path: "/f", N: 1, Seq: 1},
		{Op: faultfs.OpCreate, Path: "/f", N: 1, Seq: 1, After: true},
		{Op: faultfs.OpWrite, Path: "/f", N: 1, Seq: 2, Size: 3},
		{Op: faultfs.OpWrite, Path: "/f", N: 1, Seq: 2, Size: 3, After: true},
		{Op: faultfs.OpRename, Path: "/f", N: 1, Seq: 3},
		{Op: faultfs.OpRename, Path: "/f", N: 1, Seq: 3, After: true},
	}
	assert.Equal(t, want, seen)
}

func TestLockPassesThrough(t *testing.T) {
	fs := faultfs.New(crashfs.New())
	l, err := fs.Lock("/wal.lock")
	require.NoError(t, err)
	defer l.Close()
	_, err = fs.Lock("/wal.lock")
	assert.True(t, errors.Is(err, vfs.ErrWouldBlock), "%v", err)
}

func TestParsePoint(t *testing.T) {
	for _, p := range []faultfs.Point{
		{Op: faultfs.OpWrite, N: 3},
		{Op: faultfs.OpSyncDir, N: 1, After: true},
		{Op: faultfs.OpAny, N: 12},
	} {
		got, err := faultfs.ParsePoint(p.String())
		require.NoError(t, err)
		assert.Equal(t, p, got)
	}
	for _, bad := range []string{"", "during:write:1", "before:scribble:1", "after:sync:0", "after:sync"} {
		_, err := faultfs.ParsePoint(bad)
		assert.Error(t, err, bad)
	}
}

// TestKillFromEnv re-executes itself with $NAUTILUS_FAULTFS_KILL set: the
// child is killed at the second write, so the file holds exactly one write.
func TestKillFromEnv(t *testing.T) {
	if dir := os.Getenv("FAULTFS_TEST_CHILD_DIR"); dir != "" {
		kill, err := faultfs.KillFromEnv()
		require.NoError(t, err)
		require.NotNil(t, kill)
		fs := faultfs.New(vfs.Default)
		fs.Inject(kill)
		f, err := vfs.Create(fs, filepath.Join(dir, "f"))
		require.NoError(t, err)
		for _, s := range []string{"one", "two", "three"} {
			_, err := f.Write([]byte(s))
			require.NoError(t, err)
		}
		t.Fatal("the child outlived its kill point")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillFromEnv$")
	cmd.Env = append(os.Environ(), "FAULTFS_TEST_CHILD_DIR="+dir, faultfs.KillEnv+"=before:write:2")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "child: %v\n%s", err, out)
	ws := exit.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "child was not killed: %v\n%s", err, out)
	data, err := os.ReadFile(filepath.Join(dir, "f"))
	require.NoError(t, err)
	assert.Equal(t, "one", string(data))
}

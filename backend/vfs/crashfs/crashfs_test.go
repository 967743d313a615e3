package crashfs_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/backend/vfs/crashfs"
)

func write(t *testing.T, fs vfs.FS, name string, data []byte, sync bool) vfs.File {
	t.Helper()
	f, err := fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	if sync {
		require.NoError(t, f.Sync())
	}
	return f
}

func read(t *testing.T, fs vfs.FS, name string) []byte {
	t.Helper()
	b, err := vfs.ReadFile(fs, name)
	require.NoError(t, err)
	return b
}

func TestCrashKeepsOnlySyncedContents(t *testing.T) {
	fs := crashfs.New()
	require.NoError(t, fs.MkdirAll("/d", 0o755))
	require.NoError(t, fs.SyncDir("/"))
	f := write(t, fs, "/d/a", []byte("durable"), true)
	require.NoError(t, fs.SyncDir("/d"))
	_, err := f.Write([]byte(" lost"))
	require.NoError(t, err)
	assert.Equal(t, "durable lost", string(read(t, fs, "/d/a")))

	img := fs.CrashImage(nil)
	assert.Equal(t, "durable", string(read(t, img, "/d/a")))
	// The original is untouched and the image independent of it.
	assert.Equal(t, "durable lost", string(read(t, fs, "/d/a")))
	write(t, img, "/d/a", []byte("!"), true).Close()
	assert.Equal(t, "durable lost", string(read(t, fs, "/d/a")))
}

func TestCrashDropsEntriesWithoutSyncDir(t *testing.T) {
	fs := crashfs.New()
	write(t, fs, "/synced-data-only", []byte("x"), true)
	require.NoError(t, fs.MkdirAll("/newdir/sub", 0o755))

	img := fs.CrashImage(nil)
	_, err := img.Stat("/synced-data-only")
	assert.True(t, errors.Is(err, os.ErrNotExist), "a file whose directory was never fsync'd must vanish: %v", err)
	_, err = img.Stat("/newdir")
	assert.True(t, errors.Is(err, os.ErrNotExist), "%v", err)

	// vfs.MkdirAllSynced fsyncs every parent, so the directories survive.
	require.NoError(t, vfs.MkdirAllSynced(fs, "/other/sub"))
	img = fs.CrashImage(nil)
	fi, err := img.Stat("/other/sub")
	require.NoError(t, err)
	assert.True(t, fi.IsDir())
}

func TestCrashEntryWithoutContents(t *testing.T) {
	fs := crashfs.New()
	write(t, fs, "/f", []byte("never synced"), false)
	require.NoError(t, fs.SyncDir("/"))
	img := fs.CrashImage(nil)
	assert.Empty(t, read(t, img, "/f"), "the entry is durable, the data is not")
}

func TestCrashRenameAndRemove(t *testing.T) {
	fs := crashfs.New()
	write(t, fs, "/old", []byte("v1"), true).Close()
	require.NoError(t, fs.SyncDir("/"))
	require.NoError(t, fs.Rename("/old", "/new"))

	img := fs.CrashImage(nil)
	names, err := img.ReadDir("/")
	require.NoError(t, err)
	assert.Equal(t, []string{"old"}, names, "an unsynced rename is undone")

	require.NoError(t, fs.SyncDir("/"))
	require.NoError(t, fs.Remove("/new"))
	img = fs.CrashImage(nil)
	assert.Equal(t, "v1", string(read(t, img, "/new")), "an unsynced remove is undone")

	require.NoError(t, fs.SyncDir("/"))
	names, err = fs.CrashImage(nil).ReadDir("/")
	require.NoError(t, err)
	assert.Empty(t, names)
}

func TestWriteFileAtomicIsDurable(t *testing.T) {
	fs := crashfs.New()
	require.NoError(t, vfs.WriteFileAtomic(fs, "/marker", []byte("one")))
	require.NoError(t, vfs.WriteFileAtomic(fs, "/marker", []byte("two")))
	img := fs.CrashImage(nil)
	assert.Equal(t, "two", string(read(t, img, "/marker")))
	names, err := img.ReadDir("/")
	require.NoError(t, err)
	assert.Equal(t, []string{"marker"}, names)
}

func TestCrashUnsyncedBlocks(t *testing.T) {
	fs := crashfs.New()
	synced := bytes.Repeat([]byte{'s'}, crashfs.BlockSize+100)
	f := write(t, fs, "/f", synced, true)
	require.NoError(t, fs.SyncDir("/"))
	_, err := f.(io.WriterAt).WriteAt(bytes.Repeat([]byte{'u'}, 5*crashfs.BlockSize), 50)
	require.NoError(t, err)
	cur := read(t, fs, "/f")

	all := fs.CrashImage(&crashfs.CrashOptions{UnsyncedBlocks: 1})
	assert.Equal(t, cur, read(t, all, "/f"), "with probability 1 every block survives")

	sawMixed := false
	for seed := int64(0); seed < 20; seed++ {
		opts := &crashfs.CrashOptions{UnsyncedBlocks: 0.5, Seed: seed}
		got := read(t, fs.CrashImage(opts), "/f")
		assert.Equal(t, got, read(t, fs.CrashImage(opts), "/f"), "the seed decides")
		require.LessOrEqual(t, len(got), len(cur))
		require.GreaterOrEqual(t, len(got), len(synced))
		mixed := [3]bool{}
		for off := 0; off < len(got); off += crashfs.BlockSize {
			end := min(off+crashfs.BlockSize, len(got))
			block := got[off:end]
			// A block that did not survive holds the synced bytes, then
			// zeros past the synced end (a hole).
			lost := make([]byte, end-off)
			if off < len(synced) {
				copy(lost, synced[off:])
			}
			switch {
			case bytes.Equal(block, cur[off:end]):
				mixed[0] = true
			case bytes.Equal(block, lost) && end <= len(synced):
				mixed[1] = true
			case bytes.Equal(block, lost):
				mixed[2] = true
			default:
				t.Fatalf("seed %d: block at %d is neither synced, current nor a hole", seed, off)
			}
		}
		sawMixed = sawMixed || (mixed[0] && (mixed[1] || mixed[2]))
	}
	assert.True(t, sawMixed, "some seed should keep some unsynced blocks and lose others")
}

func TestHandleSurvivesRename(t *testing.T) {
	fs := crashfs.New()
	f := write(t, fs, "/a", []byte("1"), false)
	require.NoError(t, fs.Rename("/a", "/b"))
	_, err := f.Write([]byte("2"))
	require.NoError(t, err)
	assert.Equal(t, "12", string(read(t, fs, "/b")))
	_, err = fs.Stat("/a")
	assert.True(t, errors.Is(err, os.ErrNotExist))
}

func TestFileErrors(t *testing.T) {
	fs := crashfs.New()
	_, err := vfs.Open(fs, "/missing")
	assert.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
	var pe *os.PathError
	require.True(t, errors.As(err, &pe))
	assert.Equal(t, "/missing", pe.Path)

	write(t, fs, "/f", []byte("abc"), false).Close()
	_, err = fs.OpenFile("/f", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	assert.True(t, errors.Is(err, os.ErrExist), "%v", err)

	ro, err := vfs.Open(fs, "/f")
	require.NoError(t, err)
	_, err = ro.Write([]byte("x"))
	assert.True(t, errors.Is(err, syscall.EBADF), "%v", err)
	b, err := io.ReadAll(ro)
	require.NoError(t, err)
	assert.Equal(t, "abc", string(b))
	require.NoError(t, ro.Close())
	_, err = ro.Read(make([]byte, 1))
	assert.True(t, errors.Is(err, os.ErrClosed), "%v", err)

	require.NoError(t, fs.MkdirAll("/d", 0o755))
	write(t, fs, "/d/x", nil, false).Close()
	assert.True(t, errors.Is(fs.Remove("/d"), syscall.ENOTEMPTY))
	assert.True(t, errors.Is(fs.Rename("/f", "/d"), syscall.EISDIR))

	tf, err := fs.OpenFile("/f", os.O_RDWR, 0)
	require.NoError(t, err)
	require.NoError(t, tf.Truncate(1))
	assert.Equal(t, "a", string(read(t, fs, "/f")))
	require.NoError(t, tf.Truncate(3))
	assert.Equal(t, []byte{'a', 0, 0}, read(t, fs, "/f"))
}

func TestDirHandleSyncIsSyncDir(t *testing.T) {
	fs := crashfs.New()
	write(t, fs, "/f", []byte("x"), true).Close()
	d, err := vfs.Open(fs, "/")
	require.NoError(t, err)
	require.NoError(t, d.Sync())
	assert.Equal(t, "x", string(read(t, fs.CrashImage(nil), "/f")))
}

func TestLock(t *testing.T) {
	fs := crashfs.New()
	l, err := fs.Lock("/d/../wal.lock")
	require.NoError(t, err)
	_, err = fs.Lock("/wal.lock")
	assert.True(t, errors.Is(err, vfs.ErrWouldBlock), "second lock: %v", err)

	// A crash releases every lock.
	l2, err := fs.CrashImage(nil).Lock("/wal.lock")
	require.NoError(t, err)
	require.NoError(t, l2.Close())

	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "closing twice is harmless")
	l, err = fs.Lock("/wal.lock")
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

func TestInodeNumbers(t *testing.T) {
	fs := crashfs.New()
	write(t, fs, "/a", nil, false).Close()
	write(t, fs, "/b", nil, false).Close()
	ino := func(name string) uint64 {
		fi, err := fs.Stat(name)
		require.NoError(t, err)
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	a := ino("/a")
	assert.NotEqual(t, a, ino("/b"))
	require.NoError(t, fs.Rename("/a", "/c"))
	assert.Equal(t, a, ino("/c"), "a rename keeps the inode")
}

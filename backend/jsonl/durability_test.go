package jsonl

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/stretchr/testify/require"
)

// These tests check the order of writes, fsyncs and directory fsyncs that
// durability rests on, through a file system that records them.

func openEvents(t *testing.T, dir string, mode backend.SyncMode, kv ...string) (backend.WAL, *eventFS) {
	t.Helper()
	fs := newEventFS()
	cfg := config(dir, kv...)
	cfg.Sync, cfg.FS = mode, fs
	w := open(t, cfg)
	fs.take() // the lock file and directory creation are the shared layer's
	return w, fs
}

func TestSyncAlwaysWritesAndSyncsOncePerAppend(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, fs := openEvents(t, dir, backend.SyncAlways, ParamSegmentBytes, "170", ParamPreallocate, "false") // 1-3, 4-6, ...
	seg1, seg2 := SegmentName(1), SegmentName(4)
	base := filepath.Base(dir)

	_, err := w.Append(ctx, payload(1))
	require.NoError(t, err)
	require.Equal(t, []string{"create " + seg1, "syncdir " + base, "write " + seg1, "sync " + seg1}, fs.take(),
		"a new segment's directory entry is durable before its first record is acknowledged")

	_, err = w.Append(ctx, payload(2), payload(3))
	require.NoError(t, err)
	require.Equal(t, []string{"write " + seg1, "sync " + seg1}, fs.take(), "one write and one fdatasync per Append")

	_, err = w.Append(ctx, payload(4), payload(5), payload(6))
	require.NoError(t, err)
	require.Equal(t, []string{"create " + seg2, "syncdir " + base, "write " + seg2, "sync " + seg2}, fs.take())

	require.NoError(t, w.Sync(ctx))
	require.NoError(t, w.Close())
	require.Empty(t, fs.take(), "nothing left to sync")
}

// A preallocated segment's size is made durable when it is created, before
// its directory entry, so no Append's fdatasync has a size to write; a
// reopened log's last segment is fsync'd before records claim it durable.
func TestPreallocatedSegmentIsSyncedAtCreation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, fs := openEvents(t, dir, backend.SyncAlways, ParamSegmentBytes, "4KiB", ParamPreallocate, "true")
	seg1 := SegmentName(1)
	_, err := w.Append(ctx, payload(1))
	require.NoError(t, err)
	require.Equal(t, []string{"create " + seg1, "truncate " + seg1, "sync " + seg1, "syncdir " + filepath.Base(dir),
		"write " + seg1, "sync " + seg1}, fs.take(), "eventFS cannot fallocate, so the size is extended")
	require.NoError(t, w.Close())
	fi, err := os.Stat(filepath.Join(dir, seg1))
	require.NoError(t, err)
	require.EqualValues(t, 4096, fi.Size())

	fs = newEventFS()
	cfg := config(dir, ParamSegmentBytes, "4KiB", ParamPreallocate, "true")
	cfg.FS = fs
	w = open(t, cfg)
	require.Contains(t, fs.take(), "sync "+seg1, "Open fsyncs the last segment before records claim it durable")
	_, err = w.Append(ctx, payload(2))
	require.NoError(t, err)
	require.Equal(t, []string{"write " + seg1, "sync " + seg1}, fs.take(), "the record goes after the first, into the zeros")
	require.NoError(t, w.Close())
	w = open(t, config(dir))
	require.Equal(t, []record{{1, payload(1)}, {2, payload(2)}}, replayAll(t, w, 1))
	require.NoError(t, w.Close())
}

func TestSyncNoneSyncsOnSyncCloseAndRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, fs := openEvents(t, dir, backend.SyncNone, ParamSegmentBytes, "170", ParamPreallocate, "false", ParamWriteBuffer, testWriteBuffer) // 1-3, 4-6, ...
	seg1, seg2 := SegmentName(1), SegmentName(4)
	base := filepath.Base(dir)

	_, err := w.Append(ctx, payload(1))
	require.NoError(t, err)
	_, err = w.Append(ctx, payload(2), payload(3))
	require.NoError(t, err)
	require.Equal(t, []string{"create " + seg1, "syncdir " + base}, fs.take(),
		"SyncNone holds small Appends in memory: no write, no fsync")

	require.NoError(t, w.Sync(ctx))
	require.Equal(t, []string{"write " + seg1, "sync " + seg1}, fs.take(), "Sync writes both Appends at once")
	require.NoError(t, w.Sync(ctx))
	require.Empty(t, fs.take(), "nothing new to sync")

	_, err = w.Append(ctx, payload(4))
	require.NoError(t, err)
	require.Equal(t, []string{"create " + seg2, "syncdir " + base}, fs.take())
	_, err = w.Append(ctx, payload(5))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.Equal(t, []string{"write " + seg2, "sync " + seg2}, fs.take(), "Close writes and makes appended records durable")

	w, fs = openEvents(t, dir, backend.SyncNone, ParamSegmentBytes, "170", ParamPreallocate, "false", ParamWriteBuffer, testWriteBuffer)
	_, err = w.Append(ctx, payload(6))
	require.NoError(t, err)
	_, err = w.Append(ctx, payload(7), payload(8))
	require.NoError(t, err)
	require.Equal(t, []string{"write " + seg2, "sync " + seg2, "create " + SegmentName(7), "syncdir " + base}, fs.take(),
		"the segment left behind is written and fsync'd before the next one starts")
	require.NoError(t, w.Close())
	require.Equal(t, []string{"write " + SegmentName(7), "sync " + SegmentName(7)}, fs.take())
}

// testWriteBuffer is the write_buffer of the tests that check what SyncNone
// holds in memory.
const testWriteBuffer = "65536"

// TestSyncNoneWritesEveryAppendByDefault checks that without write_buffer a
// SyncNone Append reaches the OS before it returns, so it survives kill -9,
// and is not fsync'd.
func TestSyncNoneWritesEveryAppendByDefault(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, fs := openEvents(t, dir, backend.SyncNone, ParamPreallocate, "false")
	seg := SegmentName(1)
	_, err := w.Append(ctx, payload(1))
	require.NoError(t, err)
	require.Equal(t, []string{"create " + seg, "syncdir " + filepath.Base(dir), "write " + seg}, fs.take())
	_, err = w.Append(ctx, payload(2), payload(3))
	require.NoError(t, err)
	require.Equal(t, []string{"write " + seg}, fs.take(), "one write per Append, no fsync")
	require.NoError(t, w.Close())
	require.Equal(t, []string{"sync " + seg}, fs.take())
}

// TestSyncNoneWritesAFullBuffer checks that SyncNone holds at most
// write_buffer bytes in memory: the Append that outgrows it writes them all,
// in one write.
func TestSyncNoneWritesAFullBuffer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, fs := openEvents(t, dir, backend.SyncNone, ParamPreallocate, "false", ParamWriteBuffer, testWriteBuffer)
	limit, err := strconv.Atoi(testWriteBuffer)
	require.NoError(t, err)
	rec := bytes.Repeat([]byte("r"), 1000)
	pending, index := 0, uint64(1)
	for ; pending+len(AppendLine(nil, index, 0, rec)) <= limit; index++ {
		_, err := w.Append(ctx, rec)
		require.NoError(t, err)
		pending += len(AppendLine(nil, index, 0, rec))
	}
	require.Equal(t, []string{"create " + SegmentName(1), "syncdir " + filepath.Base(dir)}, fs.take(),
		"within write_buffer nothing is written")
	_, err = w.Append(ctx, rec)
	require.NoError(t, err)
	require.Equal(t, []string{"write " + SegmentName(1)}, fs.take())
	require.NoError(t, w.Close())
}

// TestSyncNoneReplaySeesPending checks that Replay and Bounds see every
// record a SyncNone Append acknowledged, including those still in memory.
func TestSyncNoneReplaySeesPending(t *testing.T) {
	ctx := context.Background()
	cfg := config(t.TempDir())
	cfg.Sync = backend.SyncNone
	w := open(t, cfg)
	defer w.Close()
	appendRange(t, w, 1, 3)
	require.Equal(t, []record{{1, payload(1)}, {2, payload(2)}, {3, payload(3)}}, replayAll(t, w, 1))
	appendRange(t, w, 4, 4)
	first, last, err := w.Bounds(ctx)
	require.NoError(t, err)
	require.Equal(t, [2]uint64{1, 4}, [2]uint64{first, last})
	require.Equal(t, []record{{3, payload(3)}, {4, payload(4)}}, replayAll(t, w, 3))
}

func TestTruncateFrontPersistsTheMarkerBeforeDeleting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, fs := openEvents(t, dir, backend.SyncNone, ParamSegmentBytes, "170", ParamPreallocate, "false", ParamWriteBuffer, testWriteBuffer)
	appendRange(t, w, 1, 9)
	fs.take()
	base := filepath.Base(dir)

	require.NoError(t, w.TruncateFront(ctx, 7))
	require.Equal(t, []string{
		"write " + SegmentName(7), // pending appends first
		"sync " + SegmentName(7),
		"create " + MarkerFileName + ".tmp",
		"write " + MarkerFileName + ".tmp",
		"sync " + MarkerFileName + ".tmp",
		"rename " + MarkerFileName + ".tmp->" + MarkerFileName,
		"syncdir " + base,
		"remove " + SegmentName(1),
		"remove " + SegmentName(4),
		"syncdir " + base,
	}, fs.take())

	require.NoError(t, w.TruncateFront(ctx, 8))
	require.Equal(t, []string{
		"create " + MarkerFileName + ".tmp",
		"write " + MarkerFileName + ".tmp",
		"sync " + MarkerFileName + ".tmp",
		"rename " + MarkerFileName + ".tmp->" + MarkerFileName,
		"syncdir " + base,
	}, fs.take(), "no segment lies wholly below 8, so nothing is deleted")
	require.NoError(t, w.Close())
}

func TestTornTailRepairIsDurableBeforeOpenReturns(t *testing.T) {
	dir := writeLog(t, 3, "64MiB")
	seg := segmentPaths(t, dir)[0]
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte(`{"i":4,"c":"0`))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	fs := newEventFS()
	cfg := config(dir)
	cfg.FS = fs
	w := open(t, cfg)
	defer w.Close()
	name := filepath.Base(seg)
	events := fs.take()
	tmp := name + backend.BrokenSuffix + ".tmp"
	copied := "rename " + tmp + "->" + name + backend.BrokenSuffix
	require.Subset(t, events, []string{"sync " + tmp, copied, "truncate " + name, "sync " + name})
	pos := map[string]int{}
	for i, e := range events {
		if _, seen := pos[e]; !seen {
			pos[e] = i
		}
	}
	require.Less(t, pos["sync "+tmp], pos[copied], "the copy is durable")
	require.Less(t, pos[copied], pos["syncdir "+filepath.Base(dir)], "and so is its name")
	require.Less(t, pos["syncdir "+filepath.Base(dir)], pos["truncate "+name], "before the tail is cut")
	require.Less(t, pos["truncate "+name], pos["sync "+name], "and the cut is fsync'd")
	requireLog(t, w, 1, 3)
}

// eventFS records the operations that matter for durability, in order, as
// "op base-name" strings, on top of the OS file system.
type eventFS struct {
	vfs.FS
	mu     sync.Mutex
	events []string
}

func newEventFS() *eventFS { return &eventFS{FS: vfs.Default} }

func (fs *eventFS) record(op, name string) {
	fs.mu.Lock()
	fs.events = append(fs.events, op+" "+filepath.Base(name))
	fs.mu.Unlock()
}

// take returns the events so far and forgets them.
func (fs *eventFS) take() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ev := fs.events
	fs.events = nil
	return ev
}

func (fs *eventFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := fs.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if flag&os.O_CREATE != 0 {
		fs.record("create", name)
	}
	return &eventFile{File: f, fs: fs}, nil
}

func (fs *eventFS) Remove(name string) error {
	fs.record("remove", name)
	return fs.FS.Remove(name)
}

func (fs *eventFS) Rename(oldname, newname string) error {
	fs.record("rename", oldname+"->"+filepath.Base(newname))
	return fs.FS.Rename(oldname, newname)
}

func (fs *eventFS) SyncDir(name string) error {
	fs.record("syncdir", name)
	return fs.FS.SyncDir(name)
}

type eventFile struct {
	vfs.File
	fs *eventFS
}

func (f *eventFile) Write(p []byte) (int, error) {
	f.fs.record("write", f.Name())
	return f.File.Write(p)
}

func (f *eventFile) Sync() error {
	f.fs.record("sync", f.Name())
	return f.File.Sync()
}

func (f *eventFile) Truncate(size int64) error {
	f.fs.record("truncate", f.Name())
	return f.File.Truncate(size)
}

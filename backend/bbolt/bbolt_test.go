package bbolt_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/nautilus-go/nautilus/backend"
	walbbolt "github.com/nautilus-go/nautilus/backend/bbolt"
	"github.com/nautilus-go/nautilus/backend/internal/kv"
	"github.com/nautilus-go/nautilus/backend/internal/kv/kvtest"
	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/backend/vfs/faultfs"
)

var bucket = []byte("wal")

func mustOpen(t *testing.T, dir string) backend.WAL {
	t.Helper()
	w, err := openDir(context.Background(), dir)
	require.NoError(t, err)
	return w
}

// rawDB opens the WAL's file with bbolt directly, as an outside tool would.
func rawDB(t *testing.T, dir string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, walbbolt.FileName), 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	return db
}

func requireCorrupt(t *testing.T, err error) *backend.CorruptError {
	t.Helper()
	require.ErrorIs(t, err, backend.ErrCorrupt)
	var ce *backend.CorruptError
	require.ErrorAs(t, err, &ce)
	return ce
}

func TestParams(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Run("known params are accepted", func(t *testing.T) {
		w, err := backend.Open(ctx, backend.Config{Backend: "bbolt", Dir: dir, Params: map[string]string{
			walbbolt.ParamNoFreelistSync: "true", walbbolt.ParamInitialMmapSize: "64MiB",
		}})
		require.NoError(t, err)
		kvtest.Fill(t, w, 1, 5)
		require.NoError(t, w.Close())
		w = mustOpen(t, dir)
		kvtest.Check(t, w, 1, 5)
		require.NoError(t, w.Close())
	})
	t.Run("an unknown param is rejected by name", func(t *testing.T) {
		_, err := backend.Open(ctx, backend.Config{Backend: "bbolt", Dir: dir, Params: map[string]string{"no_freelist_snyc": "true"}})
		require.ErrorContains(t, err, "no_freelist_snyc")
	})
	t.Run("a malformed value is rejected by name", func(t *testing.T) {
		_, err := backend.Open(ctx, backend.Config{Backend: "bbolt", Dir: dir, Params: map[string]string{walbbolt.ParamNoFreelistSync: "maybe"}})
		require.ErrorContains(t, err, walbbolt.ParamNoFreelistSync)
		_, err = backend.Open(ctx, backend.Config{Backend: "bbolt", Dir: dir, Params: map[string]string{walbbolt.ParamInitialMmapSize: "big"}})
		require.ErrorContains(t, err, walbbolt.ParamInitialMmapSize)
	})
}

// Indexes continue after truncating everything, across reopen, because the
// first-index marker is written with the deletions.
func TestTruncateAllThenReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w := mustOpen(t, dir)
	kvtest.Fill(t, w, 1, 40)
	require.NoError(t, w.TruncateFront(ctx, 41))
	require.NoError(t, w.Close())

	w = mustOpen(t, dir)
	first, last, err := w.Bounds(ctx)
	require.NoError(t, err)
	require.Equal(t, [2]uint64{41, 40}, [2]uint64{first, last})
	kvtest.Fill(t, w, 41, 45)
	require.NoError(t, w.TruncateFront(ctx, 43))
	require.NoError(t, w.Close())

	w = mustOpen(t, dir)
	kvtest.Check(t, w, 43, 45)
	require.NoError(t, w.Close())

	db := rawDB(t, dir)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		require.Nil(t, tx.Bucket(bucket).Get(kv.RecordKey(42)), "truncated records must be deleted from the file")
		return nil
	}))
}

// Replay reads in chunks of read transactions; records on both sides of a
// chunk boundary come out in order.
func TestReplayAcrossChunks(t *testing.T) {
	ctx := context.Background()
	w := mustOpen(t, t.TempDir())
	defer w.Close()
	var batch [][]byte
	for i := uint64(1); i <= 2500; i++ {
		batch = append(batch, kvtest.Payload(i))
	}
	_, err := w.Append(ctx, batch...)
	require.NoError(t, err)
	require.NoError(t, w.TruncateFront(ctx, 3))
	kvtest.Check(t, w, 3, 2500)
}

// Damage made behind the WAL's back, through bbolt itself, is found by the
// envelope, the key checks or the close record, and named.
func TestCorruptStore(t *testing.T) {
	ctx := context.Background()
	pristine := filepath.Join(t.TempDir(), "wal")
	w := mustOpen(t, pristine)
	kvtest.Fill(t, w, 1, 20)
	require.NoError(t, w.TruncateFront(ctx, 3))
	require.NoError(t, w.Close())

	damaged := backend.AppendEnvelope(nil, 7, kvtest.Payload(7))
	damaged[len(damaged)-1] ^= 0x10
	put := func(key, val []byte) func(*bolt.Bucket) error {
		return func(b *bolt.Bucket) error { return b.Put(key, val) }
	}
	del := func(key []byte) func(*bolt.Bucket) error {
		return func(b *bolt.Bucket) error { return b.Delete(key) }
	}
	tests := []struct {
		name     string
		damage   func(*bolt.Bucket) error
		atOpen   bool
		key      []byte
		index    uint64
		noRecord bool // the close record is removed, as after a crash
	}{
		{"a flipped payload byte", put(kv.RecordKey(7), damaged), false, kv.RecordKey(7), 7, false},
		{"a valid envelope under the wrong key", put(kv.RecordKey(7), backend.AppendEnvelope(nil, 8, kvtest.Payload(8))), false, kv.RecordKey(7), 7, false},
		{"zero bytes", put(kv.RecordKey(7), make([]byte, 40)), false, kv.RecordKey(7), 7, false},
		{"a missing middle record", del(kv.RecordKey(7)), false, kv.RecordKey(8), 7, false},
		{"a damaged last record", put(kv.RecordKey(20), []byte("junk")), true, kv.RecordKey(20), 20, false},
		{"a damaged marker", put(kv.FirstKey, []byte("junk")), true, kv.FirstKey, 0, false},
		{"a lost marker", del(kv.FirstKey), true, kv.RecordKey(3), 3, true},
		{"a record below the marker", put(kv.RecordKey(2), backend.AppendEnvelope(nil, 2, kvtest.Payload(2))), true, kv.RecordKey(2), 2, true},
		{"a lost tail after a clean close", del(kv.RecordKey(20)), true, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "wal")
			kvtest.CopyDir(t, pristine, dir)
			if tt.noRecord {
				require.NoError(t, os.Remove(filepath.Join(dir, kv.CloseRecordFile)))
			}
			db := rawDB(t, dir)
			require.NoError(t, db.Update(func(tx *bolt.Tx) error { return tt.damage(tx.Bucket(bucket)) }))
			require.NoError(t, db.Close())

			w, err := openDir(ctx, dir)
			if !tt.atOpen {
				require.NoError(t, err)
				defer w.Close()
				err = w.Replay(ctx, 3, func(uint64, []byte) error { return nil })
			}
			ce := requireCorrupt(t, err)
			require.Equal(t, filepath.Join(dir, walbbolt.FileName), ce.File)
			if tt.key != nil {
				require.Equal(t, kv.KeyString(tt.key), ce.Key)
			}
			require.Equal(t, tt.index, ce.Index)
		})
	}
	t.Run("a missing bucket", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "wal")
		kvtest.CopyDir(t, pristine, dir)
		db := rawDB(t, dir)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucket) }))
		require.NoError(t, db.Close())
		_, err := openDir(ctx, dir)
		requireCorrupt(t, err)
	})
}

// bbolt has no checksum on data pages: a bit flipped in a stored record is
// returned by bbolt as data, and must be caught by the envelope and named.
func TestFlippedDataPage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w := mustOpen(t, dir)
	kvtest.Fill(t, w, 1, 20)
	require.NoError(t, w.Close())

	path := filepath.Join(dir, walbbolt.FileName)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	payload := kvtest.Payload(7)
	require.Greater(t, len(payload), 8)
	flipped := 0
	for off := 0; ; {
		i := bytes.Index(data[off:], payload)
		if i < 0 {
			break
		}
		data[off+i+len(payload)/2] ^= 0x04 // every copy, live or in a freed page
		off += i + len(payload)
		flipped++
	}
	require.NotZero(t, flipped, "record 7's payload not found in the file")
	require.NoError(t, os.WriteFile(path, data, 0o600))

	w = mustOpen(t, dir)
	defer w.Close()
	err = w.Replay(ctx, 1, func(uint64, []byte) error { return nil })
	ce := requireCorrupt(t, err)
	require.Equal(t, path, ce.File)
	require.Equal(t, kv.KeyString(kv.RecordKey(7)), ce.Key)
	require.Equal(t, uint64(7), ce.Index)
}

// bbolt opens a file whose newer meta page is damaged by falling back to the
// older one, silently dropping the last commit. Open refuses it instead,
// even without the close record a clean Close leaves.
func TestDamagedMetaPage(t *testing.T) {
	ctx := context.Background()
	pristine := filepath.Join(t.TempDir(), "wal")
	w := mustOpen(t, pristine)
	kvtest.Fill(t, w, 1, 10)
	require.NoError(t, w.Close())
	require.NoError(t, os.Remove(filepath.Join(pristine, kv.CloseRecordFile)))

	db := rawDB(t, pristine)
	var txid int
	pageSize := db.Info().PageSize
	require.NoError(t, db.View(func(tx *bolt.Tx) error { txid = tx.ID(); return nil }))
	require.NoError(t, db.Close())
	newer := int64(txid%2) * int64(pageSize)

	for _, tt := range []struct {
		name string
		off  int64 // in the meta, after the 16-byte page header
	}{
		{"magic", 0}, {"page size", 9}, {"root", 17}, {"txid", 48}, {"checksum", 60},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "wal")
			kvtest.CopyDir(t, pristine, dir)
			path := filepath.Join(dir, walbbolt.FileName)
			flipByte(t, path, newer+16+tt.off)

			db := rawDB(t, dir) // bbolt alone: opens, one commit short
			var n int
			require.NoError(t, db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucket).Stats().KeyN; return nil }))
			require.NoError(t, db.Close())
			require.Less(t, n, 10)

			kvtest.CopyDir(t, pristine, dir+"2")
			path = filepath.Join(dir+"2", walbbolt.FileName)
			flipByte(t, path, newer+16+tt.off)
			_, err := openDir(ctx, dir+"2")
			ce := requireCorrupt(t, err)
			require.Equal(t, path, ce.File)
			require.Equal(t, newer, ce.Offset)
		})
	}
	t.Run("older page", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "wal")
		kvtest.CopyDir(t, pristine, dir)
		older := int64(pageSize) - newer
		flipByte(t, filepath.Join(dir, walbbolt.FileName), older+16+56)
		_, err := openDir(ctx, dir)
		ce := requireCorrupt(t, err)
		require.Equal(t, older, ce.Offset)
	})
	t.Run("short file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "wal")
		kvtest.CopyDir(t, pristine, dir)
		require.NoError(t, os.Truncate(filepath.Join(dir, walbbolt.FileName), int64(pageSize)+20))
		_, err := openDir(ctx, dir)
		ce := requireCorrupt(t, err)
		require.Equal(t, int64(pageSize), ce.Offset)
	})
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[off] ^= 0x01
	require.NoError(t, os.WriteFile(path, data, 0o600))
}

// The close record is removed at Open, so a crash after more Appends (no
// clean Close) never meets a stale record claiming fewer records.
func TestCloseRecordIsRemovedAtOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	record := filepath.Join(dir, kv.CloseRecordFile)
	w := mustOpen(t, dir)
	kvtest.Fill(t, w, 1, 10)
	require.NoFileExists(t, record)
	require.NoError(t, w.Close())
	require.FileExists(t, record)

	w = mustOpen(t, dir)
	require.NoFileExists(t, record)
	kvtest.Fill(t, w, 11, 20)
	crashed := filepath.Join(t.TempDir(), "wal")
	kvtest.CopyDir(t, dir, crashed) // what a kill -9 now would leave
	require.NoError(t, w.Close())

	w = mustOpen(t, crashed)
	kvtest.Check(t, w, 1, 20)
	require.NoError(t, w.Close())
}

// A crash while the file was first being created leaves only the temporary
// file, never a half-made wal.db; the next Open starts afresh.
func TestCreationLeftover(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, walbbolt.FileName+".tmp")
	require.NoError(t, os.WriteFile(tmp, []byte("half an initialization"), 0o600))
	w := mustOpen(t, dir)
	require.NoFileExists(t, tmp)
	kvtest.Fill(t, w, 1, 3)
	require.NoError(t, w.Close())
}

// bbolt's own flock on the file, held by a stray process (a bbolt CLI left
// open), is ErrLocked after a short timeout, with bbolt's error reachable.
func TestBoltLockHeld(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir)
	require.NoError(t, w.Close())
	f, err := os.Open(filepath.Join(dir, walbbolt.FileName))
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))

	start := time.Now()
	_, err = openDir(context.Background(), dir)
	require.ErrorIs(t, err, backend.ErrLocked)
	require.ErrorIs(t, err, berrors.ErrTimeout)
	require.Less(t, time.Since(start), 10*time.Second, "a held flock must not block Open for long")
}

func TestReplayCallbackPanicPassesThrough(t *testing.T) {
	w := mustOpen(t, t.TempDir())
	defer w.Close()
	kvtest.Fill(t, w, 1, 3)
	defer func() { require.Equal(t, "caller's own", recover()) }()
	_ = w.Replay(context.Background(), 1, func(uint64, []byte) error { panic("caller's own") })
	t.Fatal("the callback's panic was swallowed")
}

// A new file is made under a temporary name and renamed into place, and
// the directory is fsync'd after the rename, before Open returns: bbolt
// alone does not fsync the directory of a file it creates.
func TestCreationIsRenamedAndSynced(t *testing.T) {
	dir := t.TempDir()
	fs := faultfs.New(vfs.Default)
	var events []faultfs.Event
	fs.Inject(func(e faultfs.Event) error {
		if e.After && (e.Op == faultfs.OpRename || e.Op == faultfs.OpSyncDir) {
			events = append(events, e)
		}
		return nil
	})
	w, err := backend.Open(context.Background(), backend.Config{Backend: "bbolt", Dir: dir, FS: fs})
	require.NoError(t, err)
	defer w.Close()

	renamed := -1
	for i, e := range events {
		if e.Op == faultfs.OpRename && e.Path == filepath.Join(dir, walbbolt.FileName+".tmp") {
			renamed = i
		}
	}
	require.GreaterOrEqual(t, renamed, 0, "the file must be created by a rename: %v", events)
	synced := false
	for _, e := range events[renamed+1:] {
		synced = synced || (e.Op == faultfs.OpSyncDir && e.Path == dir)
	}
	require.True(t, synced, "the directory must be fsync'd after the rename: %v", events)
}

package pebble_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/internal/kv"
	"github.com/nautilus-go/nautilus/backend/internal/kv/kvtest"
	walpebble "github.com/nautilus-go/nautilus/backend/pebble"
)

func mustOpen(t *testing.T, dir string) backend.WAL {
	t.Helper()
	w, err := openDir(context.Background(), dir)
	require.NoError(t, err)
	return w
}

// rawDB opens the WAL's Pebble store directly, as an outside tool would.
func rawDB(t *testing.T, dir string) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(filepath.Join(dir, walpebble.SubDir), &pebble.Options{Logger: quietPebble{}})
	require.NoError(t, err)
	return db
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic("pebble fatal: " + format)
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
		w, err := backend.Open(ctx, backend.Config{Backend: "pebble", Dir: dir, Params: map[string]string{
			walpebble.ParamMemTableSize: "8MiB", walpebble.ParamBytesPerSync: "1MiB", walpebble.ParamWALBytesPerSync: "0",
		}})
		require.NoError(t, err)
		require.NoError(t, w.Close())
	})
	t.Run("an unknown param is rejected by name", func(t *testing.T) {
		_, err := backend.Open(ctx, backend.Config{Backend: "pebble", Dir: dir, Params: map[string]string{"memtable_sise": "8MiB"}})
		require.ErrorContains(t, err, "memtable_sise")
	})
	t.Run("a malformed size is rejected by name", func(t *testing.T) {
		_, err := backend.Open(ctx, backend.Config{Backend: "pebble", Dir: dir, Params: map[string]string{walpebble.ParamBytesPerSync: "lots"}})
		require.ErrorContains(t, err, walpebble.ParamBytesPerSync)
	})
	t.Run("a memtable out of range is rejected by name", func(t *testing.T) {
		for _, size := range []string{"1KiB", "4GiB"} {
			_, err := backend.Open(ctx, backend.Config{Backend: "pebble", Dir: dir, Params: map[string]string{walpebble.ParamMemTableSize: size}})
			require.ErrorContains(t, err, walpebble.ParamMemTableSize)
		}
	})
}

// Indexes continue after truncating everything, across reopen, because the
// first-index marker is written with the deletion.
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
	_, closer, err := db.Get(kv.RecordKey(42))
	require.ErrorIs(t, err, pebble.ErrNotFound, "truncated records must be deleted from the store")
	require.Nil(t, closer)
}

// Damage made behind the WAL's back, through Pebble itself (so Pebble's own
// checksums are intact), is found by the envelope, the key checks or the
// close record, and named.
func TestCorruptStore(t *testing.T) {
	ctx := context.Background()
	pristine := filepath.Join(t.TempDir(), "wal")
	w := mustOpen(t, pristine)
	kvtest.Fill(t, w, 1, 20)
	require.NoError(t, w.TruncateFront(ctx, 3))
	require.NoError(t, w.Close())

	damaged := backend.AppendEnvelope(nil, 7, kvtest.Payload(7))
	damaged[len(damaged)-1] ^= 0x10
	tests := []struct {
		name     string
		damage   func(b *pebble.Batch)
		atOpen   bool
		key      []byte
		index    uint64
		noRecord bool // the close record is removed, as after a crash
	}{
		{"a flipped payload byte", func(b *pebble.Batch) { b.Set(kv.RecordKey(7), damaged, nil) }, false, kv.RecordKey(7), 7, false},
		{"a valid envelope under the wrong key", func(b *pebble.Batch) {
			b.Set(kv.RecordKey(7), backend.AppendEnvelope(nil, 8, kvtest.Payload(8)), nil)
		}, false, kv.RecordKey(7), 7, false},
		{"zero bytes", func(b *pebble.Batch) { b.Set(kv.RecordKey(7), make([]byte, 40), nil) }, false, kv.RecordKey(7), 7, false},
		{"a missing middle record", func(b *pebble.Batch) { b.Delete(kv.RecordKey(7), nil) }, false, kv.RecordKey(8), 7, false},
		{"a damaged last record", func(b *pebble.Batch) { b.Set(kv.RecordKey(20), []byte("junk"), nil) }, true, kv.RecordKey(20), 20, false},
		{"a damaged marker", func(b *pebble.Batch) { b.Set(kv.FirstKey, []byte("junk"), nil) }, true, kv.FirstKey, 0, false},
		{"a lost marker", func(b *pebble.Batch) { b.Delete(kv.FirstKey, nil) }, true, kv.RecordKey(3), 3, true},
		{"a record below the marker", func(b *pebble.Batch) {
			b.Set(kv.RecordKey(2), backend.AppendEnvelope(nil, 2, kvtest.Payload(2)), nil)
		}, true, kv.RecordKey(2), 2, true},
		{"a lost tail after a clean close", func(b *pebble.Batch) { b.Delete(kv.RecordKey(20), nil) }, true, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "wal")
			kvtest.CopyDir(t, pristine, dir)
			if tt.noRecord {
				require.NoError(t, os.Remove(filepath.Join(dir, kv.CloseRecordFile)))
			}
			db := rawDB(t, dir)
			b := db.NewBatch()
			tt.damage(b)
			require.NoError(t, b.Commit(pebble.Sync))
			require.NoError(t, db.Close())

			w, err := openDir(ctx, dir)
			if !tt.atOpen {
				require.NoError(t, err)
				defer w.Close()
				err = w.Replay(ctx, 3, func(uint64, []byte) error { return nil })
			}
			ce := requireCorrupt(t, err)
			require.Equal(t, filepath.Join(dir, walpebble.SubDir), ce.File)
			if tt.key != nil {
				require.Equal(t, kv.KeyString(tt.key), ce.Key)
			}
			require.Equal(t, tt.index, ce.Index)
		})
	}
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

// envHoldLock tells the test binary, re-executed as a child, to hold Pebble's
// lock on a directory until its stdin closes.
const envHoldLock = "NAUTILUS_PEBBLE_HOLD_LOCK"

// TestHoldPebbleLock is the child's body; in a normal run it does nothing.
func TestHoldPebbleLock(t *testing.T) {
	dir := os.Getenv(envHoldLock)
	if dir == "" {
		t.Skip("runs only as the child of TestPebbleLockHeld")
	}
	db := rawDB(t, dir)
	os.Stdout.WriteString("locked\n")
	io.Copy(io.Discard, os.Stdin)
	require.NoError(t, db.Close())
}

// A store whose Pebble lock another process holds (a tool opening Pebble
// directly) is reported as ErrLocked, with the OS error still reachable.
func TestPebbleLockHeld(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir)
	require.NoError(t, w.Close())

	child := exec.Command(os.Args[0], "-test.run=^TestHoldPebbleLock$", "-test.count=1")
	child.Env = append(os.Environ(), envHoldLock+"="+dir)
	stdin, err := child.StdinPipe()
	require.NoError(t, err)
	stdout, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	defer func() {
		stdin.Close()
		require.NoError(t, child.Wait())
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)

	_, err = openDir(context.Background(), dir)
	require.ErrorIs(t, err, backend.ErrLocked)
	var errno syscall.Errno
	require.ErrorAs(t, err, &errno)
}

func TestReplayCallbackPanicPassesThrough(t *testing.T) {
	w := mustOpen(t, t.TempDir())
	defer w.Close()
	kvtest.Fill(t, w, 1, 3)
	defer func() { require.Equal(t, "caller's own", recover()) }()
	_ = w.Replay(context.Background(), 1, func(uint64, []byte) error { panic("caller's own") })
	t.Fatal("the callback's panic was swallowed")
}

// Pebble's OPTIONS file has no checksum; a damaged one is reported as
// corruption naming the file, not as Pebble's "comparer mismatch".
func TestDamagedOptionsFile(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir)
	kvtest.Fill(t, w, 1, 3)
	require.NoError(t, w.Close())
	matches, err := filepath.Glob(filepath.Join(dir, walpebble.SubDir, "OPTIONS-*"))
	require.NoError(t, err)
	require.Len(t, matches, 1)
	data, err := os.ReadFile(matches[0])
	require.NoError(t, err)
	damaged := bytes.Replace(data, []byte("BytewiseComparator"), []byte("BytewiseComparatoR"), 1)
	require.NotEqual(t, data, damaged)
	require.NoError(t, os.WriteFile(matches[0], damaged, 0o644))

	_, err = openDir(context.Background(), dir)
	ce := requireCorrupt(t, err)
	require.Equal(t, matches[0], ce.File)
}

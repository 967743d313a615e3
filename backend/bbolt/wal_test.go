package bbolt

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/internal/kv"
)

func openDriver(t *testing.T, dir string) *wal {
	t.Helper()
	w, err := Open(context.Background(), backend.Config{Backend: Name, Dir: dir})
	require.NoError(t, err)
	return w.(*wal)
}

// The wrapper checks Replay's from against the bounds before calling the
// driver; a TruncateFront may still pass it before the driver's read
// transaction starts. The driver then reports the range error, not a gap.
func TestReplayFromTruncatedMeanwhile(t *testing.T) {
	ctx := context.Background()
	w := openDriver(t, t.TempDir())
	defer w.Close()
	_, err := w.Append(ctx, []byte("a"), []byte("b"), []byte("c"), []byte("d"))
	require.NoError(t, err)
	require.NoError(t, w.TruncateFront(ctx, 3))

	called := false
	err = w.Replay(ctx, 2, func(uint64, []byte) error { called = true; return nil })
	require.ErrorIs(t, err, backend.ErrOutOfRange)
	require.False(t, called)
}

// bbolt can panic on its own error paths with its writer lock held (a failed
// remap leaves its meta pointers unset and the rollback dereferences them).
// After that the driver stops calling bbolt, and Close releases the file
// instead of waiting forever on db.Close.
func TestPanicAbandonsFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w := openDriver(t, dir)
	_, err := w.Append(ctx, []byte("kept"))
	require.NoError(t, err)

	held, err := w.db.Begin(true) // bbolt's writer lock, never released
	require.NoError(t, err)
	_ = held
	err = w.call("append", false, func(*kv.Guard) error { panic("injected") })
	require.True(t, kv.Panicked(err))

	_, err = w.Append(ctx, []byte("refused"))
	require.True(t, kv.Panicked(err), "later calls must report the panic, not call bbolt: %v", err)
	require.True(t, kv.Panicked(w.Replay(ctx, 1, func(uint64, []byte) error { return nil })))

	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	select {
	case err := <-closed:
		require.True(t, kv.Panicked(err))
	case <-time.After(30 * time.Second):
		t.Fatal("Close waited on bbolt's writer lock")
	}

	w = openDriver(t, dir) // bbolt's flock went with the file
	defer w.Close()
	first, last, err := w.Bounds(ctx)
	require.NoError(t, err)
	require.Equal(t, [2]uint64{1, 1}, [2]uint64{first, last})
}

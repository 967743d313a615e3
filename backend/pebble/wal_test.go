package pebble

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
)

// The wrapper checks Replay's from against the bounds before calling the
// driver; a TruncateFront may still pass it before the driver's snapshot is
// taken. The driver then reports the range error, not an index gap.
func TestReplayFromTruncatedMeanwhile(t *testing.T) {
	ctx := context.Background()
	w, err := driver{}.Open(ctx, backend.Config{Backend: Name, Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer w.Close()
	_, err = w.Append(ctx, []byte("a"), []byte("b"), []byte("c"), []byte("d"))
	require.NoError(t, err)
	require.NoError(t, w.TruncateFront(ctx, 3))

	called := false
	err = w.Replay(ctx, 2, func(uint64, []byte) error { called = true; return nil })
	require.ErrorIs(t, err, backend.ErrOutOfRange)
	require.False(t, called)
}

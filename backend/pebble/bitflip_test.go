package pebble_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/internal/kv/kvtest"
)

// quiet discards the errors Pebble logs about the damage the tests make.
var quiet = slog.New(slog.DiscardHandler)

func openDir(ctx context.Context, dir string) (backend.WAL, error) {
	return backend.Open(ctx, backend.Config{Backend: "pebble", Dir: dir, Logger: quiet})
}

// A flipped bit anywhere in Pebble's files is caught by Pebble's block and
// record checksums or by the envelope, or touches nothing the log returns.
func TestBitFlips(t *testing.T) {
	ctx := context.Background()
	pristine := filepath.Join(t.TempDir(), "wal")
	w, err := openDir(ctx, pristine)
	require.NoError(t, err)
	kvtest.Fill(t, w, 1, 300)
	require.NoError(t, w.TruncateFront(ctx, 21))
	require.NoError(t, w.Close())
	w, err = openDir(ctx, pristine)
	require.NoError(t, err)
	kvtest.Fill(t, w, 301, 400)
	require.NoError(t, w.Close())

	flips := kvtest.Flips(t, pristine, 300, 1)
	counts := kvtest.Sweep(t, pristine, flips, 21, 400, openDir)
	t.Logf("%d flips: %d harmless, %d corrupt at open, %d corrupt at replay",
		len(flips), counts[kvtest.Identical], counts[kvtest.CorruptOpen], counts[kvtest.CorruptReplay])
}

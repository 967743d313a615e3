package pebble_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

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
	pristine := filepath.Join(t.TempDir(), "wal")
	kvtest.SweepLog(t, pristine, openDir)

	flips := kvtest.Flips(t, pristine, 300, 1)
	counts := kvtest.Sweep(t, pristine, flips, 21, 400, openDir)
	t.Logf("%d flips: %d harmless, %d corrupt at open, %d corrupt at replay",
		len(flips), counts[kvtest.Identical], counts[kvtest.CorruptOpen], counts[kvtest.CorruptReplay])
}

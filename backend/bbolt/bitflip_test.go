package bbolt_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	walbbolt "github.com/nautilus-go/nautilus/backend/bbolt"
	"github.com/nautilus-go/nautilus/backend/internal/kv/kvtest"
)

func openDir(ctx context.Context, dir string) (backend.WAL, error) {
	return backend.Open(ctx, backend.Config{Backend: "bbolt", Dir: dir})
}

// A flipped bit anywhere in the directory is caught by bbolt's meta page
// checksums, the envelope, the index checks or the close record, or touches
// nothing the log returns. bbolt has no checksum on its data pages, so every
// flip that changes a record must be caught by the envelope.
func TestBitFlips(t *testing.T) {
	pristine := filepath.Join(t.TempDir(), "wal")
	kvtest.SweepLog(t, pristine, openDir)
	info, err := os.Stat(filepath.Join(pristine, walbbolt.FileName))
	require.NoError(t, err)
	t.Logf("%s: %d bytes", walbbolt.FileName, info.Size())

	flips := kvtest.WrittenFlips(t, pristine, 300, 1)
	counts := kvtest.Sweep(t, pristine, flips, 21, 400, openDir)
	t.Logf("%d flips: %d harmless, %d corrupt at open, %d corrupt at replay",
		len(flips), counts[kvtest.Identical], counts[kvtest.CorruptOpen], counts[kvtest.CorruptReplay])
}

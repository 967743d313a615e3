package pebble_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/internal/kv/kvtest"
	walpebble "github.com/nautilus-go/nautilus/backend/pebble"
)

// Once a store has been created, its directory holding no store (emptied,
// or holding files Pebble did not write) is refused, naming it, and never
// initialised over as an empty log.
func TestCreatedStoreThatVanishedIsRefused(t *testing.T) {
	for name, files := range map[string]map[string][]byte{
		"empty":            {},
		"foreign manifest": {"MANIFEST-000001": []byte("not pebble's")},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			w := mustOpen(t, dir)
			kvtest.Fill(t, w, 1, 3)
			require.NoError(t, w.Close())
			sub := filepath.Join(dir, walpebble.SubDir)
			require.NoError(t, os.RemoveAll(sub))
			require.NoError(t, os.Mkdir(sub, 0o755))
			for f, data := range files {
				require.NoError(t, os.WriteFile(filepath.Join(sub, f), data, 0o644))
			}
			before := kvtest.Snapshot(t, dir)

			_, err := openDir(context.Background(), dir)
			require.Error(t, err)
			require.True(t, errors.Is(err, backend.ErrForeignFile) || errors.Is(err, backend.ErrCorrupt), "%v", err)
			require.Contains(t, err.Error(), sub)
			require.Equal(t, before, kvtest.Snapshot(t, dir), "nothing changed")
		})
	}
}

// A first Open that a crash interrupted leaves a store directory but no
// created marker; nothing was acknowledged, so the next Open starts over and
// the log works.
func TestInterruptedCreateIsStartedOver(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, walpebble.SubDir)
	require.NoError(t, os.Mkdir(sub, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(sub, "MANIFEST-000001"), []byte("half written"), 0o644))

	w := mustOpen(t, dir)
	kvtest.Fill(t, w, 1, 3)
	require.NoError(t, w.Close())
	require.FileExists(t, filepath.Join(dir, walpebble.CreatedFile))

	w = mustOpen(t, dir)
	defer w.Close()
	first, last, err := w.Bounds(context.Background())
	require.NoError(t, err)
	require.Equal(t, []uint64{1, 3}, []uint64{first, last})
}

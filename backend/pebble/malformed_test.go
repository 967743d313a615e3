package pebble_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend/internal/kv/kvtest"
	walpebble "github.com/nautilus-go/nautilus/backend/pebble"
)

// A MANIFEST that Pebble did not write (random bytes, zeros, empty) in place
// of a store's fails Open with a *backend.CorruptError naming it, and nothing
// in the directory changes: Pebble must not start a new, empty store over a
// log it cannot read.
func TestMalformedManifest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(r.UintN(256))
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"random bytes", random},
		{"zeros", make([]byte, 4096)},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := mustOpen(t, dir)
			kvtest.Fill(t, w, 1, 10)
			require.NoError(t, w.Close())
			manifests, err := filepath.Glob(filepath.Join(dir, walpebble.SubDir, "MANIFEST-*"))
			require.NoError(t, err)
			require.Len(t, manifests, 1)
			require.NoError(t, os.WriteFile(manifests[0], tc.data, 0o644))
			before := kvtest.Snapshot(t, dir)

			_, err = openDir(context.Background(), dir)
			requireCorrupt(t, err)
			require.Contains(t, err.Error(), filepath.Base(manifests[0]))
			require.Equal(t, before, kvtest.Snapshot(t, dir), "nothing changed")
		})
	}
}

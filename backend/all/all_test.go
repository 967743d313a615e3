package all_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/all"
)

// Every built-in backend is registered, and each opens, appends and reopens
// by name alone.
func TestEveryBuiltinRegistered(t *testing.T) {
	builtin := []string{"bbolt", "jsonl", "memory", "pebble", "tidwall"}
	require.Subset(t, backend.Drivers(), builtin)
	ctx := context.Background()
	for _, name := range builtin {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := backend.Open(ctx, backend.Config{Backend: name, Dir: dir})
			require.NoError(t, err)
			last, err := w.Append(ctx, []byte("record"))
			require.NoError(t, err)
			require.Equal(t, uint64(1), last)
			require.NoError(t, w.Close())

			w, err = backend.Open(ctx, backend.Config{Backend: name, Dir: dir})
			require.NoError(t, err)
			defer w.Close()
			first, last, err := w.Bounds(ctx)
			require.NoError(t, err)
			require.Equal(t, [2]uint64{1, 1}, [2]uint64{first, last})
		})
	}
}

package all_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/internal/kv/kvtest"
)

// A WAL directory opened with the wrong backend (a jsonl log opened as
// pebble, say) fails Open, naming a file, and changes nothing: opening it as
// an empty log would leave the broker nothing to replay. The memory backend
// is left out as a target: it keeps no files and never looks at the
// directory, and as a source: it leaves nothing in it.
func TestWrongBackendRefusesAnotherBackendsLog(t *testing.T) {
	ctx := context.Background()
	durable := []string{"bbolt", "jetstream", "jsonl", "pebble", "tidwall"}
	for _, writer := range durable {
		for _, reader := range durable {
			if reader == writer {
				continue
			}
			t.Run(writer+"_opened_as_"+reader, func(t *testing.T) {
				dir := t.TempDir()
				w, err := backend.Open(ctx, backend.Config{Backend: writer, Dir: dir})
				require.NoError(t, err)
				_, err = w.Append(ctx, []byte("a"), []byte("b"), []byte("c"))
				require.NoError(t, err)
				require.NoError(t, w.Close())
				before := kvtest.Snapshot(t, dir)

				w, err = backend.Open(ctx, backend.Config{Backend: reader, Dir: dir})
				if err == nil {
					first, last, _ := w.Bounds(ctx)
					w.Close()
					t.Fatalf("%s opened a %s log with bounds (%d, %d)", reader, writer, first, last)
				}
				require.True(t, errors.Is(err, backend.ErrForeignFile) || errors.Is(err, backend.ErrCorrupt), "%v", err)
				require.Equal(t, before, kvtest.Snapshot(t, dir), "nothing changed")

				w, err = backend.Open(ctx, backend.Config{Backend: writer, Dir: dir})
				require.NoError(t, err, "the log still opens with its own backend")
				defer w.Close()
				first, last, err := w.Bounds(ctx)
				require.NoError(t, err)
				require.Equal(t, [2]uint64{1, 3}, [2]uint64{first, last})
			})
		}
	}
}

package memory_test

import (
	"context"
	"slices"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/memory"
	"github.com/nautilus-go/nautilus/conformance"
	"github.com/stretchr/testify/require"
)

func TestConformance(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			conformance.RunWithEncryption(t, func(enc *backend.Encryption) conformance.Harness {
				return conformance.Harness{
					Open: func(ctx context.Context, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Encryption: enc, Backend: "memory", Dir: dir, Sync: mode})
					},
					Caps: conformance.Capabilities{NotPersistent: true},
				}
			})
		})
	}
}

func TestRegistered(t *testing.T) {
	require.True(t, slices.Contains(backend.Drivers(), "memory"), "drivers: %v", backend.Drivers())
}

func TestOpenRejectsParams(t *testing.T) {
	cfg := backend.Config{Backend: "memory", Dir: t.TempDir(), Params: map[string]string{"segment_bytes": "1MiB"}}
	_, err := memory.Open(t.Context(), cfg)
	require.ErrorContains(t, err, "segment_bytes")
	_, err = backend.Open(t.Context(), cfg)
	require.ErrorContains(t, err, "segment_bytes")
}

// TestDirsAreSeparate checks that logs are keyed by directory: what one holds
// never shows in another, and each keeps its own indexes.
func TestDirsAreSeparate(t *testing.T) {
	ctx := t.Context()
	a, err := backend.Open(ctx, backend.Config{Backend: "memory", Dir: t.TempDir()})
	require.NoError(t, err)
	defer a.Close()
	b, err := backend.Open(ctx, backend.Config{Backend: "memory", Dir: t.TempDir()})
	require.NoError(t, err)
	defer b.Close()

	last, err := a.Append(ctx, []byte("a1"), []byte("a2"))
	require.NoError(t, err)
	require.EqualValues(t, 2, last)
	last, err = b.Append(ctx, []byte("b1"))
	require.NoError(t, err)
	require.EqualValues(t, 1, last)

	var got []string
	require.NoError(t, b.Replay(ctx, 1, func(_ uint64, data []byte) error {
		got = append(got, string(data))
		return nil
	}))
	require.Equal(t, []string{"b1"}, got)
}

package pebble

import (
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	pebblevfs "github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
)

// The params reach Pebble, and the documented choices are the ones made.
func TestPebbleOptions(t *testing.T) {
	s, err := parseParams(backend.Config{Backend: Name, Params: map[string]string{
		ParamMemTableSize: "16MiB", ParamBytesPerSync: "256KiB", ParamWALBytesPerSync: "1MiB",
	}})
	require.NoError(t, err)
	opts := pebbleOptions(s, pebblevfs.NewMem(), logger{}, nil)
	require.Equal(t, uint64(16<<20), opts.MemTableSize)
	require.Equal(t, 256<<10, opts.BytesPerSync)
	require.Equal(t, 1<<20, opts.WALBytesPerSync)
	require.Equal(t, 64, opts.L0StopWritesThreshold)
	require.Equal(t, 4, opts.MemTableStopWritesThreshold)
	for i, level := range opts.Levels {
		require.Equal(t, pebble.NoFilterPolicy, level.FilterPolicy, "level %d: reads are range scans, a bloom filter only costs", i)
		require.Equal(t, sstable.NoCompression, level.Compression(), "level %d", i)
	}
	require.False(t, opts.DisableWAL)
	require.False(t, opts.NoSyncOnClose)
	require.NoError(t, opts.Validate())

	s, err = parseParams(backend.Config{Backend: Name})
	require.NoError(t, err)
	require.Equal(t, settings{memTableSize: defaultMemTableSize, bytesPerSync: defaultBytesPerSync}, s)
}

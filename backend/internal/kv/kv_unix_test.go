//go:build unix

package kv

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// A read of unmapped memory, as a damaged memory-mapped file can cause,
// kills the process unless Run turned on panic-on-fault.
func TestRunTurnsMemoryFaultsIntoErrors(t *testing.T) {
	page := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, page, syscall.PROT_READ, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	require.NoError(t, err)
	require.NoError(t, syscall.Munmap(mem))
	var sink byte
	err = store.Run("replay", true, func(*Guard) error {
		sink = mem[page/2]
		return nil
	})
	requireCorrupt(t, err, nil)
	require.Zero(t, sink)
}

//go:build unix

package conformance

import (
	"syscall"
	"testing"
)

// setUmask sets the process umask to mask until t ends. The umask is the
// process's, so the cases calling it never run in parallel with others.
func setUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

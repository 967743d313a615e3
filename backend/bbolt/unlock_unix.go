//go:build unix

package bbolt

import (
	"os"
	"syscall"
)

// unlock releases bbolt's flock on f. Closing f alone would not: bbolt's
// memory map holds the open file, and the lock with it, until it is unmapped.
func unlock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

package vfs

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

// Allocate allocates the file's first size bytes with fallocate(2) (mode 0,
// which extends the size). File systems without it (FUSE, tmpfs on old
// kernels) give EOPNOTSUPP, reported as errors.ErrUnsupported.
func (f osFile) Allocate(size int64) error {
	for {
		err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EOPNOTSUPP || err == syscall.ENOSYS:
			return fmt.Errorf("fallocate %s: %w (%w)", f.Name(), errors.ErrUnsupported, err)
		case err != nil:
			return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
		}
		return nil
	}
}

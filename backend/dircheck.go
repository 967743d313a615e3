package backend

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"

	"github.com/nautilus-go/nautilus/backend/vfs"
)

// ErrForeignFile is wrapped by the *fs.PathError CheckDir returns for an entry
// the backend did not write. Test for it with errors.Is; the PathError's Path
// names the entry.
var ErrForeignFile = errors.New("not written by this backend (is the directory shared, or another backend's log?)")

// CheckDir returns an *fs.PathError naming the first entry of dir, in name
// order, that owned does not claim; LockFileName is always allowed, and so
// is a copy of an owned entry kept by RepairTail, KeepCopy or MoveAside
// (RepairCopyOf), since only the framework writes those. A missing dir
// holds nothing foreign. Drivers call it at the start of Open,
// before they create anything: a directory holding another backend's log
// would otherwise open as an empty log, and the broker would find nothing to
// replay. owned sees base names; a subdirectory is an entry like a file.
func CheckDir(fsys vfs.FS, dir string, owned func(name string) bool) error {
	names, err := fsys.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backend: read directory %s: %w", dir, err)
	}
	for _, name := range names {
		if name == LockFileName || owned(name) {
			continue
		}
		if orig, ok := RepairCopyOf(name); ok && owned(orig) {
			continue
		}
		return &iofs.PathError{Op: "backend: unexpected file", Path: filepath.Join(dir, name), Err: ErrForeignFile}
	}
	return nil
}

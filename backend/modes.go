package backend

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nautilus-go/nautilus/backend/vfs"
)

// checkModes refuses a Config whose FileMode or DirMode would narrow the
// owner's access (they only widen), and warns through cfg.Logger when
// cfg.Dir already exists with group or other bits cfg.DirMode does not
// grant and others can reach it: the log holds whatever its records say,
// and Open never changes the mode of a directory it did not create.
func checkModes(cfg Config) error {
	file, dir := cfg.Modes()
	if file&^os.ModePerm != 0 || file&vfs.FileMode != vfs.FileMode {
		return fmt.Errorf("backend %s: Config.FileMode %#o: want permission bits including 0600", cfg.Backend, uint32(file))
	}
	if dir&^os.ModePerm != 0 || dir&vfs.DirMode != vfs.DirMode {
		return fmt.Errorf("backend %s: Config.DirMode %#o: want permission bits including 0700", cfg.Backend, uint32(dir))
	}
	fi, err := cfg.FileSystem().Stat(cfg.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backend %s: stat %s: %w", cfg.Backend, cfg.Dir, err)
	}
	if extra := fi.Mode().Perm() & 0o077 &^ dir; extra != 0 && reachable(cfg.FileSystem(), cfg.Dir) {
		cfg.Log().Warn("wal: directory open to group or others: it holds every record; chmod 700 it, or set Config.DirMode to allow this",
			"dir", cfg.Dir, "mode", fmt.Sprintf("%#o", uint32(fi.Mode().Perm())))
	}
	return nil
}

// reachable reports whether group or others may search every ancestor of
// dir: behind a private ancestor (a home directory of mode 0700, a test's
// temporary directory) an open directory exposes nothing. An ancestor that
// cannot be examined counts as searchable.
func reachable(fs vfs.FS, dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return true
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		if fi, err := fs.Stat(d); err == nil && fi.Mode().Perm()&0o011 == 0 {
			return false
		}
		if filepath.Dir(d) == d {
			return true
		}
	}
}

package backend

import (
	"errors"
	"fmt"
	"os"

	"github.com/nautilus-go/nautilus/backend/vfs"
)

// checkModes refuses a Config whose FileMode or DirMode would narrow the
// owner's access (they only widen), and warns through cfg.Logger when
// cfg.Dir already exists with group or other bits cfg.DirMode does not
// grant: the log holds whatever its records say, and Open never changes
// the mode of a directory it did not create.
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
	if extra := fi.Mode().Perm() & 0o077 &^ dir; extra != 0 {
		cfg.Log().Warn("wal: directory open to group or others: it holds every record; chmod 700 it, or set Config.DirMode to allow this",
			"dir", cfg.Dir, "mode", fmt.Sprintf("%#o", uint32(fi.Mode().Perm())))
	}
	return nil
}

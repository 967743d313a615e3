package pebble

import (
	"fmt"
	"io"
	"os"

	pebblevfs "github.com/cockroachdb/pebble/v2/vfs"
	"github.com/nautilus-go/nautilus/backend"
)

// modeFS is Pebble's file system on disk with the modes of backend.Config.
// Pebble creates its files 0666 and its lock with os.Create, leaving
// privacy to the umask; modeFS sets each file's mode as soon as it is
// created or opened for writing, before Pebble writes a byte, and creates
// directories with the directory mode, leaving the process umask alone.
type modeFS struct {
	pebblevfs.FS
	file, dir os.FileMode
}

// diskFS returns Pebble's file system on disk creating files and
// directories with cfg.Modes().
func diskFS(cfg backend.Config) pebblevfs.FS {
	file, dir := cfg.Modes()
	return modeFS{FS: pebblevfs.Default, file: file, dir: dir}
}

func (fs modeFS) Create(name string, c pebblevfs.DiskWriteCategory) (pebblevfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.chmod(name, f, err)
}

func (fs modeFS) OpenReadWrite(name string, c pebblevfs.DiskWriteCategory, opts ...pebblevfs.OpenOption) (pebblevfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, c, opts...)
	return fs.chmod(name, f, err)
}

func (fs modeFS) ReuseForWrite(oldname, newname string, c pebblevfs.DiskWriteCategory) (pebblevfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return fs.chmod(newname, f, err)
}

func (fs modeFS) MkdirAll(dir string, _ os.FileMode) error { return fs.FS.MkdirAll(dir, fs.dir) }

func (fs modeFS) Lock(name string) (io.Closer, error) {
	l, err := fs.FS.Lock(name)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(name, fs.file); err != nil {
		l.Close()
		return nil, fmt.Errorf("pebble: chmod %s: %w", name, err)
	}
	return l, nil
}

// Unwrap returns the file system modeFS wraps.
func (fs modeFS) Unwrap() pebblevfs.FS { return fs.FS }

// chmod sets the mode of the file name, just opened as f; chmod is exact,
// unlike a mode given at creation, which the umask narrows.
func (fs modeFS) chmod(name string, f pebblevfs.File, err error) (pebblevfs.File, error) {
	if err != nil {
		return f, err
	}
	if err := os.Chmod(name, fs.file); err != nil {
		f.Close()
		return nil, fmt.Errorf("pebble: chmod %s: %w", name, err)
	}
	return f, nil
}

// Package vfs is the file layer under the framework's own I/O: the directory
// lock, marker files and FS-aware backends such as jsonl. Production code uses
// Default, the operating system; tests swap in a layer that injects faults or
// keeps only what was fsync'd, to simulate power loss.
package vfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// File is an open file. It is the subset of *os.File the framework uses.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Seeker
	io.Closer
	Name() string
	Stat() (os.FileInfo, error)
	// Sync makes the file's contents durable (fdatasync where available).
	Sync() error
	Truncate(size int64) error
}

// FS is a file system. Names are paths as the os package takes them.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	Rename(oldname, newname string) error
	MkdirAll(name string, perm os.FileMode) error
	Stat(name string) (os.FileInfo, error)
	// ReadDir returns the names in directory name, sorted.
	ReadDir(name string) ([]string, error)
	// SyncDir makes the directory's entries (creations, renames, removals) durable.
	SyncDir(name string) error
	// Lock takes an exclusive, non-blocking lock on the file name, creating it.
	// A held lock is reported as an error wrapping ErrWouldBlock.
	Lock(name string) (io.Closer, error)
}

// ErrWouldBlock is wrapped by Lock when another holder has the lock.
var ErrWouldBlock = syscall.EWOULDBLOCK

// Default is the operating system's file system.
var Default FS = osFS{}

// Create creates or truncates name for writing.
func Create(fs FS, name string) (File, error) {
	return fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, FileMode)
}

// Open opens name read-only.
func Open(fs FS, name string) (File, error) {
	return fs.OpenFile(name, os.O_RDONLY, 0)
}

// ReadFile reads the whole of name.
func ReadFile(fs FS, name string) ([]byte, error) {
	f, err := Open(fs, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// WriteFileAtomic replaces name with data so that a crash leaves either the old
// or the new contents: write a temporary file, fsync it, rename it over name,
// fsync the directory.
func WriteFileAtomic(fs FS, name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := Create(fs, tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, name); err != nil {
		return err
	}
	return fs.SyncDir(filepath.Dir(name))
}

// MkdirAllSynced creates dir and any missing parents, then fsyncs every
// ancestor directory up to the root, so dir's path survives a power loss.
// Existing directories are synced too: a process killed after creating them
// may never have made their entries durable. It runs once per Open, and
// fsyncing a directory with nothing dirty is cheap.
func MkdirAllSynced(fs FS, dir string) error {
	dir = filepath.Clean(dir)
	if err := fs.MkdirAll(dir, DirMode); err != nil {
		return err
	}
	for d := dir; ; {
		parent := filepath.Dir(d)
		if parent == d {
			return nil
		}
		if err := fs.SyncDir(parent); err != nil {
			return err
		}
		d = parent
	}
}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(name string, perm os.FileMode) error { return os.MkdirAll(name, perm) }
func (osFS) Stat(name string) (os.FileInfo, error)        { return os.Stat(name) }

func (osFS) ReadDir(name string) ([]string, error) {
	entries, err := os.ReadDir(name)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (osFS) Lock(name string) (io.Closer, error) { return lockFile(name) }

// osFile uses fdatasync for Sync: a WAL needs the data and the size, not the
// modification time, and fdatasync covers both.
type osFile struct{ *os.File }

func (f osFile) Sync() error { return fdatasync(f.File) }

// Allocator is implemented by files that can allocate space on the device
// without writing it (fallocate): the operating system's files on Linux.
type Allocator interface {
	// Allocate allocates the file's first size bytes, zero-filled where
	// nothing was written, extending its size to at least size. An error
	// wrapping errors.ErrUnsupported means the file system cannot.
	Allocate(size int64) error
}

// Preallocate extends f to size bytes of zeros, unless it is larger already:
// with Allocate where the file and its file system support it, so later
// writes within size change no allocation or size and an fdatasync has no
// metadata to write; otherwise by extending its size (Truncate), which reads
// the same. The caller fsyncs f to make the new size durable.
func Preallocate(f File, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() >= size {
		return nil
	}
	if a, ok := f.(Allocator); ok {
		err := a.Allocate(size)
		if !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
	}
	return f.Truncate(size)
}

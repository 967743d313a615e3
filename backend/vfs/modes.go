package vfs

import (
	"fmt"
	"os"
)

// FileMode and DirMode are the permission bits of every file and directory
// the framework creates: private to the owner, since a log holds whatever
// its records say. backend.Config can widen them (WithModes). The process
// umask can only narrow them further.
const (
	FileMode os.FileMode = 0o600
	DirMode  os.FileMode = 0o700
)

// WithModes returns fs creating files with mode file and directories with
// mode dir, whatever perm its callers pass: it is how a widened
// backend.Config reaches every file the framework and an FS-aware driver
// create. Lock files keep FileMode: only the owner takes the lock.
func WithModes(fs FS, file, dir os.FileMode) FS {
	return modeFS{FS: fs, file: file, dir: dir}
}

type modeFS struct {
	FS
	file, dir os.FileMode
}

func (fs modeFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if flag&os.O_CREATE != 0 {
		perm = fs.file
	}
	return fs.FS.OpenFile(name, flag, perm)
}

func (fs modeFS) MkdirAll(name string, perm os.FileMode) error {
	return fs.FS.MkdirAll(name, fs.dir)
}

// NotPrivateError is ReadPrivateFile's refusal of a file that group or
// others may access: a secret in it is no longer the owner's alone.
type NotPrivateError struct {
	Path string
	Mode os.FileMode
}

func (e *NotPrivateError) Error() string {
	return fmt.Sprintf("%s has mode %04o: group or others may access it", e.Path, e.Mode)
}

// ReadPrivateFile reads a file holding a secret (a key, an API key's secret)
// after checking that only its owner may access it; otherwise it returns a
// *NotPrivateError and reads nothing.
func ReadPrivateFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, &NotPrivateError{Path: path, Mode: perm}
	}
	return os.ReadFile(path)
}

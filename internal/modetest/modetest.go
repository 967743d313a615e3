//go:build unix

// Package modetest checks the permission bits of what a test leaves on disk,
// under the umask that would otherwise let a file be created 0644.
package modetest

import (
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Umask022 sets the process's umask to 022 until t ends, so a file created
// without an explicit private mode would come out readable by everyone. The
// umask is the process's: tests that call it must not run in parallel.
func Umask022(t testing.TB) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
}

// Octal formats m's permission bits as "0600", as failures show them.
func Octal(m os.FileMode) string { return fmt.Sprintf("%#o", uint32(m.Perm())) }

// Modes returns the permission bits, in Octal, of root and of everything
// below it, by path, and what want says each should be.
func Modes(t testing.TB, root string, want func(path string, d iofs.DirEntry) os.FileMode) (got, wanted map[string]string) {
	t.Helper()
	got, wanted = map[string]string{}, map[string]string{}
	err := filepath.WalkDir(root, func(path string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		got[path] = Octal(fi.Mode())
		wanted[path] = Octal(want(path, d))
		return nil
	})
	if err != nil {
		t.Fatalf("modetest: walk %s: %v", root, err)
	}
	return got, wanted
}

// Private is the want of Modes for a tree that is private to its owner:
// 0700 directories, 0600 files.
func Private(_ string, d iofs.DirEntry) os.FileMode {
	if d.IsDir() {
		return 0o700
	}
	return 0o600
}

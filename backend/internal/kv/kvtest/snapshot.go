package kvtest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
)

// Snapshot returns every entry under dir but the WAL's lock file, which the
// shared layer creates before a driver runs, by path relative to dir: a
// file's bytes, or "dir" for a directory. Two snapshots are equal when
// nothing was created, removed or changed between them.
func Snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	entries := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		switch {
		case err != nil:
			return err
		case rel == backend.LockFileName:
		case d.IsDir():
			entries[rel] = "dir"
		default:
			data, err := os.ReadFile(path)
			entries[rel] = string(data)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("kvtest: snapshot %s: %v", dir, err)
	}
	return entries
}

package conformance

import (
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
)

func init() {
	addCases(orderModes,
		testCase{
			name: "private_files",
			rule: "Every file and directory the backend leaves, its directory and the missing parents Open created included, has no permission bit beyond Config.FileMode and Config.DirMode: 0600 and 0700 unless widened, whatever the umask.",
			skip: func(c Capabilities) string {
				if c.NotPersistent {
					return "Caps.NotPersistent: the backend keeps no files, so none has a mode to check"
				}
				return ""
			},
			run: testPrivateFiles,
		},
	)
}

// testPrivateFiles runs a workload spanning several files, reopen and
// truncation under umask 022, the usual one, which leaves a file created
// 0644 readable by everyone; then it walks what the backend left.
func testPrivateFiles(t *testing.T, h Harness) {
	setUmask(t, 0o022)
	top := filepath.Join(t.TempDir(), "private")
	dir := filepath.Join(top, "wal") // Open creates both
	open := h.openSmall()
	w, err := open(t.Context(), dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { w.Close() })
	for i := uint64(1); i <= 40; i++ {
		appendWant(t, w, i, payload(i))
	}
	truncate(t, w, 21)
	if err := w.Sync(t.Context()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	closeWAL(t, w)
	if w, err = open(t.Context(), dir); err != nil {
		t.Fatalf("reopen %s: %v", dir, err)
	}
	appendWant(t, w, 41, payload(41))
	closeWAL(t, w)
	file, dirMode := h.modes()
	for _, bad := range exposedModes(t, top, file, dirMode) {
		t.Error(bad)
	}
}

// modes returns the permission bits h's Open gives files and directories,
// with backend.Config's defaults for zero.
func (h Harness) modes() (file, dir os.FileMode) {
	return backend.Config{FileMode: h.FileMode, DirMode: h.DirMode}.Modes()
}

// exposedModes walks root and describes every entry with a permission bit
// beyond file (for files) or dir (for directories).
func exposedModes(t *testing.T, root string, file, dir os.FileMode) []string {
	t.Helper()
	var bad []string
	err := filepath.WalkDir(root, func(path string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		allowed, kind := file, "file"
		if fi.IsDir() {
			allowed, kind = dir, "directory"
		}
		if extra := fi.Mode().Perm() &^ allowed; extra != 0 {
			bad = append(bad, fmt.Sprintf("%s %s has mode %#o: bits %#o beyond %#o", kind, path, uint32(fi.Mode().Perm()), uint32(extra), uint32(allowed)))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return bad
}

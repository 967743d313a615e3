//go:build unix

package conformance

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/memory"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// widening is a backend keeping the memory backend's log and one file of
// its own, created through cfg.FileSystem(), opened with Config.FileMode
// 0640 and DirMode 0750.
func widening() Harness {
	d := backend.DriverFunc(func(ctx context.Context, cfg backend.Config) (backend.WAL, error) {
		if err := vfs.WriteFileAtomic(cfg.FileSystem(), filepath.Join(cfg.Dir, "data"), []byte("x")); err != nil {
			return nil, err
		}
		return memory.Open(ctx, cfg)
	})
	return Harness{
		Open: func(ctx context.Context, dir string) (backend.WAL, error) {
			return backend.OpenDriver(ctx, d, backend.Config{Backend: "widening", Dir: dir, FileMode: 0o640, DirMode: 0o750})
		},
		FileMode: 0o640,
		DirMode:  0o750,
	}
}

// private_files allows the modes a harness declares it widens to, and
// only those.
func TestPrivateFilesAllowsWhatTheHarnessWidens(t *testing.T) {
	h := widening()
	testPrivateFiles(t, h)

	// The same files break the defaults: the case above was not vacuous.
	top := filepath.Join(t.TempDir(), "top")
	w, err := h.Open(t.Context(), filepath.Join(top, "wal"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	bad := exposedModes(t, top, vfs.FileMode, vfs.DirMode)
	if len(bad) != 3 { // top, wal and data; wal.lock stays 0600
		t.Fatalf("with the default modes, want top, wal and data reported, got %q", bad)
	}
}

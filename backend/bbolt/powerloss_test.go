package bbolt_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/conformance"
)

// TestCrash runs the crash and fault cases bbolt can run: ENOSPC on a real
// tmpfs. bbolt reads its file through mmap, so the FUSE power-loss cases,
// served from this process, skip (see conformance.CrashHarness.MapsFiles);
// the in-memory ones skip since the library does its own I/O.
func TestCrash(t *testing.T) {
	conformance.RunCrash(t, conformance.CrashHarness{
		Harness: conformance.Harness{
			Open: func(ctx context.Context, dir string) (backend.WAL, error) {
				return backend.Open(ctx, backend.Config{Backend: "bbolt", Dir: dir})
			},
		},
		MapsFiles: true,
	})
}

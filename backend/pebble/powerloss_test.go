package pebble_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/conformance"
)

// TestCrash runs the power-loss and fault cases over FUSE: Pebble reads its
// files with pread, not mmap, so the FUSE server can run in this process.
// Pebble does its own I/O, so the in-memory crash cases skip.
func TestCrash(t *testing.T) {
	conformance.RunCrash(t, conformance.CrashHarness{
		Harness: conformance.Harness{
			Open: func(ctx context.Context, dir string) (backend.WAL, error) {
				return backend.Open(ctx, backend.Config{Backend: "pebble", Dir: dir})
			},
		},
		Skip: map[string]string{
			"crash_during_recovery": "pebble.Open never returns when the disk fails while it flushes the replayed WAL: it retries the flush without end (\"background error: creating object N.sst: input/output error\")",
		},
	})
}
